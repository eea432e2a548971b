//! Refresh-token sessions: opaque random tokens stored only as SHA-256 hashes, rotated on
//! every use; presenting a spent token revokes its whole family (it was stolen or replayed).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use emporium_core::db::statement;
use emporium_core::id;
use rand::RngCore;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use crate::{AccountError, AccountKind};

/// A newly issued refresh token (shown to the client once) and whose it is. Its `Debug` output
/// leaves the token out.
#[derive(Clone)]
pub struct Session {
    pub refresh_token: String,
    pub account_kind: AccountKind,
    pub account_id: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("refresh_token", &"***")
            .field("account_kind", &self.account_kind)
            .field("account_id", &self.account_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a refresh attempt found.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// The token was live: here is its successor.
    Rotated(Session),
    /// Unknown, expired or revoked token.
    Invalid,
    /// The token was already spent: the family is now revoked.
    Reused,
}

fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How long refresh tokens live: each one, and the family it rotates within (a family ends at
/// its absolute lifetime however often it was refreshed: a stolen, kept-alive family dies too).
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    pub token: Duration,
    pub family: Duration,
}

/// Starts a new session family for an account.
pub async fn issue_session<C: ConnectionTrait>(
    db: &C,
    kind: AccountKind,
    account_id: &str,
    lifetimes: SessionLifetimes,
) -> Result<Session, AccountError> {
    let family_ends = emporium_core::db::now() + lifetimes.family;
    insert(db, &id::new_id("fam"), kind, account_id, lifetimes.token, family_ends).await
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    family_id: &str,
    kind: AccountKind,
    account_id: &str,
    ttl: Duration,
    family_ends: DateTime<Utc>,
) -> Result<Session, AccountError> {
    let token = new_token();
    let now = emporium_core::db::now();
    let expires_at = (now + ttl).min(family_ends);
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO refresh_tokens (id, family_id, account_kind, account_id, token_hash, expires_at, \
         family_expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            id::new_id("rt").into(),
            family_id.into(),
            kind.as_str().into(),
            account_id.into(),
            hash_token(&token).into(),
            expires_at.into(),
            family_ends.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(Session { refresh_token: token, account_kind: kind, account_id: account_id.to_owned(), expires_at })
}

/// Spends `token` and issues its successor in the same family.
pub async fn refresh_session<C: ConnectionTrait>(
    db: &C,
    token: &str,
    lifetimes: SessionLifetimes,
) -> Result<RefreshOutcome, AccountError> {
    // Tokens issued before families had an absolute end carry none: theirs starts now.
    let default_family_end = emporium_core::db::now() + lifetimes.family;
    let backend = db.get_database_backend();
    let Some(row) = db
        .query_one_raw(statement(
            backend,
            "SELECT id, family_id, account_kind, account_id, expires_at, used_at, revoked_at, family_expires_at \
             FROM refresh_tokens WHERE token_hash = ?",
            [hash_token(token).into()],
        ))
        .await?
    else {
        return Ok(RefreshOutcome::Invalid);
    };
    let token_id: String = row.try_get("", "id")?;
    let family_id: String = row.try_get("", "family_id")?;
    let kind =
        AccountKind::parse(&row.try_get::<String>("", "account_kind")?).ok_or(AccountError::InvalidCredentials)?;
    let account_id: String = row.try_get("", "account_id")?;
    let expires_at: DateTime<Utc> = row.try_get("", "expires_at")?;
    let used_at: Option<DateTime<Utc>> = row.try_get("", "used_at")?;
    let revoked_at: Option<DateTime<Utc>> = row.try_get("", "revoked_at")?;
    let family_ends: DateTime<Utc> =
        row.try_get::<Option<DateTime<Utc>>>("", "family_expires_at")?.unwrap_or(default_family_end);
    if revoked_at.is_some() || expires_at <= emporium_core::db::now() {
        return Ok(RefreshOutcome::Invalid);
    }
    if used_at.is_some() {
        revoke_family(db, &family_id).await?;
        return Ok(RefreshOutcome::Reused);
    }
    // Conditional: of two concurrent refreshes with one token, exactly one spends it.
    let spent = db
        .execute_raw(statement(
            backend,
            "UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL",
            [emporium_core::db::now().into(), token_id.into()],
        ))
        .await?
        .rows_affected();
    if spent == 0 {
        revoke_family(db, &family_id).await?;
        return Ok(RefreshOutcome::Reused);
    }
    if family_ends <= emporium_core::db::now() {
        return Ok(RefreshOutcome::Invalid);
    }
    Ok(RefreshOutcome::Rotated(insert(db, &family_id, kind, &account_id, lifetimes.token, family_ends).await?))
}

/// Revokes the session `token` belongs to. Unknown tokens are ignored (logout is idempotent).
pub async fn revoke_session<C: ConnectionTrait>(db: &C, token: &str) -> Result<(), AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT family_id FROM refresh_tokens WHERE token_hash = ?",
            [hash_token(token).into()],
        ))
        .await?;
    if let Some(row) = row {
        revoke_family(db, &row.try_get::<String>("", "family_id")?).await?;
    }
    Ok(())
}

async fn revoke_family<C: ConnectionTrait>(db: &C, family_id: &str) -> Result<(), AccountError> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        [emporium_core::db::now().into(), family_id.into()],
    ))
    .await?;
    Ok(())
}

/// Revokes every session of an account (a password change, a disabled account).
pub async fn revoke_account_sessions<C: ConnectionTrait>(
    db: &C,
    kind: AccountKind,
    account_id: &str,
) -> Result<u64, AccountError> {
    Ok(db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE refresh_tokens SET revoked_at = ? WHERE account_kind = ? AND account_id = ? AND revoked_at IS NULL",
            [emporium_core::db::now().into(), kind.as_str().into(), account_id.into()],
        ))
        .await?
        .rows_affected())
}

/// Deletes refresh tokens past their expiry: they can no longer be used, and a reused one
/// that expired is refused as unknown, which is just as safe.
pub async fn purge_expired_sessions<C: ConnectionTrait>(db: &C) -> Result<u64, AccountError> {
    Ok(db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM refresh_tokens WHERE expires_at < ?",
            [emporium_core::db::now().into()],
        ))
        .await?
        .rows_affected())
}
