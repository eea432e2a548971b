//! Reservations: units held for a checkout. Reserving is all-or-nothing across lines (lines of
//! one variant summed first), takes from active locations lowest priority first and splits a
//! line when one location is short. Committing sells the units (they leave on-hand, with `sale`
//! movements); releasing or expiring gives them back. Each state change is one conditional
//! statement on the reservation (`WHERE state = 'active'`), so a reservation is committed,
//! released or expired exactly once, whatever races.
//!
//! Backorders: when a variant allows them, what the locations cannot hold is held as a
//! backorder instead, counted on the variant (`backordered`) by one conditional increment that
//! never passes its limit. Releasing or expiring gives it back; committing keeps it counted
//! (sold ahead of stock) until the order that owes the units is filled or cancelled.
//!
//! Every function here runs inside the caller's write transaction; when one fails, the caller
//! rolls the transaction back, and nothing it did remains.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use emporium_core::db::{now, statement};
use emporium_core::id;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};

use crate::InventoryError;
use crate::stock::{Moved, ReorderCrossing};

/// Most lines one reservation may hold.
pub const MAX_LINES: usize = 250;
/// Most units of one variant one reservation may hold.
pub const MAX_QUANTITY: i64 = 100_000;

/// Units held at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedLine {
    pub variant_id: String,
    pub location_id: String,
    pub quantity: i64,
}

/// Units held beyond stock, on a variant that allows backorders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backordered {
    pub variant_id: String,
    pub quantity: i64,
}

/// A reservation as made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: String,
    pub expires_at: DateTime<Utc>,
    pub lines: Vec<ReservedLine>,
    pub backorders: Vec<Backordered>,
    /// Levels this reservation took to or under their reorder point (a `stock.low` each).
    pub crossed: Vec<ReorderCrossing>,
}

/// What a commit, release or expiry settled: the units held at locations and on backorder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    pub lines: Vec<ReservedLine>,
    pub backorders: Vec<Backordered>,
    /// The levels a commit took units out of, as it left them (none for a release).
    pub moved: Vec<Moved>,
}

impl Settled {
    /// Every variant whose availability the settlement changed, each once.
    pub fn variant_ids(&self) -> Vec<String> {
        let ids: std::collections::BTreeSet<&str> = self
            .lines
            .iter()
            .map(|l| l.variant_id.as_str())
            .chain(self.backorders.iter().map(|b| b.variant_id.as_str()))
            .collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    fn extend(&mut self, other: Settled) {
        self.lines.extend(other.lines);
        self.backorders.extend(other.backorders);
        self.moved.extend(other.moved);
    }
}

/// Holds `lines` (variant id, quantity) for `ttl`: all of them or none. What active locations
/// cannot hold is backordered when the variant allows it (up to its limit). Short variants are
/// named in [`InventoryError::OutOfStock`]; the caller then rolls back.
pub async fn reserve<C: ConnectionTrait>(
    db: &C,
    lines: &[(String, i64)],
    ttl: Duration,
    reference: Option<&str>,
) -> Result<Reservation, InventoryError> {
    if lines.is_empty() || lines.len() > MAX_LINES || lines.iter().any(|(_, q)| !(1..=MAX_QUANTITY).contains(q)) {
        return Err(InventoryError::Invalid(emporium_core::ValidationErrors::single(
            "lines",
            "out_of_range",
            format!("1 to {MAX_LINES} lines of 1 to {MAX_QUANTITY} units"),
        )));
    }
    // Summed per variant, and taken in one order (variant id) so two reservations never wait
    // on each other's rows in opposite orders.
    let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
    for (variant, quantity) in lines {
        let total = wanted.entry(variant.as_str()).or_insert(0);
        *total = total.saturating_add(*quantity);
    }
    let backend = db.get_database_backend();
    let mut held = Vec::new();
    let mut crossed = Vec::new();
    let mut backorders = Vec::new();
    let mut short = Vec::new();
    for (variant, quantity) in wanted {
        // Most often the first location in priority order has every unit: taken in one
        // statement, the same take as the loop below would make first.
        if let Some(line) = take_first(db, backend, variant, quantity, &mut crossed).await? {
            held.push(line);
            continue;
        }
        let mut needed = quantity;
        let levels = db
            .query_all_raw(statement(
                backend,
                "SELECT s.location_id FROM stock_levels s JOIN locations l ON l.id = s.location_id \
                 WHERE s.variant_id = ? AND l.active ORDER BY l.priority, l.code",
                [variant.into()],
            ))
            .await?;
        for level in levels {
            if needed == 0 {
                break;
            }
            let location: String = level.try_get("", "location_id")?;
            let (taken, crossing) = take(db, backend, variant, &location, needed).await?;
            crossed.extend(crossing);
            if taken > 0 {
                needed -= taken;
                held.push(ReservedLine { variant_id: variant.to_owned(), location_id: location, quantity: taken });
            }
        }
        if needed > 0 {
            if backorder(db, backend, variant, needed).await? {
                backorders.push(Backordered { variant_id: variant.to_owned(), quantity: needed });
            } else {
                short.push(variant.to_owned());
            }
        }
    }
    if !short.is_empty() {
        return Err(InventoryError::OutOfStock { variant_ids: short });
    }
    let at = now();
    let reservation = Reservation { id: id::new_id("res"), expires_at: at + ttl, lines: held, backorders, crossed };
    let head_sql = "INSERT INTO reservations (id, state, reference, expires_at, created_at, updated_at) VALUES (?, 'active', ?, ?, ?, ?)";
    let head: [Value; 5] =
        [reservation.id.clone().into(), reference.into(), reservation.expires_at.into(), at.into(), at.into()];
    let rows = vec!["(?, ?, ?, ?)"; reservation.lines.len()].join(", ");
    let lines_sql =
        format!("INSERT INTO reservation_lines (reservation_id, variant_id, location_id, quantity) VALUES {rows}");
    let line_values: Vec<Value> = reservation
        .lines
        .iter()
        .flat_map(|line| {
            [
                reservation.id.clone().into(),
                line.variant_id.clone().into(),
                line.location_id.clone().into(),
                line.quantity.into(),
            ]
        })
        .collect();
    if reservation.lines.is_empty() {
        db.execute_raw(statement(backend, head_sql, head)).await?;
    } else if backend == DbBackend::Postgres {
        // The reservation and its lines in one statement (the lines' reference is checked at
        // its end).
        let sql = format!("WITH held AS ({head_sql}) {lines_sql}");
        db.execute_raw(statement(backend, &sql, head.into_iter().chain(line_values))).await?;
    } else {
        db.execute_raw(statement(backend, head_sql, head)).await?;
        db.execute_raw(statement(backend, &lines_sql, line_values)).await?;
    }
    for line in &reservation.backorders {
        db.execute_raw(statement(
            backend,
            "INSERT INTO reservation_backorders (reservation_id, variant_id, quantity) VALUES (?, ?, ?)",
            [reservation.id.clone().into(), line.variant_id.clone().into(), line.quantity.into()],
        ))
        .await?;
    }
    Ok(reservation)
}

/// Holds `quantity` units of a variant on backorder, in one conditional increment: false when
/// the variant does not allow backorders or the units would pass its limit.
async fn backorder<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    variant: &str,
    quantity: i64,
) -> Result<bool, DbErr> {
    let held = db
        .execute_raw(statement(
            backend,
            "UPDATE inventory_items SET backordered = backordered + ?, updated_at = ? \
             WHERE variant_id = ? AND backorder_allowed \
             AND (backorder_limit IS NULL OR backordered + ? <= backorder_limit)",
            [quantity.into(), now().into(), variant.into(), quantity.into()],
        ))
        .await?
        .rows_affected();
    Ok(held == 1)
}

/// Reserves all `quantity` units of a variant at its first active location in priority order,
/// when that location has them free (one conditional statement); `None` otherwise, and nothing
/// taken.
async fn take_first<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    variant: &str,
    quantity: i64,
    crossed: &mut Vec<ReorderCrossing>,
) -> Result<Option<ReservedLine>, DbErr> {
    let reserved = db
        .query_one_raw(statement(
            backend,
            "UPDATE stock_levels SET reserved = reserved + ?, updated_at = ? \
             WHERE variant_id = ? AND on_hand - reserved >= ? AND location_id = (\
             SELECT s.location_id FROM stock_levels s JOIN locations l ON l.id = s.location_id \
             WHERE s.variant_id = ? AND l.active ORDER BY l.priority, l.code LIMIT 1) \
             RETURNING location_id, on_hand - reserved AS available, reorder_point",
            [quantity.into(), now().into(), variant.into(), quantity.into(), variant.into()],
        ))
        .await?;
    let Some(row) = reserved else { return Ok(None) };
    let location: String = row.try_get("", "location_id")?;
    crossed.extend(ReorderCrossing::of(
        variant,
        &location,
        row.try_get("", "available")?,
        -quantity,
        row.try_get("", "reorder_point")?,
    ));
    Ok(Some(ReservedLine { variant_id: variant.to_owned(), location_id: location, quantity }))
}

/// Reserves as many of `needed` units at one location as it has free, in one conditional
/// statement per attempt: the whole amount if it is there, else what a fresh read shows free.
/// Also the reorder point the units taken crossed, if they did.
async fn take<C: ConnectionTrait>(
    db: &C,
    backend: DbBackend,
    variant: &str,
    location: &str,
    needed: i64,
) -> Result<(i64, Option<ReorderCrossing>), DbErr> {
    let mut amount = needed;
    // Each failed attempt saw less stock than it asked for; a few rounds settle any race.
    for _ in 0..4 {
        if amount <= 0 {
            return Ok((0, None));
        }
        let reserved = db
            .query_one_raw(statement(
                backend,
                "UPDATE stock_levels SET reserved = reserved + ?, updated_at = ? \
                 WHERE variant_id = ? AND location_id = ? AND on_hand - reserved >= ? \
                 RETURNING on_hand - reserved AS available, reorder_point",
                [amount.into(), now().into(), variant.into(), location.into(), amount.into()],
            ))
            .await?;
        if let Some(row) = reserved {
            let crossing = ReorderCrossing::of(
                variant,
                location,
                row.try_get("", "available")?,
                -amount,
                row.try_get("", "reorder_point")?,
            );
            return Ok((amount, crossing));
        }
        let free = db
            .query_one_raw(statement(
                backend,
                "SELECT on_hand - reserved AS free FROM stock_levels WHERE variant_id = ? AND location_id = ?",
                [variant.into(), location.into()],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "free"))
            .transpose()?
            .unwrap_or(0);
        amount = free.min(needed);
    }
    Ok((0, None))
}

async fn settled_of<C: ConnectionTrait>(db: &C, reservation_id: &str) -> Result<Settled, DbErr> {
    let backorders = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT variant_id, quantity FROM reservation_backorders WHERE reservation_id = ? ORDER BY variant_id",
            [reservation_id.into()],
        ))
        .await?
        .iter()
        .map(|row| {
            Ok(Backordered { variant_id: row.try_get("", "variant_id")?, quantity: row.try_get("", "quantity")? })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    Ok(Settled { lines: lines_of(db, reservation_id).await?, backorders, moved: Vec::new() })
}

async fn lines_of<C: ConnectionTrait>(db: &C, reservation_id: &str) -> Result<Vec<ReservedLine>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT variant_id, location_id, quantity FROM reservation_lines WHERE reservation_id = ? \
             ORDER BY variant_id, location_id",
            [reservation_id.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ReservedLine {
                variant_id: row.try_get("", "variant_id")?,
                location_id: row.try_get("", "location_id")?,
                quantity: row.try_get("", "quantity")?,
            })
        })
        .collect()
}

/// Moves an active reservation to `state`: true for the one caller that did it.
async fn finish<C: ConnectionTrait>(db: &C, reservation_id: &str, state: &str) -> Result<bool, DbErr> {
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE reservations SET state = ?, updated_at = ? WHERE id = ? AND state = 'active'",
            [state.into(), now().into(), reservation_id.into()],
        ))
        .await?
        .rows_affected();
    Ok(changed == 1)
}

/// Sells a reservation's units: they leave on-hand and reserved together, each line with a
/// `sale` movement naming `reference` (the order); backordered units stay counted as sold
/// ahead of stock. Only an active reservation can be committed.
pub async fn commit<C: ConnectionTrait>(
    db: &C,
    reservation_id: &str,
    reference: &str,
    actor: Option<&str>,
) -> Result<Settled, InventoryError> {
    if !finish(db, reservation_id, "committed").await? {
        return Err(InventoryError::ReservationNotActive);
    }
    let mut settled = settled_of(db, reservation_id).await?;
    settled.moved = sell(db, &settled, reference, actor).await?;
    Ok(settled)
}

/// [`commit`] for the caller that made the reservation and holds what it took: the lines are
/// not read again (a reservation's lines never change).
pub async fn commit_held<C: ConnectionTrait>(
    db: &C,
    reservation: &Reservation,
    reference: &str,
    actor: Option<&str>,
) -> Result<Settled, InventoryError> {
    if !finish(db, &reservation.id, "committed").await? {
        return Err(InventoryError::ReservationNotActive);
    }
    let mut settled =
        Settled { lines: reservation.lines.clone(), backorders: reservation.backorders.clone(), moved: Vec::new() };
    settled.moved = sell(db, &settled, reference, actor).await?;
    Ok(settled)
}

/// Takes the units of committed lines out of stock, with their `sale` movements (one
/// statement for all of them); the levels as it left them.
async fn sell<C: ConnectionTrait>(
    db: &C,
    settled: &Settled,
    reference: &str,
    actor: Option<&str>,
) -> Result<Vec<Moved>, InventoryError> {
    let backend = db.get_database_backend();
    let at = now();
    let mut movements = String::from(
        "INSERT INTO stock_movements (id, variant_id, location_id, delta, reason, on_hand_after, reference, actor, \
         note, created_at) VALUES ",
    );
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(settled.lines.len() * 8);
    let mut moved = Vec::with_capacity(settled.lines.len());
    for (i, line) in settled.lines.iter().enumerate() {
        let after = db
            .query_one_raw(statement(
                backend,
                "UPDATE stock_levels SET on_hand = on_hand - ?, reserved = reserved - ?, updated_at = ? \
                 WHERE variant_id = ? AND location_id = ? AND reserved >= ? RETURNING on_hand, reserved, \
                 (SELECT code FROM locations WHERE locations.id = stock_levels.location_id) AS location",
                [
                    line.quantity.into(),
                    line.quantity.into(),
                    at.into(),
                    line.variant_id.clone().into(),
                    line.location_id.clone().into(),
                    line.quantity.into(),
                ],
            ))
            .await?
            // The reserved units are held by this reservation alone: missing is a broken
            // invariant, and the whole commit rolls back.
            .ok_or(InventoryError::ReservationNotActive)?;
        let on_hand_after: i64 = after.try_get("", "on_hand")?;
        moved.push(Moved {
            variant_id: line.variant_id.clone(),
            location: after.try_get("", "location")?,
            on_hand: on_hand_after,
            available: on_hand_after - after.try_get::<i64>("", "reserved")?,
        });
        movements.push_str(if i == 0 {
            "(?, ?, ?, ?, 'sale', ?, ?, ?, NULL, ?)"
        } else {
            ", (?, ?, ?, ?, 'sale', ?, ?, ?, NULL, ?)"
        });
        values.extend([
            id::new_id("mov").into(),
            line.variant_id.clone().into(),
            line.location_id.clone().into(),
            (-line.quantity).into(),
            on_hand_after.into(),
            reference.into(),
            actor.into(),
            at.into(),
        ]);
    }
    if !settled.lines.is_empty() {
        db.execute_raw(statement(backend, &movements, values)).await?;
    }
    Ok(moved)
}

/// Gives units back in the order `reserve` takes them (per variant by id: its levels by
/// location, then its backorder), so a release and a reservation never wait on each other's
/// rows in opposite orders (a deadlock on PostgreSQL).
async fn give_back<C: ConnectionTrait>(db: &C, settled: &Settled) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut lines: Vec<&ReservedLine> = settled.lines.iter().collect();
    lines.sort_by(|a, b| (&a.variant_id, &a.location_id).cmp(&(&b.variant_id, &b.location_id)));
    let mut backorders: BTreeMap<&str, i64> = BTreeMap::new();
    for line in &settled.backorders {
        *backorders.entry(line.variant_id.as_str()).or_insert(0) += line.quantity;
    }
    for variant in settled.variant_ids() {
        for line in lines.iter().filter(|l| l.variant_id == variant) {
            db.execute_raw(statement(
                backend,
                "UPDATE stock_levels SET reserved = reserved - ?, updated_at = ? \
                 WHERE variant_id = ? AND location_id = ? AND reserved >= ?",
                [
                    line.quantity.into(),
                    now().into(),
                    line.variant_id.clone().into(),
                    line.location_id.clone().into(),
                    line.quantity.into(),
                ],
            ))
            .await?;
        }
        if let Some(quantity) = backorders.get(variant.as_str()) {
            db.execute_raw(statement(
                backend,
                "UPDATE inventory_items SET backordered = backordered - ?, updated_at = ? \
                 WHERE variant_id = ? AND backordered >= ?",
                [(*quantity).into(), now().into(), variant.clone().into(), (*quantity).into()],
            ))
            .await?;
        }
    }
    Ok(())
}

/// Ends `quantity` units of a variant's committed backorder: the order that owed them was
/// filled from new stock or cancelled (the orders crate calls it in its transaction). One
/// conditional decrement; false if fewer units are backordered.
pub async fn settle_backorder<C: ConnectionTrait>(db: &C, variant_id: &str, quantity: i64) -> Result<bool, DbErr> {
    let settled = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE inventory_items SET backordered = backordered - ?, updated_at = ? \
             WHERE variant_id = ? AND backordered >= ? AND ? > 0",
            [quantity.into(), now().into(), variant_id.into(), quantity.into(), quantity.into()],
        ))
        .await?
        .rows_affected();
    Ok(settled == 1)
}

/// Gives an active reservation's units back (a failed checkout). Only an active reservation
/// can be released.
pub async fn release<C: ConnectionTrait>(db: &C, reservation_id: &str) -> Result<Settled, InventoryError> {
    if !finish(db, reservation_id, "released").await? {
        return Err(InventoryError::ReservationNotActive);
    }
    let settled = settled_of(db, reservation_id).await?;
    give_back(db, &settled).await?;
    Ok(settled)
}

/// Expires up to `batch` active reservations past their time, giving their units back; each
/// exactly once, whichever instance gets there first (on PostgreSQL the rows another instance
/// is expiring are skipped, not waited for). Returns what was given back.
pub async fn expire_due<C: ConnectionTrait>(db: &C, batch: u64) -> Result<Settled, DbErr> {
    let backend = db.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let due = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT id FROM reservations WHERE state = 'active' AND expires_at <= ? ORDER BY expires_at LIMIT ?{lock}"
            ),
            [now().into(), (batch as i64).into()],
        ))
        .await?;
    let mut given_back = Settled::default();
    for row in due {
        let reservation_id: String = row.try_get("", "id")?;
        if finish(db, &reservation_id, "expired").await? {
            given_back.extend(settled_of(db, &reservation_id).await?);
        }
    }
    // All at once, in the one order every stock change takes rows in.
    give_back(db, &given_back).await?;
    Ok(given_back)
}

/// Units held by live reservations, per variant and location: what `reserved` must equal.
pub async fn held_units<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, String, i64)>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT l.variant_id, l.location_id, CAST(SUM(l.quantity) AS BIGINT) AS units FROM reservation_lines l \
             JOIN reservations r ON r.id = l.reservation_id WHERE r.state = 'active' \
             GROUP BY l.variant_id, l.location_id ORDER BY l.variant_id, l.location_id",
            [],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "variant_id")?, r.try_get("", "location_id")?, r.try_get("", "units")?)))
        .collect()
}

/// The ids of the active reservations a reference (a checkout) holds.
pub async fn active_for<C: ConnectionTrait>(db: &C, reference: &str) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT id FROM reservations WHERE reference = ? AND state = 'active'",
            [reference.into()],
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "id")).collect()
}
