//! Inventory: stock per variant per location, changed only by conditional statements and
//! recorded in a movement ledger.
//!
//! Built so far: locations, adjustments and availability, which the catalog's product reads
//! and the demo seed use. Reservations at checkout and the REST routes come with their issue.

use std::collections::HashMap;

use chrono::Utc;
use emporium_core::db::statement;
use emporium_core::{DomainError, ErrorCode, ErrorKind, id};
use sea_orm::{ConnectionTrait, DbErr, Value};

/// Prefix of location ids.
pub const LOCATION_ID_PREFIX: &str = "loc";

/// Why an inventory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The adjustment would take on-hand stock below zero, or below what is reserved.
    #[error("not enough stock: {available} available, {requested} requested")]
    InsufficientStock { requested: i64, available: i64 },
    /// No location with that code.
    #[error("location not found")]
    LocationNotFound,
    /// The database failed.
    #[error("database error")]
    Database(#[from] DbErr),
}

/// Every code an inventory operation may answer.
pub const ERROR_CODES: &[ErrorCode] = &[
    ErrorCode {
        code: "insufficient_stock",
        kind: ErrorKind::Conflict,
        meaning: "On-hand would go below zero or below what is reserved.",
    },
    ErrorCode { code: "not_found", kind: ErrorKind::NotFound, meaning: "No such location or SKU." },
];

impl DomainError for InventoryError {
    fn code(&self) -> &'static str {
        match self {
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::LocationNotFound => "not_found",
            Self::Database(e) => e.code(),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            Self::InsufficientStock { .. } => ErrorKind::Conflict,
            Self::LocationNotFound => ErrorKind::NotFound,
            Self::Database(e) => e.kind(),
        }
    }
}

/// Creates a location if none has `code`; returns its id either way.
pub async fn ensure_location<C: ConnectionTrait>(db: &C, code: &str, name: &str) -> Result<String, DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "INSERT INTO locations (id, code, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (code) DO NOTHING",
        [id::new_id(LOCATION_ID_PREFIX).into(), code.into(), name.into(), Utc::now().into()],
    ))
    .await?;
    let row = db
        .query_one_raw(statement(backend, "SELECT id FROM locations WHERE code = ?", [code.into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("location {code}")))?;
    row.try_get_by_index(0)
}

/// Adds (or, with a negative delta, removes) units of a variant at a location and records the
/// movement. One conditional statement decides, so concurrent adjustments never take on-hand
/// below zero or below what is reserved.
pub async fn adjust<C: ConnectionTrait>(
    db: &C,
    variant_id: &str,
    location_id: &str,
    delta: i64,
    reason: &str,
) -> Result<(), InventoryError> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    db.execute_raw(statement(
        backend,
        "INSERT INTO stock_levels (variant_id, location_id, on_hand, reserved, updated_at) \
         VALUES (?, ?, 0, 0, ?) ON CONFLICT (variant_id, location_id) DO NOTHING",
        [variant_id.into(), location_id.into(), now.into()],
    ))
    .await?;
    let changed = db
        .execute_raw(statement(
            backend,
            "UPDATE stock_levels SET on_hand = on_hand + ?, updated_at = ? \
             WHERE variant_id = ? AND location_id = ? AND on_hand + ? >= reserved",
            [delta.into(), now.into(), variant_id.into(), location_id.into(), delta.into()],
        ))
        .await?
        .rows_affected();
    if changed == 0 {
        let available = available(db, &[variant_id.to_owned()]).await?.get(variant_id).copied().unwrap_or(0);
        return Err(InventoryError::InsufficientStock { requested: -delta, available });
    }
    db.execute_raw(statement(
        backend,
        "INSERT INTO stock_movements (id, variant_id, location_id, delta, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [id::new_id("mov").into(), variant_id.into(), location_id.into(), delta.into(), reason.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Units that can be bought now (on hand minus reserved, over all locations), per variant.
/// Variants without stock rows are left out (they have none).
pub async fn available<C: ConnectionTrait>(db: &C, variant_ids: &[String]) -> Result<HashMap<String, i64>, DbErr> {
    if variant_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT variant_id, CAST(SUM(on_hand - reserved) AS BIGINT) FROM stock_levels WHERE variant_id IN ({}) GROUP BY variant_id",
        vec!["?"; variant_ids.len()].join(", ")
    );
    let values: Vec<Value> = variant_ids.iter().map(|id| id.clone().into()).collect();
    let rows = db.query_all_raw(statement(db.get_database_backend(), &sql, values)).await?;
    rows.iter().map(|row| Ok((row.try_get_by_index::<String>(0)?, row.try_get_by_index::<i64>(1)?))).collect()
}
