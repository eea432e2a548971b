//! Each event's `sequence`: its place in commit order, the number integrators order by.
//!
//! On SQLite the one writer commits in `seq` order, so an event is numbered as it is written.
//! On PostgreSQL `seq` is taken before commit, so writers may commit out of its order: events
//! are numbered after commit, once every transaction before theirs has ended (see
//! `emporium_core::events::sequence_pending`). Events already written are numbered here in
//! the order the feed has always read them, (txn, seq).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_event_sequence"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE events ADD COLUMN sequence BIGINT",
    "UPDATE events SET sequence = numbered.n \
     FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY txn, seq) AS n FROM events) AS numbered \
     WHERE events.id = numbered.id",
    "CREATE UNIQUE INDEX uq_events_sequence ON events (sequence)",
    "CREATE INDEX ix_events_unsequenced ON events (seq) WHERE sequence IS NULL",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(
            manager,
            &[
                "DROP INDEX ix_events_unsequenced",
                "DROP INDEX uq_events_sequence",
                "ALTER TABLE events DROP COLUMN sequence",
            ],
        )
        .await
    }
}
