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
        let bytes = json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body of credentials (sign-in, refresh, sign-out): as [`ApiJson`], except that a NUL
/// character is not refused as such. No credential holds one, so it simply fails to match
/// (401), as any wrong password does, and it never reaches a query: emails are parsed first
/// and tokens are hashed.
pub struct CredentialsJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CredentialsJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        parse_typed(&bytes).map(CredentialsJson)
    }
}

/// The bytes of a JSON body: 415 without a JSON content type, 413 over the limit.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
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
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            payload_too_large()
        } else {
            ApiError::with_status(StatusCode::BAD_REQUEST, "malformed_body", "The request body could not be read.")
        }
    })
}

/// 413 `payload_too_large`.
pub fn payload_too_large() -> ApiError {
    ApiError::with_status(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large.")
}

/// Parses JSON, naming the path of the first field that does not fit. No text of the shop
/// holds a NUL (PostgreSQL refuses one in text): it is refused here, once for every body,
/// naming where it is.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if escapes_nul(bytes)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
    {
        let field = nul_at(&value, String::new()).unwrap_or_default();
        return Err(ApiError::validation(ValidationErrors::single(
            if field.is_empty() { "body".to_owned() } else { field },
            "control_character",
            "must not contain a NUL character",
        )));
    }
    parse_typed(bytes)
}

/// Parses JSON whatever its text holds, naming the path of the first field that does not fit.
fn parse_typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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

/// Whether JSON text holds the escape of a NUL character (`\u0000`, its backslash not itself
/// escaped). Raw control characters are not valid JSON at all.
pub fn escapes_nul(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(6).position(|w| w == b"\\u0000") {
        let start = at + found;
        let backslashes = bytes[..start].iter().rev().take_while(|b| **b == b'\\').count();
        if backslashes % 2 == 0 {
            return true;
        }
        at = start + 1;
    }
    false
}

/// The path (as field errors name it) of the first string or key holding a NUL.
fn nul_at(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then_some(path),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_at(item, format!("{path}[{i}]")))
        }
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = join(&path, key);
            if key.contains('\0') { Some(here) } else { nul_at(item, here) }
        }),
        _ => None,
    }
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
        // Parameters are names, ids and words: none holds a control character.
        if query.contains('%')
            && let Some((name, _)) =
                form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
        {
            let name = if name.chars().any(char::is_control) { "query".to_owned() } else { name.into_owned() };
            return Err(ApiError::validation(ValidationErrors::single(
                name,
                "control_character",
                "must not contain control characters",
            )));
        }
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(ApiQuery).map_err(|err| {
            let message = err.inner().to_string();
            let field = backticked(&message, "unknown field `").unwrap_or_else(|| err.path().to_string());
            let code = if message.starts_with("unknown field") { "unknown_parameter" } else { "invalid" };
            ApiError::validation(ValidationErrors::single(field, code, message))
        })
    }
}

/// The `If-Match` precondition of a change: the versions it may apply to (any without the
/// header).
pub struct IfMatch(pub emporium_core::Expected);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let values: Vec<&str> =
            parts.headers.get_all(axum::http::header::IF_MATCH).iter().filter_map(|v| v.to_str().ok()).collect();
        if parts.headers.get(axum::http::header::IF_MATCH).is_none() {
            return Ok(Self(emporium_core::Expected::Any));
        }
        // A header that is not text names no version this server made.
        Ok(Self(emporium_core::Expected::from_if_match(&values.join(","))))
    }
}

/// An `ETag` header for a resource at `version`.
pub fn etag(version: i64) -> [(axum::http::HeaderName, String); 1] {
    [(axum::http::header::ETAG, emporium_core::version::etag(version))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_only_where_it_is_escaped() {
        assert!(escapes_nul(br#"{"a":"x\u0000y"}"#));
        assert!(!escapes_nul(br#"{"a":"x\\u0000y"}"#), "an escaped backslash before u0000 is text");
        assert!(escapes_nul(br#"{"a":"x\\\u0000"}"#));
        assert!(!escapes_nul(br#"{"a":"plain"}"#));
        let value: serde_json::Value =
            serde_json::from_slice(br#"{"v":[{"p":"ok"},{"p":"a\u0000"}]}"#).unwrap_or_default();
        assert_eq!(nul_at(&value, String::new()).as_deref(), Some("v[1].p"));
    }
}
