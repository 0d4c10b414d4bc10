//! Request extractors that answer bad input with the §7.1 body: JSON bodies (415 without a
//! JSON content type, 413 over the size limit, 400 for broken JSON, 422 with the offending
//! field for wrong types, missing or unknown fields), query strings and path ids.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body, checked field by field.
#[derive(Debug)]
pub struct Json<T>(pub T);

fn field_error(path: String, inner: &str) -> ApiError {
    let base = if path.is_empty() || path == "." {
        String::new()
    } else {
        path
    };
    // A missing field is reported at its parent: name the field itself.
    let named = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (named, base.is_empty()) {
        (Some(n), true) => n.to_string(),
        (Some(n), false) => format!("{base}.{n}"),
        (None, true) => "body".to_string(),
        (None, false) => base,
    };
    // serde's messages end with " at line L column C" for JSON; the field says where.
    let message = inner.split(" at line ").next().unwrap_or(inner).to_string();
    ApiError::field(&field, message)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body not parsed yet (content type and size checked): for a handler that must decide
/// who may send it before it looks inside (`parse_json` then).
#[derive(Debug)]
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct.trim().to_ascii_lowercase();
                ct == "application/json" || ct.starts_with("application/json;")
            });
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected a JSON body (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The request body is too large",
                )
            } else {
                ApiError::bad_request(format!("Could not read the request body: {e}"))
            }
        })?;
        Ok(JsonBytes(bytes))
    }
}

/// Parses a JSON object into `T`, reporting the path of the first bad field. (serde would
/// also fill a struct from an array, field by field in order; a body must be an object.)
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(ApiError::bad_request("The request body is empty")),
        Some(_) => return Err(ApiError::field("body", "must be a JSON object")),
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(ApiError::bad_request(format!("Malformed JSON: {inner}")))
            } else {
                Err(field_error(path, &inner.to_string()))
            }
        }
    }
}

/// A query string, checked like a body (unknown parameters rejected when `T` says so).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                field_error(path, &e.into_inner().to_string())
            })
    }
}

/// A text field, trimmed, of 1 to `max` characters.
pub fn text(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(t.to_string())
}

/// A numeric id from the path; anything else is a 404 (no such resource), never a 500.
pub fn parse_id(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && i64::try_from(*n).is_ok())
        .ok_or_else(|| ApiError::not_found(format!("{what} {raw:?}")))
}

/// The client's address, when the server was started with connect info (tests that call the
/// router directly have none).
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}
