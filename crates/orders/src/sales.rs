//! Sales counters, kept by the orders that move them: placing an order adds it and
//! cancelling it takes it back, in that write's own transaction, so they never need a rescan
//! and never disagree with the orders. `product_sales` counts per product the orders and units
//! that hold it; `co_purchases` counts per ordered pair of products the orders that hold both
//! (each pair stored both ways, so one indexed range answers "bought with this"), over at most
//! the first [`MAX_PAIRED`] products of an order (a 100-line order would otherwise write
//! 9,900 rows). Recommendations read them.

use std::collections::BTreeMap;

use emporium_core::db::statement;
use sea_orm::{ConnectionTrait, DbErr, Value};

use crate::orders::OrderLine;

/// The products of an order, in line order, that count towards its pairs.
pub const MAX_PAIRED: usize = 20;

/// Adds a placed order's lines to the counters. Rows are written in key order, so concurrent
/// orders take their locks in the same order.
pub async fn add<C: ConnectionTrait>(db: &C, lines: &[OrderLine]) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let (units, pairs) = counted(lines);
    if units.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("INSERT INTO product_sales (product_id, orders, units) VALUES ");
    let mut values: Vec<Value> = Vec::with_capacity(units.len() * 2);
    for (i, (product, quantity)) in units.iter().enumerate() {
        sql.push_str(if i == 0 { "(?, 1, ?)" } else { ", (?, 1, ?)" });
        values.extend([(*product).into(), (*quantity).into()]);
    }
    sql.push_str(
        " ON CONFLICT (product_id) DO UPDATE SET orders = product_sales.orders + excluded.orders, \
         units = product_sales.units + excluded.units",
    );
    db.execute_raw(statement(backend, &sql, values)).await?;
    if pairs.len() < 2 {
        return Ok(());
    }
    let mut sql = String::from("INSERT INTO co_purchases (product_id, other_id, orders) VALUES ");
    let mut values: Vec<Value> = Vec::with_capacity(pairs.len() * pairs.len() * 2);
    let mut first = true;
    for a in &pairs {
        for b in pairs.iter().filter(|b| *b != a) {
            sql.push_str(if first { "(?, ?, 1)" } else { ", (?, ?, 1)" });
            first = false;
            values.extend([(*a).into(), (*b).into()]);
        }
    }
    sql.push_str(" ON CONFLICT (product_id, other_id) DO UPDATE SET orders = co_purchases.orders + excluded.orders");
    db.execute_raw(statement(backend, &sql, values)).await?;
    Ok(())
}

/// Takes a cancelled order's lines back out of the counters ([`add`] put them in). On
/// PostgreSQL the rows are locked first in the key order [`add`] writes them in (bytes, not
/// the database's collation), so a cancellation and a checkout never wait on each other in a
/// cycle.
pub async fn remove<C: ConnectionTrait>(db: &C, lines: &[OrderLine]) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let (units, pairs) = counted(lines);
    if units.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; units.len()].join(", ");
    if backend == sea_orm::DbBackend::Postgres {
        let keys: Vec<Value> = units.keys().map(|product| Value::from(*product)).collect();
        db.query_all_raw(statement(
            backend,
            &format!(
                "SELECT product_id FROM product_sales WHERE product_id IN ({marks}) \
                 ORDER BY product_id COLLATE \"C\" FOR UPDATE"
            ),
            keys,
        ))
        .await?;
    }
    let mut cases = String::new();
    let mut values: Vec<Value> = Vec::with_capacity(units.len() * 3);
    for (product, quantity) in &units {
        cases.push_str(" WHEN ? THEN ?");
        values.extend([(*product).into(), (*quantity).into()]);
    }
    values.extend(units.keys().map(|product| Value::from(*product)));
    db.execute_raw(statement(
        backend,
        &format!(
            "UPDATE product_sales SET orders = orders - 1, units = units - CASE product_id{cases} ELSE 0 END \
             WHERE product_id IN ({marks})"
        ),
        values,
    ))
    .await?;
    if pairs.len() < 2 {
        return Ok(());
    }
    // Every ordered pair of these products, and no other row, is one of the order's pairs.
    let marks = vec!["?"; pairs.len()].join(", ");
    let values: Vec<Value> = pairs.iter().chain(&pairs).map(|product| Value::from(*product)).collect();
    let among = format!("product_id IN ({marks}) AND other_id IN ({marks}) AND product_id <> other_id");
    if backend == sea_orm::DbBackend::Postgres {
        db.query_all_raw(statement(
            backend,
            &format!(
                "SELECT product_id FROM co_purchases WHERE {among} \
                 ORDER BY product_id COLLATE \"C\", other_id COLLATE \"C\" FOR UPDATE"
            ),
            values.clone(),
        ))
        .await?;
    }
    db.execute_raw(statement(backend, &format!("UPDATE co_purchases SET orders = orders - 1 WHERE {among}"), values))
        .await?;
    Ok(())
}

/// Units per product (in key order), and the products that make the order's pairs: the first
/// [`MAX_PAIRED`] in line order, sorted.
fn counted(lines: &[OrderLine]) -> (BTreeMap<&str, i64>, Vec<&str>) {
    let mut units: BTreeMap<&str, i64> = BTreeMap::new();
    let mut pairs: Vec<&str> = Vec::new();
    for line in lines {
        if !units.contains_key(line.product_id.as_str()) && pairs.len() < MAX_PAIRED {
            pairs.push(&line.product_id);
        }
        *units.entry(&line.product_id).or_default() += line.quantity;
    }
    pairs.sort_unstable();
    (units, pairs)
}

/// Counts every order not cancelled again, from scratch, as [`add`] counts each one: for a
/// bulk load that wrote orders without it (`emporium seed --orders`). In the caller's
/// transaction; on PostgreSQL the counters are locked first, so an order placed meanwhile
/// waits and then adds itself to the fresh counts.
pub async fn rebuild<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    if backend == sea_orm::DbBackend::Postgres {
        // It reads every order: a million take longer than a request's statement timeout,
        // which it lifts for this transaction only.
        db.execute_raw(statement(backend, "SET LOCAL statement_timeout = 0", [])).await?;
        db.execute_raw(statement(backend, "LOCK TABLE product_sales, co_purchases IN EXCLUSIVE MODE", [])).await?;
    }
    for sql in [
        "DELETE FROM product_sales",
        "DELETE FROM co_purchases",
        "INSERT INTO product_sales (product_id, orders, units) \
         SELECT l.product_id, COUNT(DISTINCT l.order_id), SUM(l.quantity) \
         FROM order_lines l JOIN orders o ON o.id = l.order_id \
         WHERE o.status <> 'cancelled' GROUP BY l.product_id",
        "INSERT INTO co_purchases (product_id, other_id, orders) \
         WITH firsts AS ( \
             SELECT l.order_id, l.product_id, MIN(l.position) AS position \
             FROM order_lines l JOIN orders o ON o.id = l.order_id \
             WHERE o.status <> 'cancelled' GROUP BY l.order_id, l.product_id \
         ), ranked AS ( \
             SELECT order_id, product_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY position) AS place \
             FROM firsts \
         ) \
         SELECT a.product_id, b.product_id, COUNT(*) \
         FROM ranked a JOIN ranked b ON a.order_id = b.order_id AND a.product_id <> b.product_id \
         WHERE a.place <= 20 AND b.place <= 20 \
         GROUP BY a.product_id, b.product_id",
    ] {
        db.execute_raw(statement(backend, sql, [])).await?;
    }
    Ok(())
}

/// The products most often in the same orders as `product_id`, most first (ties by id), with
/// how many orders held both; at most `limit`.
pub async fn bought_with<C: ConnectionTrait>(
    db: &C,
    product_id: &str,
    limit: u64,
) -> Result<Vec<(String, i64)>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT other_id, orders FROM co_purchases WHERE product_id = ? AND orders > 0 \
             ORDER BY orders DESC, other_id ASC LIMIT ?",
            [product_id.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(|row| Ok((row.try_get("", "other_id")?, row.try_get("", "orders")?))).collect()
}

/// The products most often in the same orders as any of `product_ids`, summed over them,
/// most first (ties by id); at most `limit`.
pub async fn bought_with_any<C: ConnectionTrait>(
    db: &C,
    product_ids: &[String],
    limit: u64,
) -> Result<Vec<(String, i64)>, DbErr> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; product_ids.len()].join(", ");
    let mut values: Vec<Value> = product_ids.iter().map(|id| id.clone().into()).collect();
    values.push((limit as i64).into());
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT other_id, CAST(SUM(orders) AS BIGINT) AS together FROM co_purchases \
                 WHERE product_id IN ({marks}) AND orders > 0 \
                 GROUP BY other_id ORDER BY together DESC, other_id ASC LIMIT ?"
            ),
            values,
        ))
        .await?;
    rows.iter().map(|row| Ok((row.try_get("", "other_id")?, row.try_get("", "together")?))).collect()
}

/// The best sellers (by units, ties by id) among the products in any of `category_ids`;
/// at most `limit`.
pub async fn best_sellers_in<C: ConnectionTrait>(
    db: &C,
    category_ids: &[String],
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    if category_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; category_ids.len()].join(", ");
    let mut values: Vec<Value> = category_ids.iter().map(|id| id.clone().into()).collect();
    values.push((limit as i64).into());
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT s.product_id FROM product_sales s WHERE s.units > 0 AND s.product_id IN \
                 (SELECT product_id FROM product_categories WHERE category_id IN ({marks})) \
                 ORDER BY s.units DESC, s.product_id ASC LIMIT ?"
            ),
            values,
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "product_id")).collect()
}

/// The products a customer bought (in orders not cancelled), most recent first; at most
/// `limit`.
pub async fn bought_by<C: ConnectionTrait>(db: &C, customer_id: &str, limit: u64) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT l.product_id, MAX(o.created_at) AS last_at FROM orders o JOIN order_lines l ON l.order_id = o.id \
             WHERE o.customer_id = ? AND o.status <> 'cancelled' \
             GROUP BY l.product_id ORDER BY last_at DESC, l.product_id ASC LIMIT ?",
            [customer_id.into(), (limit as i64).into()],
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "product_id")).collect()
}

/// Which of `product_ids` a customer bought (in orders not cancelled).
pub async fn bought_among<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    product_ids: &[String],
) -> Result<Vec<String>, DbErr> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; product_ids.len()].join(", ");
    let mut values: Vec<Value> = vec![customer_id.into()];
    values.extend(product_ids.iter().map(|id| Value::from(id.clone())));
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT DISTINCT l.product_id FROM orders o JOIN order_lines l ON l.order_id = o.id \
                 WHERE o.customer_id = ? AND o.status <> 'cancelled' AND l.product_id IN ({marks})"
            ),
            values,
        ))
        .await?;
    rows.iter().map(|row| row.try_get("", "product_id")).collect()
}
