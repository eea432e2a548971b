//! API keys: created with their secret shown once, listed, revoked.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use emporium_customers::{self as accounts, NewApiKey};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Page, page_of};
use crate::error::ApiError;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;
use crate::usecases::products;

/// An API key as listed: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = ApiKey)]
#[graphql(name = "ApiKey")]
pub struct ApiKeyDto {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    #[schema(example = "emp_Xk3v9QaB")]
    pub prefix: String,
    #[schema(example = json!(["catalog:read"]))]
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Updated within a minute of use, not on every request.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<accounts::ApiKey> for ApiKeyDto {
    fn from(k: accounts::ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.names().into_iter().map(str::to_owned).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A key just created, with its secret: shown this once. A retry with the same
/// `Idempotency-Key` answers the key with `key` null: the secret is never stored. `Debug`
/// leaves the secret out.
#[derive(Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = CreatedApiKey)]
#[graphql(name = "CreatedApiKey")]
pub struct CreatedApiKeyDto {
    #[serde(flatten)]
    #[graphql(flatten)]
    pub api_key: ApiKeyDto,
    /// The secret to send as `X-Api-Key`.
    #[schema(example = "emp_Xk3v9QaB...")]
    pub key: Option<String>,
}

impl std::fmt::Debug for CreatedApiKeyDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKeyDto").field("api_key", &self.api_key).finish_non_exhaustive()
    }
}

/// Creates an API key (201); the secret is in this answer only.
pub async fn create_api_key(
    state: &AppState,
    idempotency: &Idempotency,
    created_by: &str,
    name: &str,
    scopes: &[String],
) -> Result<(CreatedApiKeyDto, Answer), ApiError> {
    let new = NewApiKey::parse(name, scopes)?;
    let txn = state.writer.begin().await?;
    let issued = accounts::create_api_key(&txn, created_by, &new).await?;
    let listed = ApiKeyDto::from(issued.key);
    // The stored answer (replayed to a retry) never holds the secret.
    let stored = Answer::of(StatusCode::CREATED, &CreatedApiKeyDto { api_key: listed.clone(), key: None })?;
    idempotency.record(&txn, &stored).await?;
    txn.commit().await?;
    let created = CreatedApiKeyDto { api_key: listed, key: Some(issued.secret) };
    let answer = Answer::of(StatusCode::CREATED, &created)?;
    Ok((created, answer))
}

/// Live API keys in creation order, with "last used" times written first.
pub async fn list_api_keys(
    state: &AppState,
    limit: Option<i64>,
    cursor: Option<&str>,
    limit_field: &'static str,
) -> Result<Page<ApiKeyDto>, ApiError> {
    state.accounts.flush_key_uses(&state.db).await?;
    let (limit, after) = (products::page_size(limit, limit_field)?, products::cursor_id(state, "api_keys", cursor)?);
    let found = accounts::list_api_keys(&state.db, after.as_deref(), limit.get() + 1).await?;
    Ok(page_of(state, "api_keys", found, limit, |k| k.id.clone()).map(ApiKeyDto::from))
}

/// Revokes an API key: 401 at once on this instance, within seconds on the others.
pub async fn revoke_api_key(state: &AppState, key_id: &str) -> Result<(), ApiError> {
    if !emporium_core::id::is_id("key", key_id) {
        return Err(ApiError::not_found("API key"));
    }
    let txn = state.writer.begin().await?;
    let revoked = accounts::revoke_api_key(&txn, key_id).await?;
    txn.commit().await?;
    state.accounts.forget_keys();
    if revoked { Ok(()) } else { Err(ApiError::not_found("API key")) }
}
