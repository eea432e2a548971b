//! Sales counters for recommendations, kept by the orders that move them (placing an order
//! adds it, cancelling it takes it back, in the same transaction): per product, the orders
//! and units that hold it (`product_sales`); per ordered pair of products, the orders that
//! hold both (`co_purchases`, each pair in both directions, over at most the first 20 products
//! of an order). Filled here from the orders already placed.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0019_sales_counters"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE product_sales (
        product_id TEXT PRIMARY KEY,
        orders BIGINT NOT NULL CHECK (orders >= 0),
        units BIGINT NOT NULL CHECK (units >= 0)
    )",
    "CREATE INDEX ix_product_sales_units ON product_sales (units, product_id)",
    "CREATE TABLE co_purchases (
        product_id TEXT NOT NULL,
        other_id TEXT NOT NULL,
        orders BIGINT NOT NULL CHECK (orders >= 0),
        PRIMARY KEY (product_id, other_id)
    )",
    "CREATE INDEX ix_co_purchases_rank ON co_purchases (product_id, orders, other_id)",
    "INSERT INTO product_sales (product_id, orders, units)
     SELECT l.product_id, COUNT(DISTINCT l.order_id), SUM(l.quantity)
     FROM order_lines l JOIN orders o ON o.id = l.order_id
     WHERE o.status <> 'cancelled' GROUP BY l.product_id",
    "INSERT INTO co_purchases (product_id, other_id, orders)
     WITH firsts AS (
         SELECT l.order_id, l.product_id, MIN(l.position) AS position
         FROM order_lines l JOIN orders o ON o.id = l.order_id
         WHERE o.status <> 'cancelled' GROUP BY l.order_id, l.product_id
     ), ranked AS (
         SELECT order_id, product_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY position) AS place
         FROM firsts
     )
     SELECT a.product_id, b.product_id, COUNT(*)
     FROM ranked a JOIN ranked b ON a.order_id = b.order_id AND a.product_id <> b.product_id
     WHERE a.place <= 20 AND b.place <= 20
     GROUP BY a.product_id, b.product_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, &["DROP TABLE co_purchases", "DROP TABLE product_sales"]).await
    }
}
