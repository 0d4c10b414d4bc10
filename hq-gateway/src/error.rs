//! Every error leaves as the seed's §7.1 body (`error`, `message`, `timestamp`, plus per-field
//! `errors` on a 422), with the right status; internals are logged, never sent, unless debug is
//! on.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kasir_schema::wire::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub fields: Option<BTreeMap<String, Vec<String>>>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
    /// What went wrong inside (logged; sent only in debug mode).
    pub internal: Option<String>,
    /// A unique-key race, deadlock or busy database: running the transaction again resolves it.
    pub retryable: bool,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            fields: None,
            retry_after: None,
            internal: None,
            retryable: false,
        }
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("{} not found", what.into()))
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
    /// A 422 about one field.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        let mut fields = BTreeMap::new();
        fields.insert(field.to_string(), vec![message.clone()]);
        ApiError {
            fields: Some(fields),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The given data was invalid: {field}: {message}"),
            )
        }
    }
    /// A body names a row that is not there (`category_id` of no category): 409, with the
    /// field named as in a 422. The body is valid; the data it points at is missing (a 404
    /// would say the route's own resource is gone).
    pub fn missing(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::conflict_on(field, message)
    }
    /// A valid change the current data forbids (a category made its own ancestor): 409, with
    /// the field named.
    pub fn conflict_on(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: StatusCode::CONFLICT,
            message: format!("{field}: {message}"),
            ..ApiError::field(field, message)
        }
    }
    /// A 422 whose field the caller fills in later (value checks deep in a record).
    pub fn invalid_value(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    pub fn too_many(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
        }
    }
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        ApiError {
            internal: Some(what.to_string()),
            ..ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
    pub fn unavailable(what: impl std::fmt::Display) -> ApiError {
        ApiError {
            internal: Some(what.to_string()),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable; try again shortly",
            )
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        if crate::db::is_retryable(&e) {
            return ApiError {
                retryable: true,
                ..ApiError::internal(e)
            };
        }
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::unavailable(e)
            }
            other => ApiError::internal(other),
        }
    }
}

/// Whether error bodies carry internals (`trace`): the `debug` setting, read once at start.
static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub fn set_debug(on: bool) {
    let _ = DEBUG.set(on);
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(internal) = &self.internal {
            tracing::error!(target: "kasir::api", status = self.status.as_u16(), error = %internal, "request failed");
        }
        let mut body = ErrorBody::new(self.message, chrono::Utc::now());
        body.errors = self.fields;
        if DEBUG.get().copied().unwrap_or(false) {
            body.trace = self.internal;
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<crate::db::ValueError> for ApiError {
    fn from(e: crate::db::ValueError) -> Self {
        ApiError::invalid_value(e.message)
    }
}

/// Runs a transaction body again (up to 20 times, with a short growing pause) while it fails
/// with a unique-key race, a deadlock or a busy database.
pub async fn retry<T, F, Fut>(mut f: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut attempt: u32 = 0;
    loop {
        match f().await {
            Err(e) if e.retryable && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 5)).await;
            }
            other => return other,
        }
    }
}
