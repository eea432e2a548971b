//! `/v1/auth`: sign-in, token rotation and sign-out.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use emporium_customers::{self as accounts, AccountKind, RefreshOutcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

/// `POST /v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// `staff` or `customer`; left out, a staff account is tried first.
    #[serde(default)]
    pub account: Option<AccountChoice>,
}

/// Which kind of account to sign in to.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountChoice {
    Staff,
    Customer,
}

/// `POST /v1/auth/refresh` and `/v1/auth/logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// A hash to verify against when no account matches, so a wrong email costs as long as a
/// wrong password and response times do not reveal which emails have accounts.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| accounts::hash_password("decoy password").unwrap_or_default())
}

/// Sign in with email and password.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    // Customer accounts are not built yet, so only staff can sign in; a customer login is
    // answered like any wrong password.
    let staff = match body.account {
        Some(AccountChoice::Customer) => None,
        Some(AccountChoice::Staff) | None => accounts::find_staff_by_email(&state.db, &body.email).await?,
    };
    let hash = staff.as_ref().map_or_else(|| decoy_hash().to_owned(), |s| s.password_hash.clone());
    let password = body.password;
    let matches = tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let Some(staff) = staff.filter(|_| matches) else {
        return Err(ApiError::unauthorized("Wrong email or password."));
    };
    let txn = emporium_core::db::begin_write(&state.db).await?;
    let session = accounts::issue_session(&txn, AccountKind::Staff, &staff.id, refresh_ttl(&state)).await?;
    txn.commit().await?;
    Ok(Json(TokenResponse {
        access_token: state.tokens.issue(AccountKind::Staff, &staff.id, &staff.permissions)?,
        refresh_token: session.refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_seconds(),
    }))
}

/// Trade a refresh token for a new pair. A token used twice revokes its whole family.
#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "auth", operation_id = "refresh_token",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenResponse),
        (status = 401, description = "Unknown, expired, spent or revoked token", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let txn = emporium_core::db::begin_write(&state.db).await?;
    let outcome = accounts::refresh_session(&txn, &body.refresh_token, refresh_ttl(&state)).await?;
    let session = match outcome {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Invalid => return Err(ApiError::unauthorized("The refresh token is invalid or expired.")),
        RefreshOutcome::Reused => {
            // Keep the revocation: commit before refusing.
            txn.commit().await?;
            tracing::warn!("refresh token reused; its session family is revoked");
            return Err(ApiError::unauthorized("The refresh token was already used; sign in again."));
        }
    };
    let permissions = match session.account_kind {
        AccountKind::Staff => accounts::staff_permissions(&txn, &session.account_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("The account is disabled."))?,
        AccountKind::Customer => Vec::new(),
    };
    txn.commit().await?;
    Ok(Json(TokenResponse {
        access_token: state.tokens.issue(session.account_kind, &session.account_id, &permissions)?,
        refresh_token: session.refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_seconds(),
    }))
}

/// Revoke a refresh token's session. Unknown tokens are accepted too (logout is idempotent).
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth", operation_id = "logout",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out")),
    security(())
)]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let txn = emporium_core::db::begin_write(&state.db).await?;
    accounts::revoke_session(&txn, &body.refresh_token).await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn refresh_ttl(state: &AppState) -> Duration {
    Duration::seconds(state.config.refresh_token_ttl.as_secs() as i64)
}
