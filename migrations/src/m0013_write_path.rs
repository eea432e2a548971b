//! The write path's log: one row per committed write naming the cache keys it touched, ordered
//! by the writing transaction (as the event feed is) instead of by a counter row that every
//! writer had to lock; and a version on each event, the schema version of its payload.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_write_path"
    }
}

/// PostgreSQL: the transaction id orders the rows (a reader stops below the oldest running
/// one), the sequence orders rows of one transaction. Nothing is shared but a sequence, which
/// never blocks.
const POSTGRES: &[&str] = &[
    "CREATE SEQUENCE changes_seq",
    "CREATE TABLE changes (
        txn BIGINT NOT NULL,
        seq BIGINT NOT NULL DEFAULT nextval('changes_seq'),
        cache_keys TEXT NOT NULL,
        created_at {ts} NOT NULL,
        PRIMARY KEY (txn, seq)
    )",
];

/// SQLite: one writer at a time commits in sequence order; `AUTOINCREMENT` never hands out a
/// number again, even after the rows before it are purged.
const SQLITE: &[&str] = &["CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        txn BIGINT NOT NULL DEFAULT 0,
        cache_keys TEXT NOT NULL,
        created_at {ts} NOT NULL
    )"];

const COMMON: &[&str] = &[
    "CREATE INDEX ix_changes_created ON changes (created_at)",
    "ALTER TABLE events ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    "DROP TABLE cache_invalidations",
    "DROP TABLE cache_version",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let own = match manager.get_database_backend() {
            DatabaseBackend::Postgres => POSTGRES,
            _ => SQLITE,
        };
        crate::run_all(manager, own).await?;
        crate::run_all(manager, COMMON).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(
            manager,
            &[
                "CREATE TABLE cache_version (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
                "INSERT INTO cache_version (id, version) VALUES (1, 0)",
                "CREATE TABLE cache_invalidations (version BIGINT NOT NULL, cache_key TEXT NOT NULL, \
                 created_at {ts} NOT NULL, PRIMARY KEY (version, cache_key))",
                "CREATE INDEX ix_cache_invalidations_created ON cache_invalidations (created_at)",
                "ALTER TABLE events DROP COLUMN version",
                "DROP TABLE changes",
            ],
        )
        .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            crate::run_all(manager, &["DROP SEQUENCE changes_seq"]).await?;
        }
        Ok(())
    }
}
