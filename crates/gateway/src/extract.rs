//! Request extractors that answer in problem+json: JSON bodies with field paths in their
//! errors, and query strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use emporium_core::ValidationErrors;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. 415 without a JSON content type, 400 when it is not JSON, 422 with the
/// offending field's path when it does not fit (wrong type, missing or unknown field).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v == "application/merge-patch+json" || v.ends_with("+json"));
        if !json_type {
            return Err(ApiError::with_status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                payload_too_large()
            } else {
                ApiError::with_status(StatusCode::BAD_REQUEST, "malformed_body", "The request body could not be read.")
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// 413 `payload_too_large`.
pub fn payload_too_large() -> ApiError {
    ApiError::with_status(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large.")
}

/// Parses JSON, naming the path of the first field that does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Well-formedness first: a body that is not JSON is 400 even if an earlier part of it
    // would already have failed the typed parse.
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiError::with_status(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            format!("The body is not valid JSON: {err}"),
        ));
    }
    // Every body is an object: serde would otherwise read a struct from an array of its
    // fields in order (`[null, null]` as a patch of two fields).
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::validation(ValidationErrors::single(
            "body",
            "invalid_type",
            "the body must be a JSON object",
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    // The body is well-formed JSON (checked above), so whatever the typed parse says, it is
    // a value that does not fit: 422 naming the field (serde reports some type mismatches,
    // an enum given as an object, in its syntax category).
    result.map_err(|err| {
        let inner = err.inner();
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        let mut field = err.path().to_string();
        if field == "." {
            field.clear();
        }
        let code = if let Some(name) = backticked(&message, "missing field `") {
            field = join(&field, &name);
            "required"
        } else if let Some(name) = backticked(&message, "unknown field `") {
            if !field.ends_with(&name) {
                field = join(&field, &name);
            }
            "unknown_field"
        } else if message.starts_with("invalid type") {
            "invalid_type"
        } else if message.starts_with("unknown variant") {
            "invalid_value"
        } else {
            "invalid"
        };
        ApiError::validation(ValidationErrors::single(
            if field.is_empty() { "body".to_owned() } else { field },
            code,
            message,
        ))
    })
}

fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest.split('`').next()?.to_owned())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

/// A query string; a parameter of the wrong shape is 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(ApiQuery).map_err(|err| {
            let message = err.inner().to_string();
            let field = backticked(&message, "unknown field `").unwrap_or_else(|| err.path().to_string());
            let code = if message.starts_with("unknown field") { "unknown_parameter" } else { "invalid" };
            ApiError::validation(ValidationErrors::single(field, code, message))
        })
    }
}
