//! Sign-in use cases, called by REST (`/v1/auth/*`) and GraphQL (`login`, `refreshToken`,
//! `logout`) alike: typed inputs in, a token pair out.

use std::sync::OnceLock;

use chrono::Duration;
use emporium_customers::{self as accounts, AccountKind, RefreshOutcome};

use crate::error::ApiError;
use crate::state::AppState;

/// Which kind of account a login is for; left out, a staff account is tried first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChoice {
    Staff,
    Customer,
}

/// An access token (send it as `Authorization: Bearer`) and the refresh token that renews it,
/// as both transports answer a sign-in. Its `Debug` output leaves both tokens out.
#[derive(Clone, serde::Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
#[schema(as = TokenResponse)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// A hash to verify against when no account matches, so a wrong email costs as long as a
/// wrong password and response times do not reveal which emails have accounts.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| accounts::hash_password("decoy password").unwrap_or_default())
}

fn refresh_ttl(state: &AppState) -> Duration {
    Duration::seconds(state.config.refresh_token_ttl.as_secs() as i64)
}

/// Signs in with email and password: a new session family.
pub async fn login(
    state: &AppState,
    email: &str,
    password: String,
    account: Option<AccountChoice>,
) -> Result<TokenPair, ApiError> {
    // Customer accounts are not built yet, so only staff can sign in; a customer login is
    // answered like any wrong password.
    let staff = match account {
        Some(AccountChoice::Customer) => None,
        Some(AccountChoice::Staff) | None => accounts::find_staff_by_email(&state.db, email).await?,
    };
    let hash = staff.as_ref().map_or_else(|| decoy_hash().to_owned(), |s| s.password_hash.clone());
    let matches = tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let Some(staff) = staff.filter(|_| matches) else {
        return Err(ApiError::unauthorized("Wrong email or password."));
    };
    let txn = emporium_core::db::begin_write(&state.db).await?;
    let session = accounts::issue_session(&txn, AccountKind::Staff, &staff.id, refresh_ttl(state)).await?;
    txn.commit().await?;
    Ok(TokenPair {
        access_token: state.tokens.issue(AccountKind::Staff, &staff.id, &staff.permissions)?,
        refresh_token: session.refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_seconds(),
    })
}

/// Trades a refresh token for a new pair. A token used twice revokes its whole family.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<TokenPair, ApiError> {
    let txn = emporium_core::db::begin_write(&state.db).await?;
    let session = match accounts::refresh_session(&txn, refresh_token, refresh_ttl(state)).await? {
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
    Ok(TokenPair {
        access_token: state.tokens.issue(session.account_kind, &session.account_id, &permissions)?,
        refresh_token: session.refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_seconds(),
    })
}

/// Revokes a refresh token's session. Unknown tokens are accepted (logout is idempotent).
pub async fn logout(state: &AppState, refresh_token: &str) -> Result<(), ApiError> {
    let txn = emporium_core::db::begin_write(&state.db).await?;
    accounts::revoke_session(&txn, refresh_token).await?;
    txn.commit().await?;
    Ok(())
}
