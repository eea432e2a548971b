//! The purchase flow: the shop's selling setup (tax per currency, shipping zones and methods,
//! tax rates, discount codes), carts, checkouts in progress, orders with their lines and
//! history, and payments.
//!
//! Counters that a race must not pass are columns with a `CHECK` and conditional increments
//! (`times_used`, per-customer uses, `refunded <= captured`, fulfilled and returned units).
//! Order numbers come from a sequence on PostgreSQL (no row every checkout waits on) and from
//! `MAX + 1` under SQLite's one writer.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_purchase"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE currency_settings (
        currency TEXT PRIMARY KEY CHECK (length(currency) = 3),
        prices_include_tax BOOLEAN NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE TABLE shipping_zones (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE TABLE shipping_zone_countries (
        zone_id TEXT NOT NULL REFERENCES shipping_zones (id) ON DELETE CASCADE,
        country TEXT NOT NULL CHECK (length(country) = 2),
        PRIMARY KEY (zone_id, country)
    )",
    "CREATE INDEX ix_shipping_zone_countries_country ON shipping_zone_countries (country)",
    "CREATE TABLE shipping_methods (
        id TEXT PRIMARY KEY,
        zone_id TEXT NOT NULL REFERENCES shipping_zones (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        price BIGINT NOT NULL CHECK (price >= 0),
        free_over BIGINT NULL CHECK (free_over IS NULL OR free_over >= 0)
    )",
    "CREATE INDEX ix_shipping_methods_zone ON shipping_methods (zone_id, position)",
    "CREATE TABLE tax_rates (
        id TEXT PRIMARY KEY,
        country TEXT NOT NULL CHECK (length(country) = 2),
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        rate_bp BIGINT NOT NULL CHECK (rate_bp >= 0 AND rate_bp <= 10000),
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_tax_rates_country_region ON tax_rates (country, region)",
    "CREATE TABLE discounts (
        id TEXT PRIMARY KEY,
        code TEXT NOT NULL,
        code_key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('percentage', 'fixed', 'free_shipping')),
        value_bp BIGINT NULL CHECK (value_bp IS NULL OR (value_bp > 0 AND value_bp <= 10000)),
        value_amount BIGINT NULL CHECK (value_amount IS NULL OR value_amount > 0),
        value_currency TEXT NULL,
        minimum_amount BIGINT NULL,
        minimum_currency TEXT NULL,
        starts_at {ts} NULL,
        ends_at {ts} NULL,
        usage_limit BIGINT NULL,
        usage_limit_per_customer BIGINT NULL,
        times_used BIGINT NOT NULL DEFAULT 0 CHECK (times_used >= 0 AND (usage_limit IS NULL OR times_used <= usage_limit)),
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_discounts_code_key ON discounts (code_key)",
    "CREATE TABLE discount_uses (
        discount_id TEXT NOT NULL REFERENCES discounts (id) ON DELETE CASCADE,
        customer_key TEXT NOT NULL,
        uses BIGINT NOT NULL CHECK (uses >= 0),
        PRIMARY KEY (discount_id, customer_key)
    )",
    "CREATE TABLE carts (
        id TEXT PRIMARY KEY,
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        customer_id TEXT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'checking_out', 'ordered', 'merged')),
        email TEXT NULL,
        shipping_address TEXT NULL,
        billing_address TEXT NULL,
        shipping_method_id TEXT NULL,
        checkout_id TEXT NULL,
        checkout_expires_at {ts} NULL,
        order_id TEXT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_carts_customer ON carts (customer_id, status)",
    "CREATE TABLE cart_items (
        id TEXT PRIMARY KEY,
        cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
        variant_id TEXT NOT NULL,
        quantity BIGINT NOT NULL CHECK (quantity >= 1 AND quantity <= 10000),
        created_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_cart_items_variant ON cart_items (cart_id, variant_id)",
    "CREATE TABLE cart_discounts (
        cart_id TEXT NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
        discount_id TEXT NOT NULL REFERENCES discounts (id) ON DELETE CASCADE,
        added_at {ts} NOT NULL,
        PRIMARY KEY (cart_id, discount_id)
    )",
    "CREATE TABLE orders (
        id TEXT PRIMARY KEY,
        number BIGINT NOT NULL,
        cart_id TEXT NOT NULL,
        status TEXT NOT NULL,
        currency TEXT NOT NULL,
        email TEXT NOT NULL,
        customer_id TEXT NULL,
        shipping_address TEXT NOT NULL,
        billing_address TEXT NULL,
        shipping_method TEXT NULL,
        discount_codes TEXT NOT NULL,
        prices_include_tax BOOLEAN NOT NULL,
        subtotal BIGINT NOT NULL,
        discount_total BIGINT NOT NULL,
        shipping_total BIGINT NOT NULL,
        shipping_tax BIGINT NOT NULL,
        tax_total BIGINT NOT NULL,
        total BIGINT NOT NULL,
        captured BIGINT NOT NULL CHECK (captured >= 0),
        refunded BIGINT NOT NULL CHECK (refunded >= 0 AND refunded <= captured),
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_orders_number ON orders (number)",
    "CREATE UNIQUE INDEX uq_orders_cart_id ON orders (cart_id)",
    "CREATE INDEX ix_orders_customer ON orders (customer_id, created_at)",
    "CREATE INDEX ix_orders_status ON orders (status, created_at)",
    "CREATE TABLE order_lines (
        order_id TEXT NOT NULL REFERENCES orders (id),
        position INTEGER NOT NULL,
        variant_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        product_id TEXT NOT NULL,
        title TEXT NOT NULL,
        quantity BIGINT NOT NULL CHECK (quantity >= 1),
        unit_price BIGINT NOT NULL,
        line_total BIGINT NOT NULL,
        discount BIGINT NOT NULL,
        tax BIGINT NOT NULL,
        fulfilled_quantity BIGINT NOT NULL DEFAULT 0 CHECK (fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity),
        returned_quantity BIGINT NOT NULL DEFAULT 0 CHECK (returned_quantity >= 0 AND returned_quantity <= fulfilled_quantity),
        backordered BIGINT NOT NULL DEFAULT 0 CHECK (backordered >= 0 AND backordered <= quantity),
        PRIMARY KEY (order_id, position)
    )",
    "CREATE TABLE order_history (
        id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL REFERENCES orders (id),
        status TEXT NULL,
        event TEXT NULL,
        actor TEXT NULL,
        note TEXT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_order_history_order ON order_history (order_id, id)",
    "CREATE TABLE payments (
        id TEXT PRIMARY KEY,
        checkout_id TEXT NOT NULL,
        order_id TEXT NULL,
        provider TEXT NOT NULL,
        provider_ref TEXT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'authorized', 'captured', 'voided', 'failed')),
        currency TEXT NOT NULL,
        amount BIGINT NOT NULL CHECK (amount >= 0),
        captured BIGINT NOT NULL CHECK (captured >= 0 AND captured <= amount),
        refunded BIGINT NOT NULL CHECK (refunded >= 0 AND refunded <= captured),
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_payments_checkout_id ON payments (checkout_id)",
    "CREATE INDEX ix_payments_order ON payments (order_id)",
    "CREATE TABLE payment_refunds (
        id TEXT PRIMARY KEY,
        payment_id TEXT NOT NULL REFERENCES payments (id),
        order_id TEXT NULL,
        return_id TEXT NULL,
        amount BIGINT NOT NULL CHECK (amount > 0),
        reason TEXT NULL,
        provider_ref TEXT NULL,
        actor TEXT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_payment_refunds_payment ON payment_refunds (payment_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE payment_refunds",
    "DROP TABLE payments",
    "DROP TABLE order_history",
    "DROP TABLE order_lines",
    "DROP TABLE orders",
    "DROP TABLE cart_discounts",
    "DROP TABLE cart_items",
    "DROP TABLE carts",
    "DROP TABLE discount_uses",
    "DROP TABLE discounts",
    "DROP TABLE tax_rates",
    "DROP TABLE shipping_methods",
    "DROP TABLE shipping_zone_countries",
    "DROP TABLE shipping_zones",
    "DROP TABLE currency_settings",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            crate::run_all(manager, &["CREATE SEQUENCE order_numbers START 1001"]).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            crate::run_all(manager, &["DROP SEQUENCE order_numbers"]).await?;
        }
        crate::run_all(manager, DOWN).await
    }
}
