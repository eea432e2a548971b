//! `/v1/auth`: sign-in, token rotation and sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extract::CredentialsJson;
use crate::infra::rate_limit::ClientIp;
use crate::state::AppState;
use crate::usecases::sessions::{self, TokenPair};

/// `POST /v1/auth/login`.
// Not `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
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
// Not `Debug`: it holds a refresh token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Sign in with email and password.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: 10 failed sign-ins for this email or address within 15 minutes", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    CredentialsJson(body): CredentialsJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let account = body.account.map(|a| match a {
        AccountChoice::Staff => sessions::AccountChoice::Staff,
        AccountChoice::Customer => sessions::AccountChoice::Customer,
    });
    Ok(Json(sessions::login(&state, client, &body.email, body.password, account).await?))
}

/// Trade a refresh token for a new pair. A token used twice revokes its whole family.
#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "auth", operation_id = "refresh_token",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "Unknown, expired, spent or revoked token", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn refresh(
    State(state): State<AppState>,
    CredentialsJson(body): CredentialsJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(sessions::refresh(&state, &body.refresh_token).await?))
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
    CredentialsJson(body): CredentialsJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    sessions::logout(&state, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
