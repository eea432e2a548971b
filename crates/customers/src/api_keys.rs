//! Integrator API keys: a random secret shown once (`emp_` + 256 random bits), of which only
//! a SHA-256 hash is kept, acting as staff limited to its scopes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use emporium_core::db::statement;
use emporium_core::{ValidationErrors, id};
use rand::RngCore;
use sea_orm::{ConnectionTrait, QueryResult};
use sha2::{Digest, Sha256};

use crate::{AccountError, Permission, Permissions};

/// Every key starts with this.
pub const KEY_PREFIX: &str = "emp_";
/// Characters of a key kept in the clear, so a person can tell keys apart.
const SHOWN_CHARS: usize = 12;

/// A key as listed: never its secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Permissions,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key just created, with its secret (shown this once). `Debug` leaves the secret out.
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey").field("key", &self.key).finish_non_exhaustive()
    }
}

/// A key request, checked.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Permissions,
}

impl NewApiKey {
    /// Checks a name (1 to 100 characters) and scope names (known, at least one).
    pub fn parse(name: &str, scopes: &[String]) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.add("name", "invalid", "must be 1 to 100 characters, without control characters");
        }
        if scopes.is_empty() {
            errors.add("scopes", "required", "must name at least one scope");
        }
        let mut granted = Vec::new();
        for (i, scope) in scopes.iter().enumerate() {
            match Permission::parse_scope(scope) {
                Some(p) => granted.push(p),
                None => errors.add(
                    format!("scopes[{i}]"),
                    "unknown_scope",
                    format!(
                        "must be one of {}",
                        Permission::SCOPES.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
        }
        errors.finish(Self { name: name.to_owned(), scopes: Permissions::of(&granted) })
    }
}

/// The stored hash of a secret. Keys carry 256 random bits, so a fast hash is enough.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

const COLUMNS: &str = "id, name, prefix, scopes, created_at, last_used_at";

fn key(row: &QueryResult) -> Result<ApiKey, AccountError> {
    let scopes: String = row.try_get("", "scopes")?;
    Ok(ApiKey {
        id: row.try_get("", "id")?,
        name: row.try_get("", "name")?,
        prefix: row.try_get("", "prefix")?,
        scopes: Permissions::from_stored(&scopes),
        created_at: row.try_get("", "created_at")?,
        last_used_at: row.try_get("", "last_used_at")?,
    })
}

/// Creates a key for `created_by` (a staff id).
pub async fn create_api_key<C: ConnectionTrait>(
    db: &C,
    created_by: &str,
    new: &NewApiKey,
) -> Result<IssuedKey, AccountError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix: String = secret.chars().take(SHOWN_CHARS).collect();
    let now = emporium_core::db::now();
    let key_id = id::new_id("key");
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            key_id.clone().into(),
            new.name.clone().into(),
            prefix.clone().into(),
            hash_secret(&secret).into(),
            new.scopes.to_stored().into(),
            created_by.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(IssuedKey {
        key: ApiKey {
            id: key_id,
            name: new.name.clone(),
            prefix,
            scopes: new.scopes,
            created_at: now,
            last_used_at: None,
        },
        secret,
    })
}

/// Live keys in creation order after the id `after`.
pub async fn list_api_keys<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<ApiKey>, AccountError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND id > ? ORDER BY id LIMIT ?"),
            [after.unwrap_or("").into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(key).collect()
}

/// Revokes a live key; whether there was one.
pub async fn revoke_api_key<C: ConnectionTrait>(db: &C, key_id: &str) -> Result<bool, AccountError> {
    let revoked = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [emporium_core::db::now().into(), key_id.into()],
        ))
        .await?
        .rows_affected();
    Ok(revoked == 1)
}

/// The id and scopes of the live key whose hash is `secret_hash`.
pub async fn find_api_key<C: ConnectionTrait>(
    db: &C,
    secret_hash: &str,
) -> Result<Option<(String, Permissions)>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT id, scopes FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL",
            [secret_hash.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => Some((row.try_get("", "id")?, Permissions::from_stored(&row.try_get::<String>("", "scopes")?))),
        None => None,
    })
}

/// Records when keys were last used, in one statement per key; an older time never
/// overwrites a newer one.
pub async fn record_key_use<C: ConnectionTrait>(db: &C, uses: &[(String, DateTime<Utc>)]) -> Result<(), AccountError> {
    let backend = db.get_database_backend();
    for (key_id, at) in uses {
        db.execute_raw(statement(
            backend,
            "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
            [(*at).into(), key_id.clone().into(), (*at).into()],
        ))
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_by_name() {
        assert!(NewApiKey::parse("erp", &["catalog:read".into()]).is_ok());
        let refused = NewApiKey::parse("", &["staff:manage".into()]);
        let fields: Vec<String> =
            refused.err().map(|e| e.errors().iter().map(|f| f.field.clone()).collect()).unwrap_or_default();
        assert_eq!(fields, ["name", "scopes[0]"]);
        assert!(NewApiKey::parse("erp", &[]).is_err());
    }
}
