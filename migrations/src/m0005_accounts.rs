//! Accounts: customers with their address books, staff roles, integrator API keys, and an
//! absolute lifetime for refresh-token families.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_accounts"
    }
}

const UP: &[&str] = &[
    // A role instead of a stored permission list: permissions follow the role's definition in
    // code, and `version` moves on every change so live tokens notice it.
    "ALTER TABLE staff_accounts ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' \
        CHECK (role IN ('admin', 'catalog', 'fulfillment', 'support'))",
    "ALTER TABLE staff_accounts ADD COLUMN version BIGINT NOT NULL DEFAULT 1",
    "ALTER TABLE staff_accounts DROP COLUMN permissions",
    "CREATE TABLE customers (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        disabled_at {ts} NULL
    )",
    "CREATE UNIQUE INDEX uq_customers_email ON customers (email)",
    "CREATE TABLE customer_addresses (
        id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL REFERENCES customers (id),
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        line1 TEXT NOT NULL,
        line2 TEXT NULL,
        city TEXT NOT NULL,
        region TEXT NULL,
        postal_code TEXT NOT NULL,
        country TEXT NOT NULL CHECK (length(country) = 2),
        phone TEXT NULL,
        default_shipping BOOLEAN NOT NULL DEFAULT FALSE,
        default_billing BOOLEAN NOT NULL DEFAULT FALSE,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_customer_addresses_customer ON customer_addresses (customer_id, id)",
    // At most one default of each kind per customer, whatever races.
    "CREATE UNIQUE INDEX uq_customer_addresses_default_shipping ON customer_addresses (customer_id) WHERE default_shipping",
    "CREATE UNIQUE INDEX uq_customer_addresses_default_billing ON customer_addresses (customer_id) WHERE default_billing",
    // Only a hash of each secret is kept; `prefix` lets a person tell keys apart.
    "CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at {ts} NOT NULL,
        last_used_at {ts} NULL,
        revoked_at {ts} NULL
    )",
    "CREATE UNIQUE INDEX uq_api_keys_secret_hash ON api_keys (secret_hash)",
    "ALTER TABLE refresh_tokens ADD COLUMN family_expires_at {ts} NULL",
    "CREATE INDEX ix_refresh_tokens_account ON refresh_tokens (account_kind, account_id)",
    "CREATE INDEX ix_refresh_tokens_expires ON refresh_tokens (expires_at)",
];

const DOWN: &[&str] = &[
    "DROP INDEX ix_refresh_tokens_expires",
    "DROP INDEX ix_refresh_tokens_account",
    "ALTER TABLE refresh_tokens DROP COLUMN family_expires_at",
    "DROP TABLE api_keys",
    "DROP TABLE customer_addresses",
    "DROP TABLE customers",
    "ALTER TABLE staff_accounts ADD COLUMN permissions TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE staff_accounts DROP COLUMN version",
    "ALTER TABLE staff_accounts DROP COLUMN role",
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
