//! Locations stock is kept at: a code people use, a name, a priority (lower first when an
//! order takes stock) and whether it ships at all.

use chrono::{DateTime, Utc};
use emporium_core::db::{is_unique_violation, now, statement};
use emporium_core::{Expected, ValidationErrors, id};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use crate::InventoryError;

/// Prefix of location ids.
pub const LOCATION_ID_PREFIX: &str = "loc";

/// A location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: String,
    pub code: String,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// Moved by every change: what `If-Match` compares.
    pub version: i64,
}

/// A new location, checked.
#[derive(Debug, Clone)]
pub struct NewLocation {
    pub code: String,
    pub name: String,
    pub priority: i32,
}

/// A change to a location.
#[derive(Debug, Clone, Default)]
pub struct LocationChange {
    pub name: Option<String>,
    pub priority: Option<i32>,
    pub active: Option<bool>,
}

fn check_name(errors: &mut ValidationErrors, name: &str) -> String {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.add("name", "invalid", "must be 1 to 100 characters, without control characters");
    }
    name.to_owned()
}

impl NewLocation {
    /// Checks a code (1 to 40 lower-case letters, digits and dashes), a name and a priority.
    pub fn parse(code: &str, name: &str, priority: Option<i64>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let valid_code = !code.is_empty()
            && code.len() <= 40
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_code {
            errors.add("code", "invalid", "must be 1 to 40 lower-case letters, digits and dashes");
        }
        let name = check_name(&mut errors, name);
        let priority = check_priority(&mut errors, priority.unwrap_or(0));
        errors.finish(Self { code: code.to_owned(), name, priority })
    }
}

fn check_priority(errors: &mut ValidationErrors, priority: i64) -> i32 {
    match i32::try_from(priority) {
        Ok(p) if (0..=10_000).contains(&p) => p,
        _ => {
            errors.add("priority", "out_of_range", "must be between 0 and 10000");
            0
        }
    }
}

impl LocationChange {
    /// Checks a change's fields.
    pub fn parse(name: Option<&str>, priority: Option<i64>, active: Option<bool>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = name.map(|n| check_name(&mut errors, n));
        let priority = priority.map(|p| check_priority(&mut errors, p));
        errors.finish(Self { name, priority, active })
    }
}

const COLUMNS: &str = "id, code, name, priority, active, created_at, version";

fn location(row: &QueryResult) -> Result<Location, DbErr> {
    Ok(Location {
        id: row.try_get("", "id")?,
        code: row.try_get("", "code")?,
        name: row.try_get("", "name")?,
        priority: row.try_get("", "priority")?,
        active: row.try_get("", "active")?,
        created_at: row.try_get("", "created_at")?,
        version: row.try_get("", "version")?,
    })
}

/// Creates a location; a code already in use is 409 `location_code_taken`.
pub async fn create_location<C: ConnectionTrait>(db: &C, new: &NewLocation) -> Result<Location, InventoryError> {
    let created = Location {
        id: id::new_id(LOCATION_ID_PREFIX),
        code: new.code.clone(),
        name: new.name.clone(),
        priority: new.priority,
        active: true,
        created_at: now(),
        version: 1,
    };
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO locations (id, code, name, priority, active, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            created.id.clone().into(),
            created.code.clone().into(),
            created.name.clone().into(),
            created.priority.into(),
            true.into(),
            created.created_at.into(),
        ],
    ))
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "locations", "code") { InventoryError::LocationCodeTaken } else { e.into() }
    })?;
    Ok(created)
}

/// Creates a location if none has `code`; returns its id either way (the demo seed).
pub async fn ensure_location<C: ConnectionTrait>(db: &C, code: &str, name: &str) -> Result<String, DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "INSERT INTO locations (id, code, name, priority, active, created_at) VALUES (?, ?, ?, 0, ?, ?) \
         ON CONFLICT (code) DO NOTHING",
        [id::new_id(LOCATION_ID_PREFIX).into(), code.into(), name.into(), true.into(), now().into()],
    ))
    .await?;
    let row = db
        .query_one_raw(statement(backend, "SELECT id FROM locations WHERE code = ?", [code.into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("location {code}")))?;
    row.try_get("", "id")
}

/// Every location, by priority then code. Locations are few (a shop's warehouses and stores).
pub async fn list_locations<C: ConnectionTrait>(db: &C) -> Result<Vec<Location>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM locations ORDER BY priority, code LIMIT 1000"),
            [],
        ))
        .await?;
    rows.iter().map(location).collect()
}

/// The location with this code.
pub async fn location_by_code<C: ConnectionTrait>(db: &C, code: &str) -> Result<Option<Location>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM locations WHERE code = ?"),
            [code.into()],
        ))
        .await?;
    row.as_ref().map(location).transpose()
}

/// Changes a location, if it is at a version `expected` admits (`Stale` otherwise, and
/// `LocationNotFound` when no location has the code).
pub async fn change_location<C: ConnectionTrait>(
    db: &C,
    code: &str,
    change: &LocationChange,
    expected: &Expected,
) -> Result<Location, InventoryError> {
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> =
        vec![change.name.clone().into(), change.priority.into(), change.active.into(), code.into()];
    values.extend(versions);
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE locations SET name = COALESCE(?, name), priority = COALESCE(?, priority), \
                 active = COALESCE(?, active), version = version + 1 WHERE code = ?{condition}"
            ),
            values,
        ))
        .await?
        .rows_affected();
    match location_by_code(db, code).await? {
        None => Err(InventoryError::LocationNotFound),
        Some(_) if changed == 0 => Err(InventoryError::Stale),
        Some(location) => Ok(location),
    }
}
