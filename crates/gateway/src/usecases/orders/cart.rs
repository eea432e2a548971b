//! Carts: opened, changed, claimed and priced.

use super::*;

async fn cart_answer(
    txn: UnitOfWork,
    idempotency: &Idempotency,
    status: StatusCode,
    cart_id: &str,
    caller: &Caller,
) -> Result<Done<CartDto>, ApiError> {
    let value = CartDto::from(carts::view(&txn, cart_id, caller).await?);
    let answer = answer(txn, idempotency, status, &value).await?;
    Ok(Done { value, answer })
}

/// Opens a cart (201).
pub async fn create_cart(
    state: &AppState,
    idempotency: &Idempotency,
    caller: &Caller,
    currency: &str,
) -> Result<Done<CartDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let value = CartDto::from(carts::create_cart(&txn, caller, currency).await?);
    let answer = answer(txn, idempotency, StatusCode::CREATED, &value).await?;
    Ok(Done { value, answer })
}

/// A cart, priced now.
pub async fn cart(state: &AppState, cart_id: &str, caller: &Caller) -> Result<CartDto, ApiError> {
    let txn = state.db.begin().await?;
    let view = carts::view(&txn, cart_id, caller).await?;
    txn.commit().await?;
    Ok(view.into())
}

/// A change to a cart, answered with the cart.
pub enum CartOp {
    AddItem { sku: String, quantity: carts::Quantity },
    SetQuantity { item_id: String, quantity: carts::Quantity },
    RemoveItem { item_id: String },
    Update(Box<CartChange>),
    ApplyDiscount { code: String },
    RemoveDiscount { code: String },
}

/// Applies a change to a cart and answers the cart (200).
pub async fn change_cart(
    state: &AppState,
    idempotency: &Idempotency,
    cart_id: &str,
    caller: &Caller,
    op: CartOp,
) -> Result<Done<CartDto>, ApiError> {
    let txn = state.writer.begin().await?;
    // A shopper adding units never takes the cart past the money bound (only a price rise may).
    let adds_units = matches!(op, CartOp::AddItem { .. } | CartOp::SetQuantity { .. });
    let mut known = Vec::new();
    let cart = match op {
        CartOp::AddItem { sku, quantity } => {
            let (cart, variant) = carts::add_item(&txn, cart_id, caller, &sku, quantity).await?;
            known.push(variant);
            cart
        }
        CartOp::SetQuantity { item_id, quantity } => {
            carts::set_quantity(&txn, cart_id, caller, &item_id, quantity).await?
        }
        CartOp::RemoveItem { item_id } => carts::remove_item(&txn, cart_id, caller, &item_id).await?,
        CartOp::Update(change) => carts::update_cart(&txn, cart_id, caller, &change).await?,
        CartOp::ApplyDiscount { code } => carts::apply_discount(&txn, cart_id, caller, &code).await?,
        CartOp::RemoveDiscount { code } => carts::remove_discount(&txn, cart_id, caller, &code).await?,
    };
    // Priced once, from the row the change locked (or wrote).
    let view = carts::view_knowing(&txn, cart, known).await?;
    if adds_units && view.items.iter().any(|i| i.over_limit) {
        return Err(ApiError::validation(emporium_core::ValidationErrors::single(
            "quantity",
            "out_of_range",
            "the cart's total would pass what an amount can hold",
        )));
    }
    let value = CartDto::from(view);
    let answer = answer(txn, idempotency, StatusCode::OK, &value).await?;
    Ok(Done { value, answer })
}

/// Makes a guest cart the customer's (merged into their open cart if they have one).
pub async fn claim_cart(
    state: &AppState,
    idempotency: &Idempotency,
    cart_id: &str,
    customer_id: &str,
) -> Result<Done<CartDto>, ApiError> {
    let txn = state.writer.begin().await?;
    let target = carts::claim(&txn, cart_id, customer_id).await?;
    cart_answer(txn, idempotency, StatusCode::OK, &target, &Caller::Customer(customer_id.to_owned())).await
}

/// The methods that ship to a cart's address in its currency.
pub async fn cart_shipping_methods(
    state: &AppState,
    cart_id: &str,
    caller: &Caller,
) -> Result<Vec<ShippingMethodDto>, ApiError> {
    Ok(carts::shipping_methods(&state.db, cart_id, caller).await?.iter().map(ShippingMethodDto::from).collect())
}
