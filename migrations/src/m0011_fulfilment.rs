//! After the sale: fulfilments (shipments of an order's units, with carrier and tracking) and
//! returns (requested, received, refunded), each with its lines by order line.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_fulfilment"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE fulfillments (
        id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL REFERENCES orders (id),
        carrier TEXT NULL,
        tracking_number TEXT NULL,
        actor TEXT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_fulfillments_order ON fulfillments (order_id, id)",
    "CREATE TABLE fulfillment_items (
        fulfillment_id TEXT NOT NULL REFERENCES fulfillments (id),
        position INTEGER NOT NULL,
        quantity BIGINT NOT NULL CHECK (quantity >= 1),
        PRIMARY KEY (fulfillment_id, position)
    )",
    "CREATE TABLE returns (
        id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL REFERENCES orders (id),
        status TEXT NOT NULL CHECK (status IN ('requested', 'received', 'refunded')),
        reason TEXT NULL,
        restocked BOOLEAN NULL,
        refunded BIGINT NULL,
        actor TEXT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_returns_order ON returns (order_id, id)",
    "CREATE TABLE return_items (
        return_id TEXT NOT NULL REFERENCES returns (id),
        position INTEGER NOT NULL,
        quantity BIGINT NOT NULL CHECK (quantity >= 1),
        PRIMARY KEY (return_id, position)
    )",
    "ALTER TABLE payment_refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'done'",
    "ALTER TABLE payments ADD COLUMN provider_key TEXT NULL",
];

const DOWN: &[&str] = &[
    "ALTER TABLE payments DROP COLUMN provider_key",
    "ALTER TABLE payment_refunds DROP COLUMN status",
    "DROP TABLE return_items",
    "DROP TABLE returns",
    "DROP TABLE fulfillment_items",
    "DROP TABLE fulfillments",
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
