//! Webhooks: subscriptions (their secrets are derived from a nonce and the server's key, never
//! stored), deliveries (one per event and subscription), and the positions of the outbox's
//! readers (the webhook dispatcher; the NATS relay, which holds its row by a lease).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_webhooks"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE webhook_subscriptions (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        description TEXT,
        active BOOLEAN NOT NULL,
        disabled_reason TEXT,
        secret_nonce TEXT NOT NULL,
        previous_nonce TEXT,
        previous_until {ts},
        failing_since {ts},
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        version BIGINT NOT NULL
    )",
    "CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id),
        event_id TEXT NOT NULL,
        event_sequence BIGINT NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_status_code INTEGER,
        last_error TEXT,
        next_attempt_at {ts} NOT NULL,
        claimed_until {ts},
        first_attempt_at {ts},
        delivered_at {ts},
        created_at {ts} NOT NULL,
        UNIQUE (subscription_id, event_id)
    )",
    "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (subscription_id, status, next_attempt_at)",
    "CREATE INDEX ix_webhook_deliveries_log ON webhook_deliveries (subscription_id, event_sequence)",
    "CREATE INDEX ix_webhook_deliveries_status ON webhook_deliveries (status, next_attempt_at)",
    "CREATE INDEX ix_events_created ON events (created_at)",
    "CREATE TABLE outbox_positions (name TEXT PRIMARY KEY, position BIGINT NOT NULL, leased_by TEXT, leased_until {ts})",
    "INSERT INTO outbox_positions (name, position) SELECT 'webhooks', COALESCE(MAX(sequence), 0) FROM events",
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
                "DROP TABLE outbox_positions",
                "DROP INDEX ix_events_created",
                "DROP TABLE webhook_deliveries",
                "DROP TABLE webhook_subscriptions",
            ],
        )
        .await
    }
}
