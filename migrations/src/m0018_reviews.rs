//! Reviews (one per customer and product: the unique index decides) and each product's rating
//! over its approved reviews, kept by the moderation that changes it. A rating's `score` is its
//! average in hundredths, rounded half to even (`4.50` is 450): what `sort=rating` orders by.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0018_reviews"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE reviews (
        id TEXT PRIMARY KEY,
        product_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        author TEXT NOT NULL,
        verified_purchase BOOLEAN NOT NULL,
        status TEXT NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE UNIQUE INDEX uq_reviews_customer_id ON reviews (customer_id, product_id)",
    "CREATE INDEX ix_reviews_product ON reviews (product_id, status, created_at)",
    "CREATE INDEX ix_reviews_status ON reviews (status, created_at)",
    "CREATE TABLE product_ratings (
        product_id TEXT PRIMARY KEY,
        count BIGINT NOT NULL CHECK (count >= 0),
        total BIGINT NOT NULL CHECK (total >= 0),
        stars_1 BIGINT NOT NULL CHECK (stars_1 >= 0),
        stars_2 BIGINT NOT NULL CHECK (stars_2 >= 0),
        stars_3 BIGINT NOT NULL CHECK (stars_3 >= 0),
        stars_4 BIGINT NOT NULL CHECK (stars_4 >= 0),
        stars_5 BIGINT NOT NULL CHECK (stars_5 >= 0),
        score BIGINT NOT NULL DEFAULT 0 CHECK (score >= 0)
    )",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, &["DROP TABLE product_ratings", "DROP TABLE reviews"]).await
    }
}
