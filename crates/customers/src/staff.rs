//! Staff accounts: an email, a password hash and a role. Every change moves `version`, which
//! the gateway compares with what it cached, so a disabled account or a new role takes effect
//! within seconds rather than at token expiry.

use chrono::{DateTime, Utc};
use emporium_core::db::{is_unique_violation, statement};
use emporium_core::id;
use sea_orm::{ConnectionTrait, QueryResult};

use crate::{AccountError, Email, Role};

/// A staff account with its password hash, for signing in. `Debug` leaves the hash out.
#[derive(Clone)]
pub struct StaffLogin {
    pub id: String,
    pub password_hash: String,
    pub role: Role,
}

impl std::fmt::Debug for StaffLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffLogin").field("id", &self.id).field("role", &self.role).finish_non_exhaustive()
    }
}

/// A staff account as others see it.
#[derive(Debug, Clone)]
pub struct StaffMember {
    pub id: String,
    pub email: Email,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// What a live staff token's holder may currently do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffAccess {
    pub role: Role,
    pub version: i64,
}

/// A change to a staff account.
#[derive(Debug, Clone, Default)]
pub struct StaffChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

const COLUMNS: &str = "id, email, role, disabled_at, created_at";

fn member(row: &QueryResult) -> Result<StaffMember, AccountError> {
    let role: String = row.try_get("", "role")?;
    Ok(StaffMember {
        id: row.try_get("", "id")?,
        email: Email::from_stored(row.try_get("", "email")?),
        role: Role::parse(&role).unwrap_or(Role::Support),
        disabled: row.try_get::<Option<DateTime<Utc>>>("", "disabled_at")?.is_some(),
        created_at: row.try_get("", "created_at")?,
    })
}

/// Creates a staff account, or does nothing if the email already has one (`emporium admin
/// create` is safe to run twice). Returns whether an account was created.
pub async fn ensure_staff<C: ConnectionTrait>(
    db: &C,
    email: &Email,
    password_hash: &str,
    role: Role,
) -> Result<bool, AccountError> {
    let now = emporium_core::db::now();
    let inserted = db
        .execute_raw(statement(
            db.get_database_backend(),
            "INSERT INTO staff_accounts (id, email, password_hash, role, version, created_at, updated_at) \
             VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (email) DO NOTHING",
            [
                id::new_id("staff").into(),
                email.as_str().into(),
                password_hash.into(),
                role.as_str().into(),
                now.into(),
                now.into(),
            ],
        ))
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

/// Creates a staff account; an email that already has one is 409 `email_taken`.
pub async fn create_staff<C: ConnectionTrait>(
    db: &C,
    email: &Email,
    password_hash: &str,
    role: Role,
) -> Result<StaffMember, AccountError> {
    let now = emporium_core::db::now();
    let staff_id = id::new_id("staff");
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO staff_accounts (id, email, password_hash, role, version, created_at, updated_at) \
         VALUES (?, ?, ?, ?, 1, ?, ?)",
        [
            staff_id.clone().into(),
            email.as_str().into(),
            password_hash.into(),
            role.as_str().into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "staff_accounts", "email") { AccountError::EmailTaken } else { e.into() }
    })?;
    Ok(StaffMember { id: staff_id, email: email.clone(), role, disabled: false, created_at: now })
}

/// The enabled staff account with this email, for signing in.
pub async fn find_staff_login<C: ConnectionTrait>(db: &C, email: &Email) -> Result<Option<StaffLogin>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT id, password_hash, role FROM staff_accounts WHERE email = ? AND disabled_at IS NULL",
            [email.as_str().into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.try_get("", "role")?;
    Ok(Some(StaffLogin {
        id: row.try_get("", "id")?,
        password_hash: row.try_get("", "password_hash")?,
        role: Role::parse(&role).unwrap_or(Role::Support),
    }))
}

/// The role and version of an enabled staff account; `None` if it is gone or disabled.
pub async fn staff_access<C: ConnectionTrait>(db: &C, staff_id: &str) -> Result<Option<StaffAccess>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT role, version FROM staff_accounts WHERE id = ? AND disabled_at IS NULL",
            [staff_id.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.try_get("", "role")?;
    let version: i64 = row.try_get("", "version")?;
    Ok(Role::parse(&role).map(|role| StaffAccess { role, version }))
}

/// One staff account.
pub async fn get_staff<C: ConnectionTrait>(db: &C, staff_id: &str) -> Result<Option<StaffMember>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM staff_accounts WHERE id = ?"),
            [staff_id.into()],
        ))
        .await?;
    row.as_ref().map(member).transpose()
}

/// Staff accounts in creation order, after the id `after`.
pub async fn list_staff<C: ConnectionTrait>(
    db: &C,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<StaffMember>, AccountError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM staff_accounts WHERE id > ? ORDER BY id LIMIT ?"),
            [after.unwrap_or("").into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(member).collect()
}

/// Changes a staff account's role or disables (or re-enables) it, moving its version. The
/// last enabled admin can be neither demoted nor disabled (409 `last_admin`). Run it in a write
/// transaction.
pub async fn change_staff<C: ConnectionTrait>(
    db: &C,
    staff_id: &str,
    change: &StaffChange,
) -> Result<Option<StaffMember>, AccountError> {
    let backend = db.get_database_backend();
    // Lock every admin row and the target first (a no-op update, portable to both databases):
    // two admins demoting each other at once are then ordered, and the second sees the first.
    db.execute_raw(statement(
        backend,
        "UPDATE staff_accounts SET updated_at = updated_at WHERE role = 'admin' OR id = ?",
        [staff_id.into()],
    ))
    .await?;
    let Some(current) = get_staff(db, staff_id).await? else { return Ok(None) };
    let role = change.role.unwrap_or(current.role);
    let disabled = change.disabled.unwrap_or(current.disabled);
    let loses_admin = current.role == Role::Admin && !current.disabled && (role != Role::Admin || disabled);
    if loses_admin {
        let others = db
            .query_one_raw(statement(
                backend,
                "SELECT COUNT(*) AS n FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL AND id <> ?",
                [staff_id.into()],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if others == 0 {
            return Err(AccountError::LastAdmin);
        }
    }
    let now = emporium_core::db::now();
    let disabled_at: Option<DateTime<Utc>> = if disabled { Some(now) } else { None };
    db.execute_raw(statement(
        backend,
        "UPDATE staff_accounts SET role = ?, disabled_at = CASE WHEN ? THEN COALESCE(disabled_at, ?) ELSE NULL END, \
         version = version + 1, updated_at = ? WHERE id = ?",
        [role.as_str().into(), disabled.into(), disabled_at.unwrap_or(now).into(), now.into(), staff_id.into()],
    ))
    .await?;
    get_staff(db, staff_id).await
}
