//! After the sale: fulfilments, deliveries, cancellation, refunds and returns.

use super::*;

/// Ships units of an order (201 with the order).
pub async fn fulfil(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    order_id: &str,
    items: Vec<SkuQuantityDto>,
    carrier: Option<&str>,
    tracking_number: Option<&str>,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let items: Vec<(String, i64)> = items.into_iter().map(|i| (i.sku, i.quantity)).collect();
    let actor = Actor(actor.map(str::to_owned));
    let order = after_sale::fulfil(&state.writer, &effects, order_id, &items, carrier, tracking_number, &actor).await?;
    effects.done(StatusCode::CREATED, OrderDto::from(order))
}

/// Marks a fulfilment delivered (200 with the order).
pub async fn deliver(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    order_id: &str,
    fulfillment_id: &str,
    delivered_at: Option<DateTime<Utc>>,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(actor.map(str::to_owned));
    let order = after_sale::deliver(&state.writer, &effects, order_id, fulfillment_id, delivered_at, &actor).await?;
    effects.done(StatusCode::OK, OrderDto::from(order))
}

/// Cancels an order (200 with it). A customer may cancel only their own (404 otherwise).
pub async fn cancel(
    state: &AppState,
    idempotency: &Idempotency,
    principal: &Principal,
    order_id: &str,
    reason: Option<&str>,
) -> Result<Done<OrderDto>, ApiError> {
    match principal {
        // Only their own: a guest's order (reachable by its id) is not theirs to cancel.
        Principal::Customer { id } => {
            let order = order_store::get(&state.db, order_id, &Caller::Customer(id.clone())).await?;
            if order.customer_id.as_deref() != Some(id.as_str()) {
                return Err(OrderError::NotFound("order").into());
            }
        }
        staff => staff.require(emporium_customers::Permission::OrdersWrite)?,
    }
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(principal.actor_id().map(str::to_owned));
    let attempt = attempt(idempotency, order_id);
    let order =
        after_sale::cancel(&state.writer, &state.payments, &effects, order_id, reason, &actor, &attempt).await?;
    effects.done(StatusCode::OK, OrderDto::from(order))
}

/// Refunds part of an order (201 with the order).
pub async fn refund(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    order_id: &str,
    amount: MoneyDto,
    reason: Option<&str>,
) -> Result<Done<OrderDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let actor = Actor(actor.map(str::to_owned));
    let attempt = attempt(idempotency, order_id);
    let amount = crate::usecases::orders::amount(amount);
    let order =
        after_sale::refund(&state.writer, &state.payments, &effects, order_id, &amount, reason, &actor, &attempt)
            .await?;
    effects.done(StatusCode::CREATED, OrderDto::from(order))
}

/// Opens a return (201): the order's owner (a customer, or the guest holding its id) or staff.
pub async fn request_return(
    state: &AppState,
    idempotency: &Idempotency,
    principal: &Principal,
    order_id: &str,
    items: Vec<SkuQuantityDto>,
    reason: Option<&str>,
) -> Result<Done<ReturnDto>, ApiError> {
    let caller = match principal {
        staff if staff.can(emporium_customers::Permission::OrdersWrite) => Caller::Staff,
        other => caller_of(other),
    };
    order_store::get(&state.db, order_id, &caller).await?;
    let effects = CheckoutEffects::new(idempotency, StatusCode::CREATED);
    let items: Vec<(String, i64)> = items.into_iter().map(|i| (i.sku, i.quantity)).collect();
    let actor = Actor(principal.actor_id().map(str::to_owned));
    let opened = after_sale::request_return(&state.writer, &effects, order_id, &items, reason, &actor).await?;
    effects.done(StatusCode::CREATED, ReturnDto::from(opened))
}

/// Marks a return received, restocking its units if asked (200).
pub async fn receive_return(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    return_id: &str,
    restock: bool,
) -> Result<Done<ReturnDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(actor.map(str::to_owned));
    let changed = after_sale::receive_return(&state.writer, &effects, return_id, restock, &actor).await?;
    effects.done(StatusCode::OK, ReturnDto::from(changed))
}

/// Refunds a received return's share, tax included (200).
pub async fn refund_return(
    state: &AppState,
    idempotency: &Idempotency,
    actor: Option<&str>,
    return_id: &str,
) -> Result<Done<ReturnDto>, ApiError> {
    let effects = CheckoutEffects::new(idempotency, StatusCode::OK);
    let actor = Actor(actor.map(str::to_owned));
    let changed = after_sale::refund_return(&state.writer, &state.payments, &effects, return_id, &actor).await?;
    effects.done(StatusCode::OK, ReturnDto::from(changed))
}

/// Every minute (or every reservation TTL, when that is shorter), on every instance: ask the
/// provider again for refunds left pending, and give back payments no order came of, so an
/// abandoned payment goes back within the TTL plus a minute.
pub async fn run_refund_retries(state: AppState, mut shutdown: crate::infra::background::Shutdown) {
    let hold = state.config.reservation_ttl;
    let mut tick = tokio::time::interval(hold.min(std::time::Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.requested() => return,
        }
        match after_sale::retry_pending_refunds(&state.writer, &state.payments).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(refunds = n, "pending refunds settled"),
            Err(err) => tracing::warn!(error = %err, "retrying pending refunds failed"),
        }
        match checkout::sweep_abandoned(&state.writer, &state.payments, hold).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(payments = n, "payments of abandoned checkouts given back"),
            Err(err) => tracing::warn!(error = %err, "giving back abandoned payments failed"),
        }
    }
}
