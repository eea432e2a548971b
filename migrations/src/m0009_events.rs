//! The event feed (the outbox): one row per change of an order, of stock or of a product,
//! written in the change's transaction. Ordered by (txn, seq): the writing transaction's id on
//! PostgreSQL (0 on SQLite, whose one writer commits in sequence order), then a sequence.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_events"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE events (
        id TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        txn BIGINT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_events_txn_seq ON events (txn, seq)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            crate::run_all(manager, &["CREATE SEQUENCE events_seq"]).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            crate::run_all(manager, &["DROP SEQUENCE events_seq"]).await?;
        }
        crate::run_all(manager, &["DROP TABLE events"]).await
    }
}
