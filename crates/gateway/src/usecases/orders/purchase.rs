//! Checkout: a cart becomes an order.

use super::*;

/// Checks a cart out (201 with the order).
pub async fn checkout_cart(
    state: &AppState,
    idempotency: &Idempotency,
    cart_id: &str,
    caller: Caller,
    provider: String,
    token: String,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let input = CheckoutInput {
        cart_id: cart_id.to_owned(),
        caller,
        provider,
        token,
        attempt: attempt(idempotency, cart_id),
        retryable: idempotency.attempt().is_some(),
        hold: state.config.reservation_ttl,
    };
    let order = checkout::checkout(&state.writer, &state.payments, &effects, input).await?;
    effects.done(StatusCode::CREATED, OrderDto::from(order))
}
