//! Keys in the database: claiming one (or replaying its stored answer), recording the answer,
//! releasing a claim nothing was recorded for, and purging expired answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use emporium_core::ErrorKind;
use emporium_core::db::statement;
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sha2::Sha256;

use super::graphql::answer_unavailable;
use super::{Claim, GRAPHQL_PENDING, MAX_STORED_BODY, RETENTION_HOURS, in_progress};
use crate::error::ApiError;
use crate::state::AppState;

/// A key claimed for this request, or the stored answer of its first request.
pub(super) enum Taken {
    /// This request does the work; the guard frees the claim if it is dropped unrecorded.
    Mine(Arc<Claim>, ReleaseOnDrop),
    Replay(Response),
}

/// Claims `key` in `scope` for a request whose fingerprint is made of `parts` (its path and
/// body): the same key with another request is 422 `idempotency_key_reused`, one still
/// running 409 `idempotency_in_progress`.
pub(super) async fn take(
    state: &AppState,
    scope: String,
    key: String,
    graphql: bool,
    parts: &[&[u8]],
) -> Result<Taken, ApiError> {
    // Keyed: bodies hold passwords (registration, a password change), and a plain hash of a
    // guessable body would let a database dump be brute-forced offline.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&state.fingerprint_key) else {
        return Err(ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "An unexpected error occurred.",
        ));
    };
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0]);
        }
        mac.update(part);
    }
    let request_hash = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let abandoned_after = Duration::from_std(state.config.request_timeout).unwrap_or_default() + Duration::seconds(30);
    let claim = Arc::new(Claim {
        scope,
        key,
        token: uuid::Uuid::new_v4().simple().to_string(),
        recorded: AtomicBool::new(false),
        graphql,
    });
    // From here on, if the request's future is dropped (the client went away, a timeout, a
    // panic) the claim is freed: whatever the handler did rolled back unless it recorded.
    let guard = ReleaseOnDrop(Some((state.db.clone(), Arc::clone(&claim))));
    match try_claim(&state.db, &claim, &request_hash, abandoned_after).await {
        Ok(Claimed::Mine) => Ok(Taken::Mine(claim, guard)),
        Ok(Claimed::Replay(response)) => {
            guard.defuse();
            Ok(Taken::Replay(response))
        }
        Ok(Claimed::Refused(error)) => {
            guard.defuse();
            Err(error)
        }
        Err(err) => Err(ApiError::database(&err)),
    }
}

/// Frees a claim when the request is abandoned mid-flight.
pub(super) struct ReleaseOnDrop(Option<(DatabaseConnection, Arc<Claim>)>);

impl ReleaseOnDrop {
    pub(super) fn defuse(mut self) {
        self.0 = None;
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some((db, claim)) = self.0.take() else { return };
        if claim.recorded.load(Ordering::SeqCst) {
            return;
        }
        // A `done` row is never deleted, so this is safe even if the write's commit is still
        // in flight: the delete waits for it and then matches nothing.
        // The claim's own insert may still be in flight on the connection the dropped future
        // used (its statement sent, its answer never awaited): it can land after a first
        // delete, so the delete is repeated a moment later. The token is this request's alone.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for wait in [0, 250, 2_000] {
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                    if let Err(err) = release(&db, &claim).await {
                        tracing::warn!(error = %err, "releasing an abandoned idempotency key failed");
                    }
                }
            });
        }
    }
}

enum Claimed {
    /// This request holds the key and does the work.
    Mine,
    /// The first answer, again.
    Replay(Response),
    /// Another body, or the first request still running.
    Refused(ApiError),
}

/// Takes the key for `claim`, or says why not.
async fn try_claim(
    db: &DatabaseConnection,
    claim: &Claim,
    request_hash: &str,
    abandoned_after: Duration,
) -> Result<Claimed, DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let (scope, key, token) = (claim.scope.as_str(), claim.key.as_str(), claim.token.as_str());
    let inserted = db
        .execute_raw(statement(
            backend,
            "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, claim_token, created_at) \
             VALUES (?, ?, ?, 'running', ?, ?) ON CONFLICT (scope, idempotency_key) DO NOTHING",
            [scope.into(), key.into(), request_hash.into(), token.into(), now.into()],
        ))
        .await?
        .rows_affected();
    if inserted == 1 {
        return Ok(Claimed::Mine);
    }
    let Some(row) = db
        .query_one_raw(statement(
            backend,
            "SELECT request_hash, state, response_status, response_content_type, response_body, created_at \
             FROM idempotency_keys WHERE scope = ? AND idempotency_key = ?",
            [scope.into(), key.into()],
        ))
        .await?
    else {
        // Released between our insert and select: a retry may claim it.
        return Ok(Claimed::Refused(in_progress()));
    };
    let stored_hash: String = row.try_get("", "request_hash")?;
    if stored_hash != request_hash {
        return Ok(Claimed::Refused(ApiError::new(
            ErrorKind::Invalid,
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request.",
        )));
    }
    let state: String = row.try_get("", "state")?;
    if state == "running" {
        // Nothing of a running row has committed (see the module's doc): one left by a crash
        // may be taken over, and the new claim token locks the old holder out.
        let created_at: chrono::DateTime<Utc> = row.try_get("", "created_at")?;
        if created_at < now - abandoned_after {
            let taken = db
                .execute_raw(statement(
                    backend,
                    "UPDATE idempotency_keys SET created_at = ?, claim_token = ? WHERE scope = ? \
                     AND idempotency_key = ? AND state = 'running' AND created_at = ?",
                    [now.into(), token.into(), scope.into(), key.into(), created_at.into()],
                ))
                .await?
                .rows_affected();
            if taken == 1 {
                return Ok(Claimed::Mine);
            }
        }
        return Ok(Claimed::Refused(in_progress()));
    }
    let status: i32 = row.try_get::<Option<i32>>("", "response_status")?.unwrap_or(200);
    let content_type: Option<String> = row.try_get("", "response_content_type")?;
    let body: String = row.try_get::<Option<String>>("", "response_body")?.unwrap_or_default();
    if content_type.as_deref() == Some(GRAPHQL_PENDING) {
        // Committed, its whole answer not stored yet: the first request is most likely still
        // finishing. Only once it has had all its time is the answer taken as lost.
        let created_at: chrono::DateTime<Utc> = row.try_get("", "created_at")?;
        if created_at >= now - abandoned_after {
            return Ok(Claimed::Refused(in_progress()));
        }
        return Ok(Claimed::Replay(answer_unavailable(&body)));
    }
    let mut response = (StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK), body).into_response();
    match content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        Some(value) => response.headers_mut().insert(header::CONTENT_TYPE, value),
        None => response.headers_mut().remove(header::CONTENT_TYPE),
    };
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Claimed::Replay(response))
}

/// Replaces a GraphQL write's placeholder with the document's whole answer.
pub(super) async fn replace_answer(db: &DatabaseConnection, claim: &Claim, body: &[u8]) -> Result<(), DbErr> {
    let (content_type, body) = if body.len() <= MAX_STORED_BODY {
        (Some("application/json"), Some(String::from_utf8_lossy(body).into_owned()))
    } else {
        (None, None)
    };
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE idempotency_keys SET response_status = 200, response_content_type = ?, response_body = ? \
         WHERE scope = ? AND idempotency_key = ? AND claim_token = ? AND state = 'done'",
        [
            content_type.into(),
            body.into(),
            claim.scope.clone().into(),
            claim.key.clone().into(),
            claim.token.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks the claim done with its answer, if the claim is still held. A body over
/// [`MAX_STORED_BODY`] is not kept (the replay then carries the status alone).
pub(super) async fn finish<C: ConnectionTrait>(
    db: &C,
    claim: &Claim,
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<bool, DbErr> {
    let (content_type, body) = if body.len() <= MAX_STORED_BODY {
        (content_type.map(str::to_owned), Some(String::from_utf8_lossy(body).into_owned()))
    } else {
        (None, None)
    };
    let updated = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_content_type = ?, \
             response_body = ? WHERE scope = ? AND idempotency_key = ? AND claim_token = ? AND state = 'running'",
            [
                i32::from(status.as_u16()).into(),
                content_type.into(),
                body.into(),
                claim.scope.clone().into(),
                claim.key.clone().into(),
                claim.token.clone().into(),
            ],
        ))
        .await?
        .rows_affected();
    Ok(updated == 1)
}

/// Frees a claim nothing was recorded for. A `done` row is never touched.
pub(super) async fn release(db: &DatabaseConnection, claim: &Claim) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? AND claim_token = ? AND state = 'running'",
        [claim.scope.clone().into(), claim.key.clone().into(), claim.token.clone().into()],
    ))
    .await?;
    Ok(())
}

/// Deletes answers older than the retention period; run periodically.
pub async fn purge_expired(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let cutoff = Utc::now() - Duration::hours(RETENTION_HOURS);
    Ok(db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            [cutoff.into()],
        ))
        .await?
        .rows_affected())
}
