//! Backorders: how many units of a variant are held or sold beyond its stock (`backordered`,
//! never above the variant's limit when it has one), and which reservation holds them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_backorders"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE inventory_items ADD COLUMN backordered BIGINT NOT NULL DEFAULT 0 CHECK (backordered >= 0)",
    "CREATE TABLE reservation_backorders (
        reservation_id TEXT NOT NULL REFERENCES reservations (id),
        variant_id TEXT NOT NULL REFERENCES variants (id),
        quantity BIGINT NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (reservation_id, variant_id)
    )",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(
            manager,
            &["DROP TABLE reservation_backorders", "ALTER TABLE inventory_items DROP COLUMN backordered"],
        )
        .await
    }
}
