//! `POST /graphql`: bounds and allowance first, then the shared cache for anonymous catalog
//! reads, or the `Idempotency-Key` claim for a keyed mutation, then the schema.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{ApiSchema, ClientAddress, ParsedQueries};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::infra::cache::SharedLookup;
use crate::infra::idempotency::{self, GraphqlRun};
use crate::infra::rate_limit::{CallerBucket, ClientIp};
use crate::rest;
use crate::state::AppState;

/// What the GraphQL route holds.
pub type GraphqlState = (AppState, ApiSchema, ParsedQueries);

impl axum::extract::FromRef<GraphqlState> for AppState {
    fn from_ref(state: &GraphqlState) -> Self {
        state.0.clone()
    }
}

/// Mutations that never take an `Idempotency-Key` (as REST's `/v1/auth/` routes do not):
/// their answers hold tokens, which are not kept.
const SESSION_MUTATIONS: &[&str] = &["login", "refreshToken", "logout"];

/// The route's handler.
pub async fn handler(
    State((state, schema, parsed)): State<GraphqlState>,
    principal: Principal,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    bucket: Option<axum::Extension<CallerBucket>>,
    ApiJson(mut request): ApiJson<async_graphql::Request>,
) -> Result<Response, ApiError> {
    if let Err(refusal) = parsed.prepare(&mut request) {
        return body(&super::error_response(refusal.code, refusal.message));
    }
    // A string argument written with a NUL escape: no text of the shop holds one (variables
    // were checked with the body).
    if request.query.contains("\\u0000") {
        let refusal = ApiError::validation(emporium_core::ValidationErrors::single(
            "query",
            "control_character",
            "must not contain a NUL character",
        ));
        return body(&async_graphql::Response::from_errors(vec![
            async_graphql::Error::from(refusal).into_server_error(async_graphql::Pos::default()),
        ]));
    }
    // The rate limiter charged one request; each further root field (aliases included) is
    // charged too, so one document cannot do the work of many requests for the price of one.
    let mut spent = None;
    if let Some(axum::Extension(CallerBucket(Some(bucket)))) = &bucket {
        let extra = super::root_fields(&mut request).saturating_sub(1);
        if extra > 0 {
            spent = state.limits.check(bucket, u32::try_from(extra).unwrap_or(u32::MAX)).await;
            if let Some(decision) = spent
                && decision.retry_after.is_some()
            {
                return Ok(crate::infra::rate_limit::refused(decision));
            }
        }
    }
    let with_spent = move |mut answer: Response| {
        if let Some(decision) = spent {
            crate::infra::rate_limit::set_headers(answer.headers_mut(), decision);
        }
        answer
    };
    let mut request = request.data(ClientAddress(client));
    if let Some(axum::Extension(bucket)) = bucket {
        request = request.data(bucket);
    }
    if let Some(key) = headers.get("idempotency-key")
        && let Some(fields) = super::mutation_fields(&mut request)
        && !fields.iter().all(|f| SESSION_MUTATIONS.contains(&f.as_str()))
    {
        if fields.len() != 1 {
            let refusal = ApiError::validation(emporium_core::ValidationErrors::single(
                "Idempotency-Key",
                "one_mutation_per_key",
                "a document sent with an Idempotency-Key holds exactly one mutation field",
            ));
            return body(&async_graphql::Response::from_errors(vec![
                async_graphql::Error::from(refusal).into_server_error(async_graphql::Pos::default()),
            ]));
        }
        let variables = serde_json::to_vec(&request.variables).map_err(|e| ApiError::internal(&e))?;
        let name = request.operation_name.clone().unwrap_or_default();
        let query = request.query.clone();
        let document: [&[u8]; 3] = [query.as_bytes(), name.as_bytes(), &variables];
        let caller = principal.clone();
        let field = fields.first().cloned().unwrap_or_default();
        let run = |claim| async move {
            let response = schema.execute(request.data(claim).data(caller)).await;
            let forgettable = response.errors.iter().any(forgettable);
            let body = serialize(response)?;
            let stored = (field == "createApiKey").then(|| without_secret(&body));
            Ok(GraphqlRun { body, stored, forgettable })
        };
        return match idempotency::graphql_keyed(&state, &principal, key, &document, run).await {
            Ok(answer) => Ok(with_spent(answer)),
            Err(refusal) => body(&async_graphql::Response::from_errors(vec![
                async_graphql::Error::from(refusal).into_server_error(async_graphql::Pos::default()),
            ])),
        };
    }
    // An anonymous read of catalog fields only is the same for every anonymous caller: its
    // whole answer is cached under the catalog-wide generation.
    let shared_key = match principal {
        Principal::Anonymous => super::response_key(&mut request),
        _ => None,
    };
    let mut token = None;
    if let Some(key) = &shared_key {
        match state.cache.get_shared(key).await {
            SharedLookup::Hit(body) => return Ok(rest::products::json_response(StatusCode::OK, body)),
            SharedLookup::Miss(miss) => token = miss,
        }
    }
    let response = schema.execute(request.data(principal)).await;
    let cacheable = response.errors.is_empty();
    let answer = serialize(response)?;
    if let Some(key) = &shared_key
        && cacheable
    {
        state.cache.put_shared(key, token, answer.clone()).await;
    }
    Ok(with_spent(rest::products::json_response(StatusCode::OK, answer)))
}

/// Whether an error leaves a keyed document's key free for a retry, as REST forgets its
/// answers: credentials, a missing resource, throttling, a server or provider failure, or an
/// error of the document itself (nothing ran). Refusals (422, 409, 402) are stored.
fn forgettable(error: &async_graphql::ServerError) -> bool {
    let status = error.extensions.as_ref().and_then(|e| e.get("status")).and_then(|v| match v {
        async_graphql::Value::Number(n) => n.as_u64(),
        _ => None,
    });
    match status {
        None => true,
        Some(status) => status >= 500 || matches!(status, 401 | 403 | 404 | 408 | 429),
    }
}

/// A `createApiKey` answer as it is kept for replay: without the secret, which is shown once
/// (REST keeps its answer the same way). Any string longer than a key's shown prefix that
/// starts as keys do is taken out, whatever alias the document gave it.
fn without_secret(body: &bytes::Bytes) -> bytes::Bytes {
    fn scrub(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text)
                if text.starts_with(emporium_customers::KEY_PREFIX) && text.len() > SHOWN_KEY_CHARS =>
            {
                *value = serde_json::Value::Null;
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
            serde_json::Value::Object(fields) => fields.values_mut().for_each(scrub),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else { return bytes::Bytes::new() };
    scrub(&mut value);
    bytes::Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

/// Characters of a key shown in lists (its prefix), which may be kept.
const SHOWN_KEY_CHARS: usize = 12;

/// The answer's bytes. Parse, validation and limit errors come from async-graphql without a
/// code, and every GraphQL error carries one; an answer over the size bound is replaced by an
/// error.
fn serialize(mut response: async_graphql::Response) -> Result<bytes::Bytes, ApiError> {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", super::code_of_library_error(&error.message));
        }
    }
    let bytes = serde_json::to_vec(&response).map_err(|e| ApiError::internal(&e))?;
    if bytes.len() > super::MAX_RESPONSE_BYTES {
        let refusal = super::error_response(
            "response_too_large",
            format!("The answer would exceed {} bytes; ask for fewer items.", super::MAX_RESPONSE_BYTES),
        );
        return Ok(bytes::Bytes::from(serde_json::to_vec(&refusal).map_err(|e| ApiError::internal(&e))?));
    }
    Ok(bytes::Bytes::from(bytes))
}

fn body(response: &async_graphql::Response) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(response).map_err(|e| ApiError::internal(&e))?;
    Ok(rest::products::json_response(StatusCode::OK, bytes::Bytes::from(body)))
}
