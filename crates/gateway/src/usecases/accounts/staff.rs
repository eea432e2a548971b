//! Staff accounts and their roles.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use emporium_core::ValidationErrors;
use emporium_customers::{self as accounts, AccountKind, Email, Password, Role, StaffChange};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Page, page_of};
use crate::error::ApiError;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;
use crate::usecases::products;
use crate::usecases::sessions::hashing;

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
#[graphql(name = "StaffRole")]
pub enum RoleDto {
    Admin,
    Catalog,
    Fulfillment,
    Support,
    Marketing,
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::Admin => Role::Admin,
            RoleDto::Catalog => Role::Catalog,
            RoleDto::Fulfillment => Role::Fulfillment,
            RoleDto::Support => Role::Support,
            RoleDto::Marketing => Role::Marketing,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => RoleDto::Admin,
            Role::Catalog => RoleDto::Catalog,
            Role::Fulfillment => RoleDto::Fulfillment,
            Role::Support => RoleDto::Support,
            Role::Marketing => RoleDto::Marketing,
        }
    }
}

/// A staff account.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = StaffMember)]
#[graphql(name = "StaffMember")]
pub struct StaffDto {
    pub id: String,
    pub email: String,
    pub role: RoleDto,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<accounts::StaffMember> for StaffDto {
    fn from(s: accounts::StaffMember) -> Self {
        Self {
            id: s.id,
            email: s.email.to_string(),
            role: s.role.into(),
            disabled: s.disabled,
            created_at: s.created_at,
        }
    }
}

/// Creates a staff account (201).
pub async fn create_staff(
    state: &AppState,
    idempotency: &Idempotency,
    email: &str,
    password: String,
    role: Role,
) -> Result<(StaffDto, Answer), ApiError> {
    let mut errors = ValidationErrors::new();
    let email = Email::parse(email, "email").map_err(|e| errors.extend(e)).ok();
    let password = Password::new(password, "password").map_err(|e| errors.extend(e)).ok();
    let (Some(email), Some(password)) = (email, password) else { return Err(ApiError::validation(errors)) };
    let hash = hashing(state, move || password.hash()).await??;
    let txn = state.writer.begin().await?;
    let member = StaffDto::from(accounts::create_staff(&txn, &email, &hash, role).await?);
    let answer = Answer::of(StatusCode::CREATED, &member)?;
    idempotency.record(&txn, &answer).await?;
    txn.commit().await?;
    Ok((member, answer))
}

/// Staff accounts in creation order.
pub async fn list_staff(
    state: &AppState,
    limit: Option<i64>,
    cursor: Option<&str>,
    limit_field: &'static str,
) -> Result<Page<StaffDto>, ApiError> {
    let (limit, after) = (products::page_size(limit, limit_field)?, products::cursor_id(state, "staff", cursor)?);
    let found = accounts::list_staff(&state.db, after.as_deref(), limit.get() + 1).await?;
    Ok(page_of(state, "staff", found, limit, |s| s.id.clone()).map(StaffDto::from))
}

/// Changes a staff account's role or disables it: its tokens stop working at once on this
/// instance and within seconds on the others; disabling also revokes its refresh tokens.
pub async fn change_staff(state: &AppState, staff_id: &str, change: StaffChange) -> Result<StaffDto, ApiError> {
    if !emporium_core::id::is_id("staff", staff_id) {
        return Err(ApiError::not_found("staff account"));
    }
    let txn = state.writer.begin().await?;
    let member =
        accounts::change_staff(&txn, staff_id, &change).await?.ok_or_else(|| ApiError::not_found("staff account"))?;
    if member.disabled {
        accounts::revoke_account_sessions(&txn, AccountKind::Staff, staff_id).await?;
    }
    txn.commit().await?;
    state.accounts.forget_staff(staff_id);
    Ok(member.into())
}
