//! Inventory over GraphQL: the same use cases as `/v1/locations` and `/v1/inventory`, with the
//! same permissions and codes.

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use emporium_core::Patch;
use emporium_customers::Permission;
use emporium_inventory::Reason;

use crate::usecases::inventory::{self, AdjustmentInput, LocationDto, LowStockDto, MovementDto, StockDto};

/// Why stock is adjusted.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "AdjustmentReason")]
pub enum ReasonGql {
    Restock,
    Correction,
    Damage,
    Return,
    Count,
}

impl From<ReasonGql> for Reason {
    fn from(r: ReasonGql) -> Self {
        match r {
            ReasonGql::Restock => Reason::Restock,
            ReasonGql::Correction => Reason::Correction,
            ReasonGql::Damage => Reason::Damage,
            ReasonGql::Return => Reason::Return,
            ReasonGql::Count => Reason::Count,
        }
    }
}

/// A page of a SKU's ledger, newest first.
#[derive(SimpleObject)]
pub struct MovementPage {
    pub nodes: Vec<MovementDto>,
    /// Pass as `after` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Inventory reads (staff with `inventory:read`).
#[derive(Default)]
pub struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// Every location, lowest priority first.
    #[graphql(complexity = "crate::graphql::LIST_COST + 100 * child_complexity")]
    async fn locations(&self, ctx: &Context<'_>) -> Result<Vec<LocationDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryRead)?;
        Ok(inventory::list_locations(state).await?)
    }

    /// One location by code, with its `version`.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn location(&self, ctx: &Context<'_>, code: String) -> Result<LocationDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryRead)?;
        Ok(inventory::get_location(state, &code).await?)
    }

    /// A SKU's stock, in total and per location.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn stock(&self, ctx: &Context<'_>, sku: String) -> Result<StockDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryRead)?;
        Ok(inventory::stock(state, &sku).await?)
    }

    /// A SKU's stock ledger, newest first.
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn stock_movements(
        &self,
        ctx: &Context<'_>,
        sku: String,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
    ) -> Result<MovementPage> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryRead)?;
        let (nodes, next_cursor) = inventory::movements(state, &sku, Some(first), after.as_deref(), "first").await?;
        Ok(MovementPage { nodes, next_cursor })
    }

    /// Every SKU and location at or under its reorder point, fewest days of cover first.
    #[graphql(complexity = "crate::graphql::LIST_COST + 100 * child_complexity")]
    async fn low_stock(&self, ctx: &Context<'_>) -> Result<Vec<LowStockDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryRead)?;
        Ok(inventory::low_stock(state).await?)
    }
}

/// Inventory writes (staff with `inventory:write`).
#[derive(Default)]
pub struct InventoryMutation;

#[Object]
impl InventoryMutation {
    /// Creates a location.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        code: String,
        name: String,
        priority: Option<i64>,
    ) -> Result<LocationDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryWrite)?;
        Ok(inventory::create_location(state, &crate::graphql::claim(ctx), &code, &name, priority).await?.0)
    }

    /// Changes a location's name, priority or activity; with `expectedVersion`, only while it
    /// is at that version.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_location(
        &self,
        ctx: &Context<'_>,
        code: String,
        name: Option<String>,
        priority: Option<i64>,
        active: Option<bool>,
        expected_version: Option<i64>,
    ) -> Result<LocationDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryWrite)?;
        let expected = crate::graphql::expected(expected_version);
        Ok(inventory::update_location(state, &code, name.as_deref(), priority, active, &expected).await?)
    }

    /// Adds or removes units of a SKU at a location; answers the ledger entry.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        sku: String,
        location: String,
        delta: i64,
        reason: ReasonGql,
        note: Option<String>,
    ) -> Result<MovementDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryWrite)?;
        let input = AdjustmentInput { sku, location, delta, reason: reason.into(), note };
        Ok(inventory::adjust(state, &crate::graphql::claim(ctx), principal.actor_id(), input).await?.0)
    }

    /// Sets (or, with null, clears) a SKU's reorder point and quantity at a location.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn set_reorder_point(
        &self,
        ctx: &Context<'_>,
        sku: String,
        location: String,
        reorder_point: Option<i64>,
        reorder_quantity: Option<i64>,
    ) -> Result<StockDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryWrite)?;
        let patch = |v: Option<i64>| v.map_or(Patch::Null, Patch::Value);
        Ok(inventory::set_reorder(state, &sku, &location, patch(reorder_point), patch(reorder_quantity)).await?)
    }

    /// Sets whether a SKU may be sold past its stock.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn set_backorder(
        &self,
        ctx: &Context<'_>,
        sku: String,
        allowed: bool,
        limit: Option<i64>,
    ) -> Result<StockDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::InventoryWrite)?;
        Ok(inventory::set_backorder(state, &sku, allowed, limit).await?)
    }
}
