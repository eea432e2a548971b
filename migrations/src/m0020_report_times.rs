//! What reports need beyond what the orders keep: when a refund was issued (`settled_at`, set
//! when the provider's refund is recorded) and when a cart's first checkout began
//! (`checkout_started_at`, kept when the checkout fails and the cart opens again); indexes
//! for the windows reports read. Existing rows take the closest times they have.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0020_report_times"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE payment_refunds ADD COLUMN settled_at {ts} NULL",
    "UPDATE payment_refunds SET settled_at = created_at WHERE status = 'done'",
    "CREATE INDEX ix_payment_refunds_settled ON payment_refunds (settled_at)",
    "ALTER TABLE carts ADD COLUMN checkout_started_at {ts} NULL",
    "UPDATE carts SET checkout_started_at = updated_at WHERE status IN ('checking_out', 'ordered')",
    "CREATE INDEX ix_carts_created ON carts (created_at)",
    "CREATE INDEX ix_orders_currency_created ON orders (currency, created_at)",
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
                "DROP INDEX ix_orders_currency_created",
                "DROP INDEX ix_carts_created",
                "ALTER TABLE carts DROP COLUMN checkout_started_at",
                "DROP INDEX ix_payment_refunds_settled",
                "ALTER TABLE payment_refunds DROP COLUMN settled_at",
            ],
        )
        .await
    }
}
