//! Stock levels per variant and location, changed only by conditional statements, and the
//! movement ledger: every change of on-hand appends one movement recording the on-hand it
//! left, so for every variant and location the movements sum to on-hand.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use emporium_core::db::{now, statement};
use emporium_core::{Patch, ValidationErrors, id};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

use crate::{InventoryError, ReservedLine};

/// Largest change one adjustment may make, either way.
pub const MAX_DELTA: i64 = 1_000_000_000;

/// Why on-hand changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Units arrived.
    Restock,
    /// A mistake corrected.
    Correction,
    /// Units damaged or lost.
    Damage,
    /// Units returned by a customer.
    Return,
    /// A stock count's difference.
    Count,
    /// Units sold (written by checkout, not by adjustments).
    Sale,
    /// Units back from a cancelled order (written by cancellation, not by adjustments).
    Cancellation,
}

impl Reason {
    /// The reasons a person may give an adjustment.
    pub const ADJUSTMENTS: [Reason; 5] = [Self::Restock, Self::Correction, Self::Damage, Self::Return, Self::Count];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restock => "restock",
            Self::Correction => "correction",
            Self::Damage => "damage",
            Self::Return => "return",
            Self::Count => "count",
            Self::Sale => "sale",
            Self::Cancellation => "cancellation",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Restock, Self::Correction, Self::Damage, Self::Return, Self::Count, Self::Sale, Self::Cancellation]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// A change of on-hand, checked.
#[derive(Debug, Clone)]
pub struct Adjustment {
    pub variant_id: String,
    pub location_id: String,
    pub delta: i64,
    pub reason: Reason,
    pub note: Option<String>,
    /// Who made it (a staff or key id).
    pub actor: Option<String>,
    /// The order or return behind it.
    pub reference: Option<String>,
}

impl Adjustment {
    /// Checks a delta (non-zero, at most [`MAX_DELTA`] either way) and a note (500 characters).
    pub fn check(delta: i64, note: Option<&str>) -> Result<(i64, Option<String>), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if delta == 0 || delta.unsigned_abs() > MAX_DELTA.unsigned_abs() {
            errors.add("delta", "out_of_range", format!("must be non-zero and at most {MAX_DELTA} either way"));
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
        if note.as_ref().is_some_and(|n| n.chars().count() > 500 || n.chars().any(|c| c.is_control() && c != '\n')) {
            errors.add("note", "invalid", "must be at most 500 characters");
        }
        errors.finish((delta, note))
    }
}

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub id: String,
    pub variant_id: String,
    pub location_code: String,
    pub delta: i64,
    pub reason: Reason,
    pub on_hand_after: i64,
    pub reference: Option<String>,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A level as a movement left it: what `inventory.changed` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub variant_id: String,
    /// The location's code.
    pub location: String,
    pub on_hand: i64,
    /// On hand less reserved, at this location.
    pub available: i64,
}

/// A level whose available units fell to or under its reorder point with one change (they
/// were above it before): the moment a `stock.low` event is due. Reported once per crossing;
/// a level that stays under its point does not cross again until restocked above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReorderCrossing {
    pub variant_id: String,
    pub location_id: String,
    /// Available units after the change.
    pub available: i64,
    pub reorder_point: i64,
}

impl ReorderCrossing {
    /// The crossing a change of available units by `change` made, if it made one.
    pub(crate) fn of(
        variant_id: &str,
        location_id: &str,
        available_after: i64,
        change: i64,
        reorder_point: Option<i64>,
    ) -> Option<Self> {
        let point = reorder_point?;
        (available_after <= point && available_after - change > point).then(|| Self {
            variant_id: variant_id.to_owned(),
            location_id: location_id.to_owned(),
            available: available_after,
            reorder_point: point,
        })
    }
}

/// An adjustment as made: its movement, and the reorder point it crossed, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjusted {
    pub movement: Movement,
    pub crossed: Option<ReorderCrossing>,
    /// The level after it.
    pub moved: Moved,
}

/// Adds (or, with a negative delta, removes) units of a variant at a location and appends the
/// movement. One conditional statement decides, so no concurrency takes on-hand below zero or
/// below what is reserved (409 `insufficient_stock`, nothing changed). Run it in a write
/// transaction.
pub async fn adjust<C: ConnectionTrait>(db: &C, adjustment: &Adjustment) -> Result<Adjusted, InventoryError> {
    let backend = db.get_database_backend();
    let at = now();
    let (variant, location) = (adjustment.variant_id.as_str(), adjustment.location_id.as_str());
    db.execute_raw(statement(
        backend,
        "INSERT INTO stock_levels (variant_id, location_id, on_hand, reserved, updated_at) \
         VALUES (?, ?, 0, 0, ?) ON CONFLICT (variant_id, location_id) DO NOTHING",
        [variant.into(), location.into(), at.into()],
    ))
    .await?;
    let delta = adjustment.delta;
    let after = db
        .query_one_raw(statement(
            backend,
            "UPDATE stock_levels SET on_hand = on_hand + ?, updated_at = ? \
             WHERE variant_id = ? AND location_id = ? AND on_hand + ? >= reserved AND on_hand + ? >= 0 \
             RETURNING on_hand, reserved, reorder_point, \
             (SELECT code FROM locations WHERE locations.id = stock_levels.location_id) AS location",
            [delta.into(), at.into(), variant.into(), location.into(), delta.into(), delta.into()],
        ))
        .await?;
    let Some(after) = after else {
        let available = level_available(db, variant, location).await?;
        return Err(InventoryError::InsufficientStock { requested: -delta, available });
    };
    let on_hand_after: i64 = after.try_get("", "on_hand")?;
    let reserved: i64 = after.try_get("", "reserved")?;
    let crossed =
        ReorderCrossing::of(variant, location, on_hand_after - reserved, delta, after.try_get("", "reorder_point")?);
    let movement_id = id::new_id("mov");
    db.execute_raw(statement(
        backend,
        "INSERT INTO stock_movements (id, variant_id, location_id, delta, reason, on_hand_after, reference, actor, note, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            movement_id.clone().into(),
            variant.into(),
            location.into(),
            delta.into(),
            adjustment.reason.as_str().into(),
            on_hand_after.into(),
            adjustment.reference.clone().into(),
            adjustment.actor.clone().into(),
            adjustment.note.clone().into(),
            at.into(),
        ],
    ))
    .await?;
    let code: String = after.try_get("", "location")?;
    let moved = Moved {
        variant_id: variant.to_owned(),
        location: code.clone(),
        on_hand: on_hand_after,
        available: on_hand_after - reserved,
    };
    let movement = Movement {
        id: movement_id,
        variant_id: variant.to_owned(),
        location_code: code,
        delta,
        reason: adjustment.reason,
        on_hand_after,
        reference: adjustment.reference.clone(),
        actor: adjustment.actor.clone(),
        note: adjustment.note.clone(),
        created_at: at,
    };
    Ok(Adjusted { movement, crossed, moved })
}

async fn level_available<C: ConnectionTrait>(db: &C, variant: &str, location: &str) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT on_hand - reserved AS free FROM stock_levels WHERE variant_id = ? AND location_id = ?",
            [variant.into(), location.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "free")).transpose()?.unwrap_or(0))
}

/// What an unlimited backorder adds to a variant's `available`: the most one reservation may
/// hold of it.
pub const UNLIMITED_BACKORDER: i64 = crate::MAX_QUANTITY;

/// Units that can be bought now, per variant: on hand minus reserved over the active locations,
/// plus what a backorder still allows (its limit less what is backordered, or
/// [`UNLIMITED_BACKORDER`] without a limit). Every id given is answered (0 without stock).
/// One statement, whatever the number of variants.
pub async fn available<C: ConnectionTrait>(db: &C, variant_ids: &[String]) -> Result<HashMap<String, i64>, DbErr> {
    let mut available: HashMap<String, i64> = variant_ids.iter().map(|id| (id.clone(), 0)).collect();
    if variant_ids.is_empty() {
        return Ok(available);
    }
    let marks = vec!["?"; variant_ids.len()].join(", ");
    let ids = variant_ids.iter().map(|id| Value::from(id.clone()));
    // Stock (kind 0) and backorder headroom (kind 1) in one statement.
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT 0 AS kind, s.variant_id, CAST(SUM(s.on_hand - s.reserved) AS BIGINT) AS units, \
                 CAST(NULL AS BIGINT) AS backorder_limit FROM stock_levels s \
                 JOIN locations l ON l.id = s.location_id WHERE l.active AND s.variant_id IN ({marks}) \
                 GROUP BY s.variant_id \
                 UNION ALL SELECT 1 AS kind, variant_id, backordered, backorder_limit FROM inventory_items \
                 WHERE backorder_allowed AND variant_id IN ({marks})"
            ),
            ids.clone().chain(ids),
        ))
        .await?;
    let mut headrooms = Vec::new();
    for row in rows {
        let (id, units): (String, i64) = (row.try_get("", "variant_id")?, row.try_get("", "units")?);
        if row.try_get::<i32>("", "kind")? == 0 {
            available.insert(id, units.max(0));
        } else {
            // `units` is what is backordered already.
            let limit: Option<i64> = row.try_get("", "backorder_limit")?;
            headrooms.push((id, limit.map_or(UNLIMITED_BACKORDER, |limit| (limit - units).max(0))));
        }
    }
    for (id, headroom) in headrooms {
        if let Some(units) = available.get_mut(&id) {
            *units = units.saturating_add(headroom);
        }
    }
    Ok(available)
}

/// Every variant with stock rows at a location (whose availability changes when the location
/// is switched on or off).
pub async fn variants_at<C: ConnectionTrait>(db: &C, location_id: &str) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT variant_id FROM stock_levels WHERE location_id = ? ORDER BY variant_id",
            [location_id.into()],
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "variant_id")).collect()
}

/// Whether a variant may be sold past its stock, and by how many units at most.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backorder {
    pub allowed: bool,
    pub limit: Option<i64>,
}

/// A variant's stock at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub location_code: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub reorder_point: Option<i64>,
    pub reorder_quantity: Option<i64>,
}

/// A variant's stock over every location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockSummary {
    pub on_hand: i64,
    pub reserved: i64,
    pub backorder: Backorder,
    /// Units held or sold beyond stock (never above the backorder limit).
    pub backordered: i64,
    pub levels: Vec<Level>,
}

/// A variant's stock, per location (by priority) and in total.
pub async fn stock<C: ConnectionTrait>(db: &C, variant_id: &str) -> Result<StockSummary, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(statement(
            backend,
            "SELECT l.code, s.on_hand, s.reserved, s.reorder_point, s.reorder_quantity FROM stock_levels s \
             JOIN locations l ON l.id = s.location_id WHERE s.variant_id = ? ORDER BY l.priority, l.code",
            [variant_id.into()],
        ))
        .await?;
    let levels = rows
        .iter()
        .map(|row| {
            Ok(Level {
                location_code: row.try_get("", "code")?,
                on_hand: row.try_get("", "on_hand")?,
                reserved: row.try_get("", "reserved")?,
                reorder_point: row.try_get("", "reorder_point")?,
                reorder_quantity: row.try_get("", "reorder_quantity")?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let (backorder, backordered) = backorder_row(db, variant_id).await?;
    Ok(StockSummary {
        on_hand: levels.iter().map(|l| l.on_hand).sum(),
        reserved: levels.iter().map(|l| l.reserved).sum(),
        backorder,
        backordered,
        levels,
    })
}

/// A variant's backorder setting (off unless set).
pub async fn backorder<C: ConnectionTrait>(db: &C, variant_id: &str) -> Result<Backorder, DbErr> {
    Ok(backorder_row(db, variant_id).await?.0)
}

/// A variant's backorder setting and the units held or sold beyond its stock, in one read.
async fn backorder_row<C: ConnectionTrait>(db: &C, variant_id: &str) -> Result<(Backorder, i64), DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT backorder_allowed, backorder_limit, backordered FROM inventory_items WHERE variant_id = ?",
            [variant_id.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => (
            Backorder { allowed: row.try_get("", "backorder_allowed")?, limit: row.try_get("", "backorder_limit")? },
            row.try_get("", "backordered")?,
        ),
        None => (Backorder::default(), 0),
    })
}

/// Sets a variant's backorder setting. Lowering the limit below what is already backordered
/// keeps those units (nothing more is backordered until it is under the limit again).
pub async fn set_backorder<C: ConnectionTrait>(
    db: &C,
    variant_id: &str,
    backorder: Backorder,
) -> Result<(), InventoryError> {
    if backorder.limit.is_some_and(|l| !(0..=MAX_DELTA).contains(&l)) {
        return Err(ValidationErrors::single(
            "backorder.limit",
            "out_of_range",
            format!("must be between 0 and {MAX_DELTA}"),
        )
        .into());
    }
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO inventory_items (variant_id, backorder_allowed, backorder_limit, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (variant_id) DO UPDATE SET backorder_allowed = excluded.backorder_allowed, \
         backorder_limit = excluded.backorder_limit, updated_at = excluded.updated_at",
        [variant_id.into(), backorder.allowed.into(), backorder.limit.into(), now().into()],
    ))
    .await?;
    Ok(())
}

/// Sets (or, with `Null`, clears) a level's reorder point and quantity; the level is created
/// (empty) if the variant has none at the location yet.
pub async fn set_reorder<C: ConnectionTrait>(
    db: &C,
    variant_id: &str,
    location_id: &str,
    point: Patch<i64>,
    quantity: Patch<i64>,
) -> Result<(), InventoryError> {
    let mut errors = ValidationErrors::new();
    for (field, value) in [("reorder_point", &point), ("reorder_quantity", &quantity)] {
        if let Patch::Value(v) = value
            && !(0..=MAX_DELTA).contains(v)
        {
            errors.add(field, "out_of_range", format!("must be between 0 and {MAX_DELTA}"));
        }
    }
    errors.finish(())?;
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "INSERT INTO stock_levels (variant_id, location_id, on_hand, reserved, updated_at) \
         VALUES (?, ?, 0, 0, ?) ON CONFLICT (variant_id, location_id) DO NOTHING",
        [variant_id.into(), location_id.into(), now().into()],
    ))
    .await?;
    for (column, patch) in [("reorder_point", point), ("reorder_quantity", quantity)] {
        let value: Option<i64> = match patch {
            Patch::Missing => continue,
            Patch::Null => None,
            Patch::Value(v) => Some(v),
        };
        db.execute_raw(statement(
            backend,
            &format!("UPDATE stock_levels SET {column} = ? WHERE variant_id = ? AND location_id = ?"),
            [value.into(), variant_id.into(), location_id.into()],
        ))
        .await?;
    }
    Ok(())
}

fn movement(row: &QueryResult) -> Result<Movement, DbErr> {
    let reason: String = row.try_get("", "reason")?;
    Ok(Movement {
        id: row.try_get("", "id")?,
        variant_id: row.try_get("", "variant_id")?,
        location_code: row.try_get("", "code")?,
        delta: row.try_get("", "delta")?,
        reason: Reason::parse(&reason).unwrap_or(Reason::Correction),
        on_hand_after: row.try_get::<Option<i64>>("", "on_hand_after")?.unwrap_or(0),
        reference: row.try_get("", "reference")?,
        actor: row.try_get("", "actor")?,
        note: row.try_get("", "note")?,
        created_at: row.try_get("", "created_at")?,
    })
}

/// A variant's ledger, newest first, before the movement id `before`.
pub async fn movements<C: ConnectionTrait>(
    db: &C,
    variant_id: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<Movement>, DbErr> {
    let columns = "SELECT m.id, m.variant_id, l.code, m.delta, m.reason, m.on_hand_after, m.reference, m.actor, \
                   m.note, m.created_at FROM stock_movements m JOIN locations l ON l.id = m.location_id";
    let backend = db.get_database_backend();
    let query = match before {
        Some(before) => statement(
            backend,
            &format!("{columns} WHERE m.variant_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?"),
            [variant_id.into(), before.into(), (limit as i64).into()],
        ),
        None => statement(
            backend,
            &format!("{columns} WHERE m.variant_id = ? ORDER BY m.id DESC LIMIT ?"),
            [variant_id.into(), (limit as i64).into()],
        ),
    };
    let rows = db.query_all_raw(query).await?;
    rows.iter().map(movement).collect()
}

/// A level at or under its reorder point, with how fast it sells.
#[derive(Debug, Clone, PartialEq)]
pub struct LowStock {
    pub variant_id: String,
    pub location_code: String,
    pub available: i64,
    pub reorder_point: i64,
    pub reorder_quantity: Option<i64>,
    pub sold_7d: i64,
    pub sold_30d: i64,
    /// Days the available units last at the last 30 days' pace; `None` without sales.
    pub days_of_cover: Option<f64>,
}

/// Most low-stock rows one report answers.
pub const MAX_LOW_STOCK: u64 = 1000;

/// Every level at or under its reorder point, fewest days of cover first (no sales last).
pub async fn low_stock<C: ConnectionTrait>(db: &C) -> Result<Vec<LowStock>, DbErr> {
    let at = now();
    let (week, month) = (at - Duration::days(7), at - Duration::days(30));
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT s.variant_id, l.code, s.on_hand - s.reserved AS available, s.reorder_point, s.reorder_quantity, \
             (SELECT COALESCE(CAST(SUM(-m.delta) AS BIGINT), 0) FROM stock_movements m WHERE m.variant_id = s.variant_id \
              AND m.location_id = s.location_id AND m.reason = 'sale' AND m.created_at >= ?) AS sold_7d, \
             (SELECT COALESCE(CAST(SUM(-m.delta) AS BIGINT), 0) FROM stock_movements m WHERE m.variant_id = s.variant_id \
              AND m.location_id = s.location_id AND m.reason = 'sale' AND m.created_at >= ?) AS sold_30d \
             FROM stock_levels s JOIN locations l ON l.id = s.location_id \
             WHERE s.reorder_point IS NOT NULL AND s.on_hand - s.reserved <= s.reorder_point \
             ORDER BY s.variant_id, l.code LIMIT ?",
            [week.into(), month.into(), (MAX_LOW_STOCK as i64).into()],
        ))
        .await?;
    let mut report = rows
        .iter()
        .map(|row| {
            let available: i64 = row.try_get("", "available")?;
            let sold_30d: i64 = row.try_get("", "sold_30d")?;
            Ok(LowStock {
                variant_id: row.try_get("", "variant_id")?,
                location_code: row.try_get("", "code")?,
                available,
                reorder_point: row.try_get("", "reorder_point")?,
                reorder_quantity: row.try_get("", "reorder_quantity")?,
                sold_7d: row.try_get("", "sold_7d")?,
                sold_30d,
                days_of_cover: (sold_30d > 0)
                    .then(|| (available.max(0) as f64 * 30.0 / sold_30d as f64 * 10.0).round() / 10.0),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    report.sort_by(|a, b| {
        let cover = |r: &LowStock| r.days_of_cover.unwrap_or(f64::INFINITY);
        cover(a).total_cmp(&cover(b)).then(a.available.cmp(&b.available))
    });
    Ok(report)
}

/// Units a reference (an order) took out of stock by sale, net of what went back under it,
/// per variant and location (by variant, then location).
pub async fn sold_under<C: ConnectionTrait>(db: &C, reference: &str) -> Result<Vec<ReservedLine>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT variant_id, location_id, CAST(-SUM(delta) AS BIGINT) AS units FROM stock_movements \
             WHERE reference = ? AND reason = 'sale' GROUP BY variant_id, location_id ORDER BY variant_id, location_id",
            [reference.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ReservedLine {
                variant_id: row.try_get("", "variant_id")?,
                location_id: row.try_get("", "location_id")?,
                quantity: row.try_get("", "units")?,
            })
        })
        .collect()
}

/// Where a reference (an order) first sold a variant from, if it did.
pub async fn sold_from<C: ConnectionTrait>(db: &C, reference: &str, variant_id: &str) -> Result<Option<String>, DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT location_id FROM stock_movements WHERE reference = ? AND variant_id = ? AND reason = 'sale' \
             ORDER BY created_at LIMIT 1",
            [reference.into(), variant_id.into()],
        ))
        .await?;
    row.map(|row| row.try_get("", "location_id")).transpose()
}
