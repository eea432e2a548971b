//! The catalog, inventory and staff identity tables.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

const UP: &[&str] = &[
    // Keys the server generates once and every instance shares (the JWT signing key).
    "CREATE TABLE server_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE TABLE categories (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        parent_id TEXT NULL REFERENCES categories (id),
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_categories_slug ON categories (slug)",
    "CREATE INDEX ix_categories_parent ON categories (parent_id)",
    // Deleted products keep their rows (stock history and orders point at them); the slug
    // and SKUs of a deleted product become free again, hence the partial unique indexes.
    "CREATE TABLE products (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NULL,
        status TEXT NOT NULL CHECK (status IN ('draft', 'published')),
        seo_title TEXT NULL,
        seo_description TEXT NULL,
        options TEXT NOT NULL,
        images TEXT NOT NULL,
        search_text TEXT NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        deleted_at {ts} NULL
    )",
    "CREATE UNIQUE INDEX uq_products_slug ON products (slug) WHERE deleted_at IS NULL",
    "CREATE INDEX ix_products_listing ON products (status, id) WHERE deleted_at IS NULL",
    "CREATE INDEX ix_products_name ON products (name, id) WHERE deleted_at IS NULL",
    "CREATE TABLE product_categories (
        product_id TEXT NOT NULL REFERENCES products (id),
        category_id TEXT NOT NULL REFERENCES categories (id),
        position INTEGER NOT NULL,
        PRIMARY KEY (product_id, category_id)
    )",
    "CREATE INDEX ix_product_categories_category ON product_categories (category_id, product_id)",
    "CREATE TABLE variants (
        id TEXT PRIMARY KEY,
        product_id TEXT NOT NULL REFERENCES products (id),
        sku TEXT NOT NULL,
        title TEXT NOT NULL,
        options TEXT NOT NULL,
        position INTEGER NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        deleted_at {ts} NULL
    )",
    "CREATE UNIQUE INDEX uq_variants_sku ON variants (sku) WHERE deleted_at IS NULL",
    "CREATE INDEX ix_variants_product ON variants (product_id, position)",
    "CREATE TABLE variant_prices (
        variant_id TEXT NOT NULL REFERENCES variants (id),
        currency TEXT NOT NULL CHECK (length(currency) = 3),
        amount BIGINT NOT NULL CHECK (amount > 0),
        PRIMARY KEY (variant_id, currency)
    )",
    // Each product's lowest live variant price per currency, kept by the catalog on every
    // variant write, so price sorts are an indexed join rather than a grouped subquery.
    "CREATE TABLE product_prices (
        product_id TEXT NOT NULL REFERENCES products (id),
        currency TEXT NOT NULL,
        min_amount BIGINT NOT NULL,
        PRIMARY KEY (product_id, currency)
    )",
    "CREATE INDEX ix_product_prices_sort ON product_prices (currency, min_amount, product_id)",
    "CREATE TABLE locations (
        id TEXT PRIMARY KEY,
        code TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_locations_code ON locations (code)",
    // Units per variant per location. The checks are the last line of defence against
    // overselling: a conditional update that would break them fails instead.
    "CREATE TABLE stock_levels (
        variant_id TEXT NOT NULL REFERENCES variants (id),
        location_id TEXT NOT NULL REFERENCES locations (id),
        on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
        reserved BIGINT NOT NULL CHECK (reserved >= 0 AND reserved <= on_hand),
        updated_at {ts} NOT NULL,
        PRIMARY KEY (variant_id, location_id)
    )",
    "CREATE TABLE stock_movements (
        id TEXT PRIMARY KEY,
        variant_id TEXT NOT NULL REFERENCES variants (id),
        location_id TEXT NOT NULL REFERENCES locations (id),
        delta BIGINT NOT NULL,
        reason TEXT NOT NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_stock_movements_variant ON stock_movements (variant_id, created_at)",
    "CREATE TABLE staff_accounts (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        disabled_at {ts} NULL
    )",
    "CREATE UNIQUE INDEX uq_staff_accounts_email ON staff_accounts (email)",
    // Refresh tokens rotate within a family; reusing a spent one revokes the family.
    "CREATE TABLE refresh_tokens (
        id TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        account_kind TEXT NOT NULL CHECK (account_kind IN ('staff', 'customer')),
        account_id TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        expires_at {ts} NOT NULL,
        used_at {ts} NULL,
        revoked_at {ts} NULL,
        created_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_refresh_tokens_token_hash ON refresh_tokens (token_hash)",
    "CREATE INDEX ix_refresh_tokens_family ON refresh_tokens (family_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE refresh_tokens",
    "DROP TABLE staff_accounts",
    "DROP TABLE stock_movements",
    "DROP TABLE stock_levels",
    "DROP TABLE locations",
    "DROP TABLE product_prices",
    "DROP TABLE variant_prices",
    "DROP TABLE variants",
    "DROP TABLE product_categories",
    "DROP TABLE products",
    "DROP TABLE categories",
    "DROP TABLE server_secrets",
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
