//! A cart's lines: adding units of a SKU, setting a line's quantity, removing a line.

use emporium_catalog as catalog;
use emporium_core::ValidationErrors;
use emporium_core::db::{now, statement};
use sea_orm::ConnectionTrait;

use super::*;
use crate::OrderError;

/// Units of a cart line: a whole number from 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    /// The quantity, or the field error `quantity` / `out_of_range`.
    pub fn parse(quantity: i64) -> Result<Self, ValidationErrors> {
        if (1..=MAX_QUANTITY).contains(&quantity) {
            Ok(Self(quantity))
        } else {
            Err(ValidationErrors::single(
                "quantity",
                "out_of_range",
                format!("must be a whole number from 1 to {MAX_QUANTITY}"),
            ))
        }
    }

    /// The number of units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Adds `quantity` units of a SKU (to its line if the cart has one); also the variant as read,
/// priced in the cart's currency (for [`view_knowing`]).
pub async fn add_item<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    sku: &str,
    quantity: Quantity,
) -> Result<(Cart, catalog::Purchasable), OrderError> {
    let quantity = quantity.get();
    let cart = open_for_change(db, cart_id, caller).await?;
    let found = match emporium_core::Sku::parse(sku) {
        Some(sku) => catalog::purchasable_by_sku(db, &sku, cart.currency).await?,
        None => None,
    };
    let variant = found.ok_or_else(|| OrderError::UnknownSku { sku: sku.to_owned() })?;
    if !variant.purchasable {
        return Err(OrderError::NotPurchasable { sku: variant.sku });
    }
    if variant.price.is_none() {
        return Err(OrderError::NoPrice { sku: variant.sku, currency: cart.currency.code().to_owned() });
    }
    let backend = db.get_database_backend();
    // One guarded statement: a new line only while the cart has room for one, an existing
    // line only up to the most a line holds. The cart's lock keeps the count still.
    let added = db
        .execute_raw(statement(
            backend,
            "INSERT INTO cart_items (id, cart_id, variant_id, quantity, created_at) SELECT ?, ?, ?, ?, ? \
             WHERE (SELECT COUNT(*) FROM cart_items WHERE cart_id = ?) < ? \
             OR EXISTS (SELECT 1 FROM cart_items WHERE cart_id = ? AND variant_id = ?) \
             ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity \
             WHERE cart_items.quantity + excluded.quantity <= ?",
            [
                emporium_core::id::new_id("item").into(),
                cart_id.into(),
                variant.variant_id.clone().into(),
                quantity.into(),
                now().into(),
                cart_id.into(),
                (MAX_ITEMS as i64).into(),
                cart_id.into(),
                variant.variant_id.clone().into(),
                MAX_QUANTITY.into(),
            ],
        ))
        .await?;
    if added.rows_affected() == 0 {
        let has = db
            .query_one_raw(statement(
                backend,
                "SELECT 1 AS has FROM cart_items WHERE cart_id = ? AND variant_id = ?",
                [cart_id.into(), variant.variant_id.into()],
            ))
            .await?;
        return Err(if has.is_some() {
            ValidationErrors::single(
                "quantity",
                "out_of_range",
                format!("the line would hold more than {MAX_QUANTITY} units"),
            )
        } else {
            ValidationErrors::single("sku", "too_many_items", format!("a cart holds at most {MAX_ITEMS} lines"))
        }
        .into());
    }
    Ok((cart, variant))
}

/// Sets a line's quantity.
pub async fn set_quantity<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    item_id: &str,
    quantity: Quantity,
) -> Result<Cart, OrderError> {
    let quantity = quantity.get();
    let cart = open_for_change(db, cart_id, caller).await?;
    if !emporium_core::id::is_id("item", item_id) {
        return Err(OrderError::NotFound("cart item"));
    }
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE cart_items SET quantity = ? WHERE id = ? AND cart_id = ?",
            [quantity.into(), item_id.into(), cart_id.into()],
        ))
        .await?;
    if changed.rows_affected() == 0 {
        return Err(OrderError::NotFound("cart item"));
    }
    Ok(cart)
}

/// Removes a line.
pub async fn remove_item<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    item_id: &str,
) -> Result<Cart, OrderError> {
    let cart = open_for_change(db, cart_id, caller).await?;
    if !emporium_core::id::is_id("item", item_id) {
        return Err(OrderError::NotFound("cart item"));
    }
    let removed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM cart_items WHERE id = ? AND cart_id = ?",
            [item_id.into(), cart_id.into()],
        ))
        .await?;
    if removed.rows_affected() == 0 {
        return Err(OrderError::NotFound("cart item"));
    }
    Ok(cart)
}
