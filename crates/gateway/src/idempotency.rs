//! `Idempotency-Key` on mutating POSTs (IETF Idempotency-Key draft): the same key with the same
//! body returns the first answer again and does the work once; another body is 422
//! `idempotency_key_reused`; while the first request runs, 409 `idempotency_in_progress`.
//! Keys belong to the caller (a staff member, a customer, or anonymous), so one caller's key
//! never replays another's answer. Answers are kept at least 24 hours.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use emporium_core::ErrorKind;
use emporium_core::db::statement;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};

use crate::auth::{Principal, principal_from_headers};
use crate::error::ApiError;
use crate::extract::payload_too_large;
use crate::state::AppState;

const HEADER: &str = "idempotency-key";
/// How long answers are kept.
const RETENTION_HOURS: i64 = 48;
/// A `running` row older than this was left by a crashed process and may be taken over.
const ABANDONED_AFTER_SECONDS: i64 = 300;

/// The middleware. Requests without the header, other methods and `/v1/auth/` pass through.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path().starts_with("/v1/auth/") {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    let key = match key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255) {
        Some(key) => key.to_owned(),
        None => {
            return ApiError::validation(emporium_core::ValidationErrors::single(
                "Idempotency-Key",
                "invalid",
                "must be 1 to 255 visible ASCII characters",
            ))
            .into_response();
        }
    };
    // Bad credentials are the handler's to refuse; such requests are not recorded.
    let scope = match principal_from_headers(request.headers(), &state.tokens) {
        Ok(Principal::Anonymous) => "anonymous".to_owned(),
        Ok(Principal::Staff { id, .. }) => format!("staff:{id}"),
        Ok(Principal::Customer { id }) => format!("customer:{id}"),
        Err(_) => return next.run(request).await,
    };
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, state.config.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => return payload_too_large().into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.uri.path().as_bytes());
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = URL_SAFE_NO_PAD.encode(hasher.finalize());

    match claim(&state.db, &scope, &key, &request_hash).await {
        Ok(Claim::Mine) => {}
        Ok(Claim::Replay(response)) => return response,
        Ok(Claim::Refused(error)) => return error.into_response(),
        Err(err) => return ApiError::database(&err).into_response(),
    }

    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = response.status();
    // Failures the client may retry with the same key are forgotten, not replayed.
    if status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 429) {
        let _ = release(&state.db, &scope, &key).await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        let _ = release(&state.db, &scope, &key).await;
        return ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, "internal", "The answer could not be read.")
            .into_response();
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Err(err) = store(&state.db, &scope, &key, status, content_type.as_deref(), &body).await {
        tracing::error!(error = %err, "storing an idempotent answer failed");
    }
    Response::from_parts(parts, Body::from(body))
}

enum Claim {
    /// This request holds the key and does the work.
    Mine,
    /// The first answer, again.
    Replay(Response),
    /// Another body, or the first request still running.
    Refused(ApiError),
}

async fn claim(db: &DatabaseConnection, scope: &str, key: &str, request_hash: &str) -> Result<Claim, DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let inserted = db
        .execute_raw(statement(
            backend,
            "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, created_at) \
             VALUES (?, ?, ?, 'running', ?) ON CONFLICT (scope, idempotency_key) DO NOTHING",
            [scope.into(), key.into(), request_hash.into(), now.into()],
        ))
        .await?
        .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Mine);
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
        return Ok(Claim::Refused(in_progress()));
    };
    let stored_hash: String = row.try_get_by_index(0)?;
    if stored_hash != request_hash {
        return Ok(Claim::Refused(ApiError::new(
            ErrorKind::Invalid,
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request.",
        )));
    }
    let state: String = row.try_get_by_index(1)?;
    if state == "running" {
        let created_at: chrono::DateTime<Utc> = row.try_get_by_index(5)?;
        if created_at < now - Duration::seconds(ABANDONED_AFTER_SECONDS) {
            let taken = db
                .execute_raw(statement(
                    backend,
                    "UPDATE idempotency_keys SET created_at = ? WHERE scope = ? AND idempotency_key = ? \
                     AND state = 'running' AND created_at = ?",
                    [now.into(), scope.into(), key.into(), created_at.into()],
                ))
                .await?
                .rows_affected();
            if taken == 1 {
                return Ok(Claim::Mine);
            }
        }
        return Ok(Claim::Refused(in_progress()));
    }
    let status: i32 = row.try_get_by_index::<Option<i32>>(2)?.unwrap_or(200);
    let content_type: Option<String> = row.try_get_by_index(3)?;
    let body: String = row.try_get_by_index::<Option<String>>(4)?.unwrap_or_default();
    let mut response = (StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK), body).into_response();
    if let Some(value) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Claim::Replay(response))
}

fn in_progress() -> ApiError {
    ApiError::new(
        ErrorKind::Conflict,
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still running; retry shortly.",
    )
}

async fn store(
    db: &DatabaseConnection,
    scope: &str,
    key: &str,
    status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_content_type = ?, response_body = ? \
         WHERE scope = ? AND idempotency_key = ?",
        [
            i32::from(status.as_u16()).into(),
            content_type.map(str::to_owned).into(),
            String::from_utf8_lossy(body).into_owned().into(),
            scope.into(),
            key.into(),
        ],
    ))
    .await?;
    Ok(())
}

async fn release(db: &DatabaseConnection, scope: &str, key: &str) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? AND state = 'running'",
        [scope.into(), key.into()],
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
