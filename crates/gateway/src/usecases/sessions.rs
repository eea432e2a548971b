//! Sign-in use cases, called by REST (`/v1/auth/*`) and GraphQL (`login`, `refreshToken`,
//! `logout`) alike: typed inputs in, a token pair out. Failed sign-ins are throttled per email
//! and per client address before any password is checked, and every hash runs under the
//! bound on concurrent hashing.

use std::net::IpAddr;
use std::sync::OnceLock;

use chrono::Duration;
use emporium_customers::{self as accounts, AccountKind, Email, RefreshOutcome, SessionLifetimes};

use crate::error::ApiError;
use crate::infra::limits::HashingRefused;
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

/// The session lifetimes the configuration sets.
pub fn lifetimes(state: &AppState) -> SessionLifetimes {
    SessionLifetimes {
        token: Duration::seconds(state.config.refresh_token_ttl.as_secs() as i64),
        family: Duration::seconds(state.config.session_max_age.as_secs() as i64),
    }
}

/// Runs password work under the hashing bound: 429 when too much is already queued.
pub async fn hashing<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    state.limits.hashing().run(work).await.map_err(|refused| match refused {
        HashingRefused::Busy => {
            ApiError::rate_limited(1, "Too many sign-ins are being checked right now; retry shortly.")
        }
        HashingRefused::Failed => ApiError::with_status(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "An unexpected error occurred.",
        ),
    })
}

/// The throttle keys of a sign-in attempt: its email (as typed, normalised) and address.
fn throttle_keys(email: &str, client: IpAddr) -> [String; 2] {
    let email: String = email.trim().to_lowercase().chars().take(254).collect();
    [format!("email:{email}"), format!("ip:{}", crate::infra::limits::client_network(client))]
}

/// Checks a password for `email` through the throttle: 429 while the email or the address
/// has failed too often, 401 on a mismatch (counted), the account's id and kind on success.
async fn check_password(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: String,
    account: Option<AccountChoice>,
) -> Result<(AccountKind, String, i64), ApiError> {
    let keys = throttle_keys(email, client);
    if let Err(seconds) = state.limits.login_attempt(&keys).await {
        return Err(ApiError::rate_limited(seconds, "Too many failed sign-ins; retry after Retry-After seconds."));
    }
    let found = match Email::parse(email, "email") {
        Err(_) => Vec::new(),
        Ok(email) => find_accounts(state, &email, account).await?,
    };
    // No account: the same work against a decoy, so the answer's timing does not tell.
    if found.is_empty() {
        let hash = decoy_hash().to_owned();
        hashing(state, move || accounts::verify_password(&password, &hash)).await?;
        return Err(ApiError::unauthorized("Wrong email or password."));
    }
    // Staff first, then a customer account with the same email (when no kind was chosen).
    for (kind, id, version, hash) in found {
        let candidate = password.clone();
        if hashing(state, move || accounts::verify_password(&candidate, &hash)).await? {
            state.limits.login_succeeded(&keys, &keys[0]).await;
            return Ok((kind, id, version));
        }
    }
    Err(ApiError::unauthorized("Wrong email or password."))
}

/// The accounts `email` may sign in to, in the order they are tried: the chosen kind, or
/// staff first and then customer when none is chosen.
async fn find_accounts(
    state: &AppState,
    email: &Email,
    account: Option<AccountChoice>,
) -> Result<Vec<(AccountKind, String, i64, String)>, ApiError> {
    let mut found = Vec::new();
    if account != Some(AccountChoice::Customer)
        && let Some(staff) = accounts::find_staff_login(&state.db, email).await?
    {
        let version = accounts::staff_access(&state.db, &staff.id).await?.map_or(0, |a| a.version);
        found.push((AccountKind::Staff, staff.id, version, staff.password_hash));
    }
    if account != Some(AccountChoice::Staff)
        && let Some((id, hash)) = accounts::find_customer_login(&state.db, email).await?
    {
        found.push((AccountKind::Customer, id, 0, hash));
    }
    Ok(found)
}

/// Signs in with email and password: a new session family.
pub async fn login(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: String,
    account: Option<AccountChoice>,
) -> Result<TokenPair, ApiError> {
    let (kind, id, version) = check_password(state, client, email, password, account).await?;
    let txn = state.writer.begin().await?;
    let session = accounts::issue_session(&txn, kind, &id, lifetimes(state)).await?;
    txn.commit().await?;
    pair(state, kind, &id, version, session.refresh_token)
}

fn pair(
    state: &AppState,
    kind: AccountKind,
    id: &str,
    version: i64,
    refresh_token: String,
) -> Result<TokenPair, ApiError> {
    Ok(TokenPair {
        access_token: state.tokens.issue(kind, id, version)?,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_seconds(),
    })
}

/// Trades a refresh token for a new pair. A token used twice revokes its whole family.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<TokenPair, ApiError> {
    let txn = state.writer.begin().await?;
    let session = match accounts::refresh_session(&txn, refresh_token, lifetimes(state)).await? {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Invalid => return Err(ApiError::unauthorized("The refresh token is invalid or expired.")),
        RefreshOutcome::Reused => {
            // Keep the revocation: commit before refusing.
            txn.commit().await?;
            tracing::warn!("refresh token reused; its session family is revoked");
            return Err(ApiError::unauthorized("The refresh token was already used; sign in again."));
        }
    };
    let version = match session.account_kind {
        AccountKind::Staff => {
            accounts::staff_access(&txn, &session.account_id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("The account is disabled."))?
                .version
        }
        AccountKind::Customer => {
            if accounts::get_customer(&txn, &session.account_id).await?.is_none() {
                return Err(ApiError::unauthorized("The account is disabled."));
            }
            0
        }
    };
    txn.commit().await?;
    pair(state, session.account_kind, &session.account_id, version, session.refresh_token)
}

/// Revokes a refresh token's session. Unknown tokens are accepted (logout is idempotent).
pub async fn logout(state: &AppState, refresh_token: &str) -> Result<(), ApiError> {
    let txn = state.writer.begin().await?;
    accounts::revoke_session(&txn, refresh_token).await?;
    txn.commit().await?;
    Ok(())
}
