//! Customer accounts: registration, profile, password and the staff's search.

use chrono::{DateTime, Utc};
use emporium_core::db::{is_unique_violation, like_escape, statement};
use emporium_core::{Expected, ValidationErrors, id};
use sea_orm::{ConnectionTrait, QueryResult};

use crate::{AccountError, Email};

/// A customer as they and the staff see them.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub created_at: DateTime<Utc>,
    /// Moved by every change of the profile (not of the password or the addresses): what
    /// `If-Match` compares.
    pub version: i64,
}

/// A person's name part: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Parses a name; `field` names it in the error.
    pub fn parse(text: &str, field: &str) -> Result<Self, ValidationErrors> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ValidationErrors::single(field, "required", "must not be empty"));
        }
        if trimmed.chars().count() > 100 || trimmed.chars().any(char::is_control) {
            return Err(ValidationErrors::single(
                field,
                "invalid",
                "must be at most 100 characters, without control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registration, checked.
#[derive(Debug)]
pub struct NewCustomer {
    pub email: Email,
    pub first_name: Name,
    pub last_name: Name,
}

/// A change of names.
#[derive(Debug, Default)]
pub struct CustomerChange {
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
}

const COLUMNS: &str = "id, email, first_name, last_name, created_at, version";

fn customer(row: &QueryResult) -> Result<Customer, AccountError> {
    Ok(Customer {
        id: row.try_get("", "id")?,
        email: Email::from_stored(row.try_get("", "email")?),
        first_name: row.try_get("", "first_name")?,
        last_name: row.try_get("", "last_name")?,
        created_at: row.try_get("", "created_at")?,
        version: row.try_get("", "version")?,
    })
}

/// Registers a customer; an email already registered is 409 `email_taken` (the unique index
/// decides, so of two racing registrations exactly one succeeds).
pub async fn register_customer<C: ConnectionTrait>(
    db: &C,
    new: &NewCustomer,
    password_hash: &str,
) -> Result<Customer, AccountError> {
    let now = emporium_core::db::now();
    let customer_id = id::new_id("cus");
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO customers (id, email, password_hash, first_name, last_name, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            customer_id.clone().into(),
            new.email.as_str().into(),
            password_hash.into(),
            new.first_name.as_str().into(),
            new.last_name.as_str().into(),
            now.into(),
            now.into(),
        ],
    ))
    .await
    .map_err(|e| if is_unique_violation(&e, "customers", "email") { AccountError::EmailTaken } else { e.into() })?;
    Ok(Customer {
        id: customer_id,
        email: new.email.clone(),
        first_name: new.first_name.as_str().to_owned(),
        last_name: new.last_name.as_str().to_owned(),
        created_at: now,
        version: 1,
    })
}

/// The id and password hash of the enabled customer with this email, for signing in.
pub async fn find_customer_login<C: ConnectionTrait>(
    db: &C,
    email: &Email,
) -> Result<Option<(String, String)>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT id, password_hash FROM customers WHERE email = ? AND disabled_at IS NULL",
            [email.as_str().into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => Some((row.try_get("", "id")?, row.try_get("", "password_hash")?)),
        None => None,
    })
}

/// The password hash of an enabled customer.
pub async fn customer_password_hash<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<Option<String>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT password_hash FROM customers WHERE id = ? AND disabled_at IS NULL",
            [customer_id.into()],
        ))
        .await?;
    Ok(row.map(|row| row.try_get("", "password_hash")).transpose()?)
}

/// One enabled customer.
pub async fn get_customer<C: ConnectionTrait>(db: &C, customer_id: &str) -> Result<Option<Customer>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM customers WHERE id = ? AND disabled_at IS NULL"),
            [customer_id.into()],
        ))
        .await?;
    row.as_ref().map(customer).transpose()
}

/// Changes a customer's names, if the profile is at a version `expected` admits
/// (`NotFound` when there is no enabled customer, `Stale` when it is at another version).
pub async fn change_customer<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    change: &CustomerChange,
    expected: &Expected,
) -> Result<Customer, AccountError> {
    let backend = db.get_database_backend();
    let first: Option<String> = change.first_name.as_ref().map(|n| n.as_str().to_owned());
    let last: Option<String> = change.last_name.as_ref().map(|n| n.as_str().to_owned());
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> =
        vec![first.into(), last.into(), emporium_core::db::now().into(), customer_id.into()];
    values.extend(versions);
    let changed = db
        .execute_raw(statement(
            backend,
            &format!(
                "UPDATE customers SET first_name = COALESCE(?, first_name), last_name = COALESCE(?, last_name), \
                 updated_at = ?, version = version + 1 WHERE id = ? AND disabled_at IS NULL{condition}"
            ),
            values,
        ))
        .await?
        .rows_affected();
    match get_customer(db, customer_id).await? {
        None => Err(AccountError::NotFound("customer")),
        Some(_) if changed == 0 => Err(AccountError::Stale("customer")),
        Some(customer) => Ok(customer),
    }
}

/// Replaces a customer's password hash.
pub async fn set_customer_password<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    password_hash: &str,
) -> Result<bool, AccountError> {
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE customers SET password_hash = ?, updated_at = ? WHERE id = ? AND disabled_at IS NULL",
            [password_hash.into(), emporium_core::db::now().into(), customer_id.into()],
        ))
        .await?
        .rows_affected();
    Ok(changed == 1)
}

/// Customers in registration order after the id `after`, whose email or name contains `q`
/// (without regard to case).
pub async fn search_customers<C: ConnectionTrait>(
    db: &C,
    q: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Customer>, AccountError> {
    let pattern = format!("%{}%", like_escape(&q.unwrap_or("").trim().to_lowercase()));
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT {COLUMNS} FROM customers WHERE id > ? AND disabled_at IS NULL \
                 AND (email LIKE ? ESCAPE '\\' OR LOWER(first_name || ' ' || last_name) LIKE ? ESCAPE '\\') \
                 ORDER BY id LIMIT ?"
            ),
            [after.unwrap_or("").into(), pattern.clone().into(), pattern.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(customer).collect()
}
