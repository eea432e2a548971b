//! Staff accounts and their permissions.

use chrono::Utc;
use emporium_core::db::statement;
use emporium_core::id;
use sea_orm::ConnectionTrait;

use crate::AccountError;

/// What a staff member (or later an API key) may do. Stored as space-separated names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    CatalogRead,
    CatalogWrite,
    InventoryRead,
    InventoryWrite,
    OrdersRead,
    OrdersWrite,
}

impl Permission {
    /// Every permission: what `emporium admin create` grants.
    pub const ALL: [Permission; 6] = [
        Self::CatalogRead,
        Self::CatalogWrite,
        Self::InventoryRead,
        Self::InventoryWrite,
        Self::OrdersRead,
        Self::OrdersWrite,
    ];

    /// The scope name, e.g. `catalog:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CatalogRead => "catalog:read",
            Self::CatalogWrite => "catalog:write",
            Self::InventoryRead => "inventory:read",
            Self::InventoryWrite => "inventory:write",
            Self::OrdersRead => "orders:read",
            Self::OrdersWrite => "orders:write",
        }
    }

    /// Parses a scope name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// A staff account as stored. Its `Debug` output leaves the password hash out.
#[derive(Clone)]
pub struct StaffAccount {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub permissions: Vec<Permission>,
}

impl std::fmt::Debug for StaffAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffAccount")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"***")
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// Emails are compared without regard to case or surrounding spaces.
fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn check_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(local), Some(domain), None)
        if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            && email.len() <= 254 && !email.chars().any(char::is_whitespace))
}

/// Creates a staff account with `permissions`, or does nothing if the email already has one.
/// Returns whether an account was created.
pub async fn create_staff<C: ConnectionTrait>(
    db: &C,
    email: &str,
    password_hash: &str,
    permissions: &[Permission],
) -> Result<bool, AccountError> {
    let email = normalize_email(email);
    if !check_email(&email) {
        return Err(AccountError::Invalid(emporium_core::ValidationErrors::single(
            "email",
            "invalid_email",
            "must be an email address",
        )));
    }
    let now = Utc::now();
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    let inserted = db
        .execute_raw(statement(
            db.get_database_backend(),
            "INSERT INTO staff_accounts (id, email, password_hash, permissions, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING",
            [
                id::new_id("staff").into(),
                email.into(),
                password_hash.into(),
                names.join(" ").into(),
                now.into(),
                now.into(),
            ],
        ))
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

/// The enabled staff account with this email, if any.
pub async fn find_staff_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<StaffAccount>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT id, email, password_hash, permissions FROM staff_accounts WHERE email = ? AND disabled_at IS NULL",
            [normalize_email(email).into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let permissions: String = row.try_get_by_index(3)?;
    Ok(Some(StaffAccount {
        id: row.try_get_by_index(0)?,
        email: row.try_get_by_index(1)?,
        password_hash: row.try_get_by_index(2)?,
        permissions: permissions.split_whitespace().filter_map(Permission::parse).collect(),
    }))
}

/// The permissions of an enabled staff account, or `None` if it is gone or disabled.
pub async fn staff_permissions<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
) -> Result<Option<Vec<Permission>>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT permissions FROM staff_accounts WHERE id = ? AND disabled_at IS NULL",
            [staff_id.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => {
            Some(row.try_get_by_index::<String>(0)?.split_whitespace().filter_map(Permission::parse).collect())
        }
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let account = StaffAccount {
            id: "stf_1".into(),
            email: "a@shop.test".into(),
            password_hash: "$argon2id$secret-hash".into(),
            permissions: vec![Permission::CatalogRead],
        };
        assert!(!format!("{account:?}").contains("secret-hash"));
        let session = crate::sessions::Session {
            refresh_token: "the-refresh-token".into(),
            account_kind: crate::AccountKind::Staff,
            account_id: "stf_1".into(),
            expires_at: chrono::Utc::now(),
        };
        assert!(!format!("{session:?}").contains("the-refresh-token"));
    }
}
