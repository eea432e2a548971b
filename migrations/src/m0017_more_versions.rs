//! A `version` on the other resources `If-Match` applies to (API.md, "Concurrent edits"):
//! products (moved by any change of the product or its variants), categories, locations,
//! discounts (not by a redemption), shipping zones and customers (by a profile change).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0017_more_versions"
    }
}

const TABLES: [&str; 6] = ["products", "categories", "locations", "discounts", "shipping_zones", "customers"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            crate::run_all(manager, &[&format!("ALTER TABLE {table} ADD COLUMN version BIGINT NOT NULL DEFAULT 1")])
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            crate::run_all(manager, &[&format!("ALTER TABLE {table} DROP COLUMN version")]).await?;
        }
        Ok(())
    }
}
