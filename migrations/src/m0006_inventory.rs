//! Inventory: location priority and activity, reorder points per stock level, backorder
//! settings per variant, and a ledger whose every movement records the on-hand it left, who
//! made it and why.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_inventory"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE locations ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE locations ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE",
    "ALTER TABLE stock_levels ADD COLUMN reorder_point BIGINT NULL CHECK (reorder_point >= 0)",
    "ALTER TABLE stock_levels ADD COLUMN reorder_quantity BIGINT NULL CHECK (reorder_quantity >= 0)",
    "ALTER TABLE stock_movements ADD COLUMN on_hand_after BIGINT NULL",
    "ALTER TABLE stock_movements ADD COLUMN reference TEXT NULL",
    "ALTER TABLE stock_movements ADD COLUMN actor TEXT NULL",
    "ALTER TABLE stock_movements ADD COLUMN note TEXT NULL",
    // Movements written before this migration came from the demo seed and adjustments, each
    // cumulative: the running sum in id (time) order is the on-hand each left behind.
    "UPDATE stock_movements SET on_hand_after = (SELECT SUM(m2.delta) FROM stock_movements m2 \
        WHERE m2.variant_id = stock_movements.variant_id AND m2.location_id = stock_movements.location_id \
        AND m2.id <= stock_movements.id)",
    "UPDATE stock_movements SET reason = 'restock' WHERE reason NOT IN ('restock', 'correction', 'damage', 'return', 'count', 'sale')",
    "CREATE INDEX ix_stock_movements_ledger ON stock_movements (variant_id, location_id, id)",
    "CREATE INDEX ix_stock_movements_sales ON stock_movements (reason, created_at)",
    // Per variant: whether it may be sold past its stock, and how far.
    "CREATE TABLE inventory_items (
        variant_id TEXT PRIMARY KEY REFERENCES variants (id),
        backorder_allowed BOOLEAN NOT NULL DEFAULT FALSE,
        backorder_limit BIGINT NULL CHECK (backorder_limit >= 0),
        updated_at {ts} NOT NULL
    )",
];

const DOWN: &[&str] = &[
    "DROP TABLE inventory_items",
    "DROP INDEX ix_stock_movements_sales",
    "DROP INDEX ix_stock_movements_ledger",
    "ALTER TABLE stock_movements DROP COLUMN note",
    "ALTER TABLE stock_movements DROP COLUMN actor",
    "ALTER TABLE stock_movements DROP COLUMN reference",
    "ALTER TABLE stock_movements DROP COLUMN on_hand_after",
    "ALTER TABLE stock_levels DROP COLUMN reorder_quantity",
    "ALTER TABLE stock_levels DROP COLUMN reorder_point",
    "ALTER TABLE locations DROP COLUMN active",
    "ALTER TABLE locations DROP COLUMN priority",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, DOWN).await
    }
}
