//! The cache invalidation log: every catalog write moves `cache_version` and records the keys
//! it touched under the new version, in its own transaction; every instance replays the log.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_cache_invalidations"
    }
}

const UP: &[&str] = &[
    // One row: its lock orders the writers, so versions become visible in commit order.
    "CREATE TABLE cache_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL
    )",
    "INSERT INTO cache_version (id, version) VALUES (1, 0)",
    "CREATE TABLE cache_invalidations (
        version BIGINT NOT NULL,
        cache_key TEXT NOT NULL,
        created_at {ts} NOT NULL,
        PRIMARY KEY (version, cache_key)
    )",
    "CREATE INDEX ix_cache_invalidations_created ON cache_invalidations (created_at)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, &["DROP TABLE cache_invalidations", "DROP TABLE cache_version"]).await
    }
}
