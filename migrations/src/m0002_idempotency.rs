//! Idempotency keys: the first answer to a keyed POST, replayed for retries.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_idempotency"
    }
}

const UP: &[&str] = &[
    // One row per (caller, key). `request_hash` binds the key to one request; `state` is
    // `running` until the first answer is stored.
    "CREATE TABLE idempotency_keys (
        scope TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done')),
        response_status INTEGER NULL,
        response_content_type TEXT NULL,
        response_body TEXT NULL,
        created_at {ts} NOT NULL,
        PRIMARY KEY (scope, idempotency_key)
    )",
    "CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, &["DROP TABLE idempotency_keys"]).await
    }
}
