//! What the review of the purchase flow needed in the schema: each return line's refunded
//! share (held with its refund, so racing return refunds never pay a line back more than it
//! paid), delivered fulfilments, pending refunds that back off and give up, and the
//! `marketing` staff role (the role's CHECK is replaced with its column, as SQLite cannot alter
//! a constraint).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0012_review_fixes"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE return_items ADD COLUMN refunded BIGINT NULL",
    "ALTER TABLE fulfillments ADD COLUMN delivered_at {ts} NULL",
    "ALTER TABLE payment_refunds ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE payment_refunds ADD COLUMN next_attempt_at {ts} NULL",
    "CREATE INDEX ix_payment_refunds_due ON payment_refunds (status, next_attempt_at)",
    "ALTER TABLE staff_accounts ADD COLUMN staff_role TEXT NOT NULL DEFAULT 'admin' \
        CHECK (staff_role IN ('admin', 'catalog', 'fulfillment', 'support', 'marketing'))",
    "UPDATE staff_accounts SET staff_role = role",
    "ALTER TABLE staff_accounts DROP COLUMN role",
    "ALTER TABLE staff_accounts RENAME COLUMN staff_role TO role",
];

const DOWN: &[&str] = &[
    "ALTER TABLE staff_accounts ADD COLUMN old_role TEXT NOT NULL DEFAULT 'admin' \
        CHECK (old_role IN ('admin', 'catalog', 'fulfillment', 'support'))",
    "UPDATE staff_accounts SET old_role = CASE WHEN role = 'marketing' THEN 'support' ELSE role END",
    "ALTER TABLE staff_accounts DROP COLUMN role",
    "ALTER TABLE staff_accounts RENAME COLUMN old_role TO role",
    "DROP INDEX ix_payment_refunds_due",
    "ALTER TABLE payment_refunds DROP COLUMN next_attempt_at",
    "ALTER TABLE payment_refunds DROP COLUMN attempts",
    "ALTER TABLE fulfillments DROP COLUMN delivered_at",
    "ALTER TABLE return_items DROP COLUMN refunded",
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
