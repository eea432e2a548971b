//! Keyed GraphQL mutation documents: run once per key, their whole answer stored.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::store::{Taken, finish, release, replace_answer, take};
use super::{Answer, Idempotency, invalid_key, scope_of};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// The replay of a GraphQL write that committed while its whole answer was never stored (the
/// process stopped between the two): the work is not done again; the write's own answer, as
/// REST would have given it, is in `extensions.result`.
pub(super) fn answer_unavailable(recorded: &str) -> Response {
    use async_graphql::ErrorExtensions as _;
    let result = serde_json::from_str::<serde_json::Value>(recorded).unwrap_or(serde_json::Value::Null);
    let result = async_graphql::Value::from_json(result).unwrap_or(async_graphql::Value::Null);
    let error = async_graphql::Error::new(
        "The mutation of this Idempotency-Key was done once, but its answer was not kept; it is not done again. \
         Read its result with a query.",
    )
    .extend_with(|_, ext| {
        ext.set("code", "idempotent_answer_unavailable");
        ext.set("result", result.clone());
    });
    let response = async_graphql::Response::from_errors(vec![error.into_server_error(async_graphql::Pos::default())]);
    let mut answer =
        Answer::json(StatusCode::OK, Bytes::from(serde_json::to_vec(&response).unwrap_or_default())).into_response();
    answer.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    answer
}

/// What [`graphql_keyed`] learns of the document it ran.
pub struct GraphqlRun {
    /// The serialized answer.
    pub body: Bytes,
    /// What a retry receives, when it must differ from `body` (a secret shown once is not
    /// kept: a new API key's).
    pub stored: Option<Bytes>,
    /// Whether nothing was done and a retry may do better (an error a REST answer would
    /// forget: unauthenticated, forbidden, not found, throttled, a server or provider failure,
    /// or a document that did not run at all).
    pub forgettable: bool,
}

/// Runs a keyed GraphQL mutation document once per key: `run` gets the claim to hand its
/// resolvers. The same key and document again get the stored answer; another document is 422
/// `idempotency_key_reused`, and while the first runs the answer is 409
/// `idempotency_in_progress` (both as GraphQL errors, as every refusal of this route is).
pub async fn graphql_keyed<F, Fut>(
    state: &AppState,
    principal: &Principal,
    key: &HeaderValue,
    document: &[&[u8]],
    run: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Idempotency) -> Fut,
    Fut: Future<Output = Result<GraphqlRun, ApiError>>,
{
    let Some(key) = key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255).map(str::to_owned) else {
        return Err(invalid_key("must be 1 to 255 visible ASCII characters"));
    };
    let scope = scope_of(principal, &key)?;
    let mut parts: Vec<&[u8]> = vec![b"/graphql"];
    parts.extend_from_slice(document);
    let (claim, guard) = match take(state, scope, key, true, &parts).await? {
        Taken::Mine(claim, guard) => (claim, guard),
        Taken::Replay(response) => return Ok(response),
    };
    let ran = run(Idempotency(Some(Arc::clone(&claim)))).await;
    guard.defuse();
    let ran = match ran {
        Ok(ran) => ran,
        Err(err) => {
            if !claim.recorded.load(Ordering::SeqCst) {
                let _ = release(&state.db, &claim).await;
            }
            return Err(err);
        }
    };
    let answer = Answer::json(StatusCode::OK, ran.body);
    let stored = ran.stored.as_ref().unwrap_or(&answer.body);
    if claim.recorded.load(Ordering::SeqCst) {
        // The write committed with a placeholder: the whole answer takes its place. (Had its
        // commit failed after the record, the row would still be `running`: freed here.)
        if ran.forgettable {
            let _ = release(&state.db, &claim).await;
        }
        if let Err(err) = replace_answer(&state.db, &claim, stored).await {
            tracing::error!(error = %err, "storing a GraphQL write's whole answer failed; its replay says so");
        }
    } else if ran.forgettable {
        if let Err(err) = release(&state.db, &claim).await {
            tracing::warn!(error = %err, "releasing an idempotency key failed");
        }
    } else if let Err(err) = finish(&state.db, &claim, StatusCode::OK, answer.content_type, stored).await {
        // A refusal, or a write with nothing of its own to record (a change that is the same
        // when repeated): stored after the fact.
        tracing::error!(error = %err, "storing an idempotent GraphQL answer failed");
    }
    Ok(answer.into_response())
}
