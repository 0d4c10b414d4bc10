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
        let bytes = JsonBytes::<T>::from_request(req, state).await?;
        bytes.parse().map(Json)
    }
}

/// A JSON body of type `T` not parsed yet (content type and size checked): for a handler that
/// must decide who may send it before it looks inside ([`JsonBytes::parse`] then). `T` is
/// what the OpenAPI document says the body is.
#[derive(Debug)]
pub struct JsonBytes<T>(pub Bytes, std::marker::PhantomData<fn() -> T>);

impl<T: DeserializeOwned> JsonBytes<T> {
    /// The body, checked field by field.
    pub fn parse(&self) -> Result<T, ApiError> {
        parse_json(&self.0)
    }
}

/// An optional JSON body of type `T` (`None` when empty), whatever the content type says.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        parse_json(&body).map(|v| OptionalJson(Some(v)))
    }
}

impl<S: Send + Sync, T> FromRequest<S> for JsonBytes<T> {
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
        Ok(JsonBytes(bytes, std::marker::PhantomData))
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
            } else if inner
                .to_string()
                .starts_with("invalid type: floating point")
            {
                // `12.0` is the integer 12 in JSON (and in JSON Schema): read it as one.
                let mut v: serde_json::Value = serde_json::from_slice(bytes)
                    .map_err(|e| ApiError::bad_request(format!("Malformed JSON: {e}")))?;
                integral_floats_as_integers(&mut v);
                serde_path_to_error::deserialize::<_, T>(v)
                    .map_err(|e| field_error(e.path().to_string(), &e.into_inner().to_string()))
            } else {
                Err(field_error(path, &inner.to_string()))
            }
        }
    }
}

/// A JSON value read as `T`, checked field by field like a body (`12.0` read as 12).
pub fn parse_value<T: DeserializeOwned>(mut v: serde_json::Value) -> Result<T, ApiError> {
    integral_floats_as_integers(&mut v);
    serde_path_to_error::deserialize::<_, T>(v)
        .map_err(|e| field_error(e.path().to_string(), &e.into_inner().to_string()))
}

/// Rewrites every number with a zero fraction (`12.0`, `1.2e1`) as an integer, when it fits.
fn integral_floats_as_integers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            if !text.contains(['.', 'e', 'E']) {
                return;
            }
            let Ok(d) = kasir_schema::Decimal::from_scientific(&text)
                .or_else(|_| text.parse::<kasir_schema::Decimal>())
            else {
                return;
            };
            if !d.fract().is_zero() {
                return;
            }
            use rust_decimal::prelude::ToPrimitive;
            if let Some(i) = d.to_i64() {
                *n = i.into();
            } else if let Some(u) = d.to_u64() {
                *n = u.into();
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(o) => o.values_mut().for_each(integral_floats_as_integers),
        _ => {}
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

/// A query string the handler reads itself (repeated keys, lists); `T` is what the OpenAPI
/// document says it holds.
#[derive(Debug)]
pub struct RawQuery<T>(pub String, std::marker::PhantomData<fn() -> T>);

impl<S: Send + Sync, T> FromRequestParts<S> for RawQuery<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RawQuery(
            parts.uri.query().unwrap_or("").to_string(),
            std::marker::PhantomData,
        ))
    }
}

/// A text field, trimmed, of 1 to `max` characters.
pub fn text(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    // Control characters are looked for before trimming (U+0085 is white space to `trim`).
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    let t = v.trim();
    if t.is_empty() || v.chars().count() > max {
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
