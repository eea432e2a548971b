//! A guest's cart becoming a customer's when they sign in.

use emporium_core::db::{now, statement};
use sea_orm::ConnectionTrait;

use super::*;
use crate::OrderError;

/// Makes a guest cart the customer's, merging it into their open cart in the same currency if
/// they have one (quantities added, up to the line limit). Returns the customer's cart id.
pub async fn claim<C: ConnectionTrait>(db: &C, cart_id: &str, customer_id: &str) -> Result<String, OrderError> {
    let caller = Caller::Customer(customer_id.to_owned());
    let cart = find(db, cart_id, &caller).await?;
    if cart.customer_id.is_some() {
        return Ok(cart.id);
    }
    // Under the lock: a concurrent claim by another customer makes this one 404.
    let cart = open_for_change(db, cart_id, &caller).await?;
    if cart.customer_id.is_some() {
        return Ok(cart.id);
    }
    let backend = db.get_database_backend();
    let existing = db
        .query_one_raw(statement(
            backend,
            "SELECT id FROM carts WHERE customer_id = ? AND status = 'open' AND currency = ? AND id <> ? \
             ORDER BY updated_at DESC, id DESC LIMIT 1",
            [customer_id.into(), cart.currency.code().into(), cart_id.into()],
        ))
        .await?;
    let Some(existing) = existing else {
        db.execute_raw(statement(
            backend,
            "UPDATE carts SET customer_id = ?, updated_at = ? WHERE id = ?",
            [customer_id.into(), now().into(), cart_id.into()],
        ))
        .await?;
        return Ok(cart.id);
    };
    let target: String = existing.try_get("", "id")?;
    open_for_change(db, &target, &caller).await?;
    let guest_items = db
        .query_all_raw(statement(
            backend,
            "SELECT variant_id, quantity FROM cart_items WHERE cart_id = ? ORDER BY created_at, id",
            [cart_id.into()],
        ))
        .await?;
    for row in guest_items {
        let (variant_id, quantity): (String, i64) = (row.try_get("", "variant_id")?, row.try_get("", "quantity")?);
        db.execute_raw(statement(
            backend,
            "INSERT INTO cart_items (id, cart_id, variant_id, quantity, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = \
             CASE WHEN cart_items.quantity + excluded.quantity > ? THEN ? ELSE cart_items.quantity + excluded.quantity END",
            [
                emporium_core::id::new_id("item").into(),
                target.clone().into(),
                variant_id.into(),
                quantity.into(),
                now().into(),
                MAX_QUANTITY.into(),
                MAX_QUANTITY.into(),
            ],
        ))
        .await?;
    }
    db.execute_raw(statement(
        backend,
        "INSERT INTO cart_discounts (cart_id, discount_id, added_at) SELECT ?, discount_id, added_at FROM cart_discounts \
         WHERE cart_id = ? AND discount_id NOT IN (SELECT discount_id FROM cart_discounts WHERE cart_id = ?)",
        [target.clone().into(), cart_id.into(), target.clone().into()],
    ))
    .await?;
    db.execute_raw(statement(backend, "DELETE FROM cart_items WHERE cart_id = ?", [cart_id.into()])).await?;
    db.execute_raw(statement(backend, "DELETE FROM cart_discounts WHERE cart_id = ?", [cart_id.into()])).await?;
    db.execute_raw(statement(
        backend,
        "UPDATE carts SET status = 'merged', customer_id = ?, updated_at = ? WHERE id = ?",
        [customer_id.into(), now().into(), cart_id.into()],
    ))
    .await?;
    Ok(target)
}
