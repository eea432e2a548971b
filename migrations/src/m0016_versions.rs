//! A `version` on the resources integrators edit concurrently, moved by every change: what
//! their `ETag` says and `If-Match` (GraphQL `expectedVersion`) compares. Tax rates use it
//! first; the others follow.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0016_versions"
    }
}

const TABLES: [&str; 1] = ["tax_rates"];

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
