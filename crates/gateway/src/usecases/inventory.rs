//! Inventory use cases shared by the transports: locations, adjustments with their ledger,
//! stock per SKU, reorder points, backorder settings and the low-stock report. SKUs are
//! resolved through the catalog; stock is changed only through the inventory crate.
//!
//! Every write that changes what a variant can sell (an adjustment, a backorder setting, a
//! location switched on or off, a reservation expiring) is a stock write
//! ([`products::Write::stock`]): it invalidates those variants' availability entries and
//! nothing else, so product documents and list pages stay cached while the shop sells.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use emporium_catalog as catalog;
use emporium_core::{Patch, ValidationErrors};
use emporium_inventory::{self as inventory, Adjustment, Backorder, LocationChange, NewLocation, Reason};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::infra::background::Shutdown;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;
use crate::usecases::products;

/// A place stock is kept.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = Location)]
#[graphql(name = "Location")]
pub struct LocationDto {
    pub id: String,
    #[schema(example = "main")]
    pub code: String,
    pub name: String,
    /// Lower first when an order takes stock.
    pub priority: i32,
    /// Inactive locations keep their stock but ship nothing.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// Moved by every change; REST sends it as the `ETag`, GraphQL's changes take it as
    /// `expectedVersion`.
    #[serde(skip)]
    pub version: i64,
}

impl From<inventory::Location> for LocationDto {
    fn from(l: inventory::Location) -> Self {
        Self {
            id: l.id,
            code: l.code,
            name: l.name,
            priority: l.priority,
            active: l.active,
            created_at: l.created_at,
            version: l.version,
        }
    }
}

/// One entry of the stock ledger.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = StockMovement)]
#[graphql(name = "StockMovement")]
pub struct MovementDto {
    pub id: String,
    pub sku: String,
    /// The location's code.
    pub location: String,
    /// Units added (positive) or removed (negative).
    pub delta: i64,
    /// `restock`, `correction`, `damage`, `return`, `count` or `sale`.
    #[schema(example = "restock")]
    pub reason: String,
    /// On-hand at the location after this movement.
    pub on_hand_after: i64,
    /// The order or return behind it, if any.
    pub reference: Option<String>,
    /// Who made it: a staff member's or an API key's id.
    pub actor: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn movement_dto(m: inventory::Movement, sku: &str) -> MovementDto {
    MovementDto {
        id: m.id,
        sku: sku.to_owned(),
        location: m.location_code,
        delta: m.delta,
        reason: m.reason.as_str().to_owned(),
        on_hand_after: m.on_hand_after,
        reference: m.reference,
        actor: m.actor,
        note: m.note,
        created_at: m.created_at,
    }
}

/// Whether a variant may be sold past its stock.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = BackorderSetting)]
#[graphql(name = "BackorderSetting")]
pub struct BackorderDto {
    pub allowed: bool,
    /// Units that may be sold past stock at most; null: no limit.
    pub limit: Option<i64>,
}

/// A SKU's stock at one location.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = LocationStock)]
#[graphql(name = "LocationStock")]
pub struct LevelDto {
    /// The location's code.
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand − reserved`.
    pub available: i64,
    pub reorder_point: Option<i64>,
    pub reorder_quantity: Option<i64>,
}

/// A SKU's stock over every location.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = Stock)]
#[graphql(name = "Stock")]
pub struct StockDto {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand − reserved`.
    pub available: i64,
    pub backorder: BackorderDto,
    /// Units held or sold beyond stock on backorder (never above the backorder limit).
    pub backordered: i64,
    pub locations: Vec<LevelDto>,
}

/// A level at or under its reorder point.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = LowStock)]
#[graphql(name = "LowStock")]
pub struct LowStockDto {
    pub sku: String,
    pub location: String,
    pub available: i64,
    pub reorder_point: i64,
    pub reorder_quantity: Option<i64>,
    /// Units sold at this location in the last 7 days (from the ledger).
    pub sold_7d: i64,
    /// Units sold at this location in the last 30 days.
    pub sold_30d: i64,
    /// Days the available units last at the last 30 days' pace; null without sales.
    pub days_of_cover: Option<f64>,
}

async fn variant<C: sea_orm::ConnectionTrait>(db: &C, sku: &str) -> Result<catalog::VariantRef, ApiError> {
    let found = match emporium_core::Sku::parse(sku) {
        Some(sku) => catalog::variant_by_sku(db, &sku).await?,
        None => None,
    };
    found.ok_or_else(|| ApiError::new(emporium_core::ErrorKind::NotFound, "not_found", "No variant has this SKU."))
}

async fn location<C: sea_orm::ConnectionTrait>(db: &C, code: &str) -> Result<inventory::Location, ApiError> {
    let found = if emporium_core::db::lookupable(code) { inventory::location_by_code(db, code).await? } else { None };
    Ok(found.ok_or(inventory::InventoryError::LocationNotFound)?)
}

/// Creates a location (201).
pub async fn create_location(
    state: &AppState,
    idempotency: &Idempotency,
    code: &str,
    name: &str,
    priority: Option<i64>,
) -> Result<(LocationDto, Answer), ApiError> {
    let new = NewLocation::parse(code, name, priority)?;
    let txn = state.writer.begin().await?;
    let created = LocationDto::from(inventory::create_location(&txn, &new).await?);
    let answer = Answer::of(StatusCode::CREATED, &created)?;
    idempotency.record(&txn, &answer).await?;
    txn.commit().await?;
    Ok((created, answer))
}

/// Every location, by priority.
pub async fn list_locations(state: &AppState) -> Result<Vec<LocationDto>, ApiError> {
    Ok(inventory::list_locations(&state.db).await?.into_iter().map(LocationDto::from).collect())
}

/// One location by code.
pub async fn get_location(state: &AppState, code: &str) -> Result<LocationDto, ApiError> {
    Ok(location(&state.db, code).await?.into())
}

/// Changes a location's name, priority or activity, if it is at a version `expected` admits
/// (412).
pub async fn update_location(
    state: &AppState,
    code: &str,
    name: Option<&str>,
    priority: Option<i64>,
    active: Option<bool>,
    expected: &emporium_core::Expected,
) -> Result<LocationDto, ApiError> {
    let change = LocationChange::parse(name, priority, active)?;
    if !emporium_core::db::lookupable(code) {
        return Err(inventory::InventoryError::LocationNotFound.into());
    }
    let mut write = products::Write::stock(state).await?;
    let changed = inventory::change_location(write.txn(), code, &change, expected).await?;
    // Only active locations count towards what a variant can sell.
    if active.is_some() {
        for variant in inventory::variants_at(write.txn(), &changed.id).await? {
            write.touch_stock(&variant);
        }
    }
    write.commit().await?;
    Ok(changed.into())
}

/// An adjustment as the transports receive it.
pub struct AdjustmentInput {
    pub sku: String,
    pub location: String,
    pub delta: i64,
    pub reason: Reason,
    pub note: Option<String>,
}

/// Adds or removes units (201 with the movement); on-hand never goes below zero or below
/// what is reserved (409 `insufficient_stock`, nothing changed).
pub async fn adjust(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    input: AdjustmentInput,
) -> Result<(MovementDto, Answer), ApiError> {
    if !Reason::ADJUSTMENTS.contains(&input.reason) {
        return Err(ApiError::validation(ValidationErrors::single(
            "reason",
            "invalid_value",
            "must be restock, correction, damage, return or count",
        )));
    }
    let (delta, note) = Adjustment::check(input.delta, input.note.as_deref())?;
    let mut write = products::Write::stock(state).await?;
    let variant = variant(write.txn(), &input.sku).await?;
    let location = location(write.txn(), &input.location).await?;
    let adjustment = Adjustment {
        variant_id: variant.variant_id.clone(),
        location_id: location.id,
        delta,
        reason: input.reason,
        note,
        actor: actor.map(str::to_owned),
        reference: None,
    };
    let adjusted = inventory::adjust(write.txn(), &adjustment).await?;
    let crossings: Vec<(String, inventory::ReorderCrossing)> =
        adjusted.crossed.iter().map(|crossing| (variant.sku.clone(), crossing.clone())).collect();
    let moved = [(variant.sku.clone(), adjusted.moved)];
    inventory::record_change(write.work(), [variant.variant_id.as_str()], &moved, &crossings).await?;
    let movement = movement_dto(adjusted.movement, &variant.sku);
    let answer = Answer::of(StatusCode::CREATED, &movement)?;
    let answer = write.commit_answering(idempotency, answer).await?;
    Ok((movement, answer))
}

async fn stock_of<C: sea_orm::ConnectionTrait>(db: &C, variant: &catalog::VariantRef) -> Result<StockDto, ApiError> {
    let summary = inventory::stock(db, &variant.variant_id).await?;
    Ok(StockDto {
        sku: variant.sku.clone(),
        on_hand: summary.on_hand,
        reserved: summary.reserved,
        available: summary.on_hand - summary.reserved,
        backorder: BackorderDto { allowed: summary.backorder.allowed, limit: summary.backorder.limit },
        backordered: summary.backordered,
        locations: summary
            .levels
            .into_iter()
            .map(|l| LevelDto {
                location: l.location_code,
                on_hand: l.on_hand,
                reserved: l.reserved,
                available: l.on_hand - l.reserved,
                reorder_point: l.reorder_point,
                reorder_quantity: l.reorder_quantity,
            })
            .collect(),
    })
}

/// A SKU's stock, in total and per location.
pub async fn stock(state: &AppState, sku: &str) -> Result<StockDto, ApiError> {
    let variant = variant(&state.db, sku).await?;
    stock_of(&state.db, &variant).await
}

/// A page of a SKU's ledger, newest first.
pub async fn movements(
    state: &AppState,
    sku: &str,
    limit: Option<i64>,
    cursor: Option<&str>,
    limit_field: &'static str,
) -> Result<(Vec<MovementDto>, Option<String>), ApiError> {
    let limit = products::page_size(limit, limit_field)?;
    let before = products::cursor_id(state, "movements", cursor)?;
    let variant = variant(&state.db, sku).await?;
    let mut found = inventory::movements(&state.db, &variant.variant_id, before.as_deref(), limit.get() + 1).await?;
    let more = found.len() as u64 > limit.get();
    found.truncate(limit.get() as usize);
    let next = if more { found.last().map(|m| state.cursors.encode(&("movements", m.id.as_str()))) } else { None };
    Ok((found.into_iter().map(|m| movement_dto(m, &variant.sku)).collect(), next))
}

/// Sets or clears a SKU's reorder point and quantity at a location.
pub async fn set_reorder(
    state: &AppState,
    sku: &str,
    code: &str,
    point: Patch<i64>,
    quantity: Patch<i64>,
) -> Result<StockDto, ApiError> {
    let txn = state.writer.begin().await?;
    let variant = variant(&txn, sku).await?;
    let location = location(&txn, code).await?;
    inventory::set_reorder(&txn, &variant.variant_id, &location.id, point, quantity).await?;
    let stock = stock_of(&txn, &variant).await?;
    txn.commit().await?;
    Ok(stock)
}

/// Sets a SKU's backorder setting.
pub async fn set_backorder(
    state: &AppState,
    sku: &str,
    allowed: bool,
    limit: Option<i64>,
) -> Result<StockDto, ApiError> {
    let mut write = products::Write::stock(state).await?;
    let variant = variant(write.txn(), sku).await?;
    inventory::set_backorder(write.txn(), &variant.variant_id, Backorder { allowed, limit }).await?;
    write.touch_stock(&variant.variant_id);
    let stock = stock_of(write.txn(), &variant).await?;
    write.commit().await?;
    Ok(stock)
}

/// Every level at or under its reorder point, fewest days of cover first.
pub async fn low_stock(state: &AppState) -> Result<Vec<LowStockDto>, ApiError> {
    let report = inventory::low_stock(&state.db).await?;
    let ids: Vec<String> = report.iter().map(|r| r.variant_id.clone()).collect();
    let skus: std::collections::HashMap<String, String> =
        catalog::variant_refs(&state.db, &ids).await?.into_iter().map(|v| (v.variant_id, v.sku)).collect();
    Ok(report
        .into_iter()
        .filter_map(|r| {
            // Deleted variants keep their stock rows but are not reported.
            let sku = skus.get(&r.variant_id)?.clone();
            Some(LowStockDto {
                sku,
                location: r.location_code,
                available: r.available,
                reorder_point: r.reorder_point,
                reorder_quantity: r.reorder_quantity,
                sold_7d: r.sold_7d,
                sold_30d: r.sold_30d,
                days_of_cover: r.days_of_cover,
            })
        })
        .collect())
}

/// Releases reservations past their time (a checkout that crashed), a batch at a time, and
/// invalidates the availability that changed. Safe on several instances at once: each
/// reservation is released exactly once. Returns how many lines (held at a location or on
/// backorder) were given back.
pub async fn expire_reservations(state: &AppState) -> Result<usize, ApiError> {
    let mut write = products::Write::stock(state).await?;
    let settled = inventory::expire_due(write.txn(), 100).await?;
    for variant in settled.variant_ids() {
        write.touch_stock(&variant);
    }
    write.commit().await?;
    Ok(settled.lines.len() + settled.backorders.len())
}

/// Every few seconds, on every instance: release expired reservations, until shutdown (a
/// round in progress finishes first).
pub async fn run_expiry(state: AppState, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.requested() => return,
        }
        match expire_reservations(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(lines = n, "expired reservations released"),
            Err(err) => tracing::warn!(code = err.code, "releasing expired reservations failed"),
        }
    }
}
