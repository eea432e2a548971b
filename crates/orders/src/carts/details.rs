//! What a shopper sets on a cart besides its lines: email, addresses, shipping method, and
//! discount codes.

use emporium_core::db::{now, statement};
use emporium_core::{Patch, ValidationErrors};
use emporium_customers::{AddressInput, Email};
use sea_orm::ConnectionTrait;

use super::*;
use crate::setup::{self};
use crate::{DiscountRefusal, OrderError};

/// What `PUT /v1/carts/{id}` changes: each field left out, cleared or set.
#[derive(Debug, Clone, Default)]
pub struct CartChange {
    pub email: Patch<String>,
    pub shipping_address: Patch<AddressInput>,
    pub billing_address: Patch<AddressInput>,
    pub shipping_method: Patch<String>,
}

/// Changes a cart's email, addresses or shipping method. A method must ship to the cart's
/// address (as changed) in its currency.
pub async fn update_cart<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    change: &CartChange,
) -> Result<Cart, OrderError> {
    let mut errors = ValidationErrors::new();
    let email = match &change.email {
        Patch::Value(e) => match Email::parse(e, "email") {
            Ok(email) => Patch::Value(email.as_str().to_owned()),
            Err(e) => {
                errors.extend(e);
                Patch::Missing
            }
        },
        Patch::Null => Patch::Null,
        Patch::Missing => Patch::Missing,
    };
    let address = |errors: &mut ValidationErrors, patch: &Patch<AddressInput>, prefix: &str| match patch {
        Patch::Value(a) => match a.check(prefix) {
            Ok(a) => Patch::Value(a),
            Err(e) => {
                errors.extend(e);
                Patch::Missing
            }
        },
        Patch::Null => Patch::Null,
        Patch::Missing => Patch::Missing,
    };
    let shipping = address(&mut errors, &change.shipping_address, "shipping_address.");
    let billing = address(&mut errors, &change.billing_address, "billing_address.");
    errors.finish(())?;
    if !emporium_core::id::is_id("cart", cart_id) {
        return Err(OrderError::NotFound("cart"));
    }
    // Locked, changed and read in one statement: each field is set when the change names it.
    // A method that does not ship to the result is refused after, and the caller's unit of
    // work rolls the change back.
    let (set_email, email) = sql_patch(email);
    let (set_shipping, shipping) = sql_patch(shipping.map(|a| address_json(&a).to_string()));
    let (set_billing, billing) = sql_patch(billing.map(|a| address_json(&a).to_string()));
    let (set_method, method) = sql_patch(change.shipping_method.clone());
    let changed = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE carts SET email = CASE WHEN ? THEN ? ELSE email END, \
                 shipping_address = CASE WHEN ? THEN ? ELSE shipping_address END, \
                 billing_address = CASE WHEN ? THEN ? ELSE billing_address END, \
                 shipping_method_id = CASE WHEN ? THEN ? ELSE shipping_method_id END, updated_at = ? \
                 WHERE id = ? AND status = 'open' AND (customer_id IS NULL OR customer_id = ?) \
                 RETURNING {CART_COLUMNS}"
            ),
            [
                set_email.into(),
                email.into(),
                set_shipping.into(),
                shipping.into(),
                set_billing.into(),
                billing.into(),
                set_method.into(),
                method.into(),
                now().into(),
                cart_id.into(),
                caller.customer_id().into(),
            ],
        ))
        .await?;
    let cart = match changed {
        Some(row) => cart_of(&row)?,
        // Not the caller's (404), or not open: say which.
        None => return Err(refused_change(&find(db, cart_id, caller).await?.status)),
    };
    if let Patch::Value(id) = &change.shipping_method {
        let ships = match &cart.shipping_address {
            Some(a) => setup::methods_for(db, a.country.as_str(), cart.currency).await?.iter().any(|m| m.id == *id),
            None => false,
        };
        if !ships {
            return Err(ValidationErrors::single(
                "shipping_method",
                "unknown_shipping_method",
                "must be one of the cart's shipping methods (set the shipping address first)",
            )
            .into());
        }
    }
    Ok(cart)
}

/// A patch as two bound values: whether to set the column, and to what.
pub(super) fn sql_patch<T>(patch: Patch<T>) -> (bool, Option<T>) {
    match patch {
        Patch::Missing => (false, None),
        Patch::Null => (true, None),
        Patch::Value(v) => (true, Some(v)),
    }
}

/// The key per-customer limits count under: the customer, else the cart's email.
pub fn customer_key(cart: &Cart) -> Option<String> {
    cart.customer_id.clone().or_else(|| cart.email.as_ref().map(|e| e.to_lowercase()))
}

/// Applies a discount code (422 `discount_invalid` with the reason when it cannot apply).
pub async fn apply_discount<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    code: &str,
) -> Result<Cart, OrderError> {
    let cart = open_for_change(db, cart_id, caller).await?;
    let found = if emporium_core::db::lookupable(code) { setup::discount_by_code(db, code).await? } else { None };
    let discount = found.ok_or(OrderError::DiscountInvalid(DiscountRefusal::Unknown))?;
    let view = view_of(db, cart).await?;
    if view.discount_codes.iter().any(|c| c == &discount.code) {
        return Ok(view.cart);
    }
    if view.discount_codes.len() >= MAX_CODES {
        return Err(ValidationErrors::single(
            "code",
            "too_many_codes",
            format!("a cart holds at most {MAX_CODES} codes"),
        )
        .into());
    }
    if let Some(reason) = setup::refusal(&discount, view.totals.subtotal, now()) {
        return Err(OrderError::DiscountInvalid(reason));
    }
    if let (Some(limit), Some(key)) = (discount.usage_limit_per_customer, customer_key(&view.cart))
        && setup::uses_by(db, &discount.id, &key).await? >= limit
    {
        return Err(OrderError::DiscountInvalid(DiscountRefusal::UsageLimitReached));
    }
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO cart_discounts (cart_id, discount_id, added_at) VALUES (?, ?, ?)",
        [cart_id.into(), discount.id.into(), now().into()],
    ))
    .await?;
    Ok(view.cart)
}

/// Removes a code from the cart (404 if the cart does not hold it).
pub async fn remove_discount<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    code: &str,
) -> Result<Cart, OrderError> {
    let cart = open_for_change(db, cart_id, caller).await?;
    if !emporium_core::db::lookupable(code) {
        return Err(OrderError::NotFound("discount code on this cart"));
    }
    let removed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM cart_discounts WHERE cart_id = ? AND discount_id IN (SELECT id FROM discounts WHERE code_key = ?)",
            [cart_id.into(), setup::code_key(code).into()],
        ))
        .await?;
    if removed.rows_affected() == 0 {
        return Err(OrderError::NotFound("discount code on this cart"));
    }
    Ok(cart)
}
