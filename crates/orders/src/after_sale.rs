//! After the sale: fulfilments, cancellation, refunds and returns.
//!
//! Every change takes the order's row first (a touch of `updated_at`), so changes of one order
//! never interleave; counters that must hold (units fulfilled, returned, money refunded) also
//! change only through conditional statements. Stock goes back through the inventory ledger.
//!
//! Money goes back in three steps, with the provider called outside any transaction: (1) the
//! refund is recorded as pending and its amount held on the order (`refunded + amount <=
//! captured`, so concurrent refunds never pass what was captured); (2) the provider is asked,
//! with the refund's id as its idempotency key; (3) the refund is recorded as done, with its
//! event and the request's answer. When the provider fails, a refund request is undone (502,
//! nothing changed); a cancellation stays cancelled with its refund pending, and
//! [`retry_pending_refunds`] asks the provider again with the same key until it answers.

use chrono::Duration;
use emporium_core::db::{now, statement};
use emporium_core::uow::{UnitOfWork, Writer};
use emporium_core::{Money, ValidationErrors, id};
use emporium_inventory::{self as inventory, Adjustment, InventoryError, Reason};
use emporium_payments::{PaymentFailure, Providers};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::checkout::{Answers, Outcome, StockChange, answering};
use crate::events::OrderEvent;
use crate::orders::{self, Order, ReturnRecord, append_history};
use crate::setup::AmountInput;
use crate::{OrderError, PaymentState};

/// Most lines one fulfilment or return names.
pub const MAX_ITEMS: usize = 100;

/// Who makes a change, for the history.
#[derive(Debug, Clone, Default)]
pub struct Actor(pub Option<String>);

/// Takes the order's row for this transaction's change and reads it.
async fn lock(txn: &DatabaseTransaction, order_id: &str) -> Result<Order, OrderError> {
    if !id::is_id("ord", order_id) {
        return Err(OrderError::NotFound("order"));
    }
    let touched = txn
        .execute_raw(statement(
            txn.get_database_backend(),
            "UPDATE orders SET updated_at = ? WHERE id = ?",
            [now().into(), order_id.into()],
        ))
        .await?;
    if touched.rows_affected() == 0 {
        return Err(OrderError::NotFound("order"));
    }
    orders::read(txn, order_id).await?.ok_or(OrderError::NotFound("order"))
}

/// Lines named by SKU, summed per SKU, each to an order line: (position, units).
fn lines_of(order: &Order, items: &[(String, i64)]) -> Result<Vec<(i32, i64)>, OrderError> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ValidationErrors::single("items", "out_of_range", format!("1 to {MAX_ITEMS} items")).into());
    }
    let mut errors = ValidationErrors::new();
    let mut lines: Vec<(i32, i64)> = Vec::new();
    for (i, (sku, quantity)) in items.iter().enumerate() {
        if !(1..=crate::carts::MAX_QUANTITY).contains(quantity) {
            errors.add(format!("items[{i}].quantity"), "out_of_range", "must be from 1 to 10000");
            continue;
        }
        match order.line(sku) {
            Some(line) => match lines.iter_mut().find(|(p, _)| *p == line.position) {
                Some((_, units)) => *units += quantity,
                None => lines.push((line.position, *quantity)),
            },
            None => errors.add(format!("items[{i}].sku"), "not_in_order", "the order has no line with this SKU"),
        }
    }
    errors.finish(lines).map_err(Into::into)
}

fn line_at(order: &Order, position: i32) -> Result<&orders::OrderLine, OrderError> {
    order.lines.iter().find(|l| l.position == position).ok_or(OrderError::NotFound("order line"))
}

async fn set_status(txn: &DatabaseTransaction, order_id: &str, status: &str) -> Result<(), sea_orm::DbErr> {
    txn.execute_raw(statement(
        txn.get_database_backend(),
        "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?",
        [status.into(), now().into(), order_id.into()],
    ))
    .await?;
    Ok(())
}

async fn commit_with(mut work: UnitOfWork, answers: &dyn Answers, outcome: Outcome<'_>) -> Result<(), OrderError> {
    answering(&mut work, answers, outcome)?;
    work.commit().await?;
    Ok(())
}

/// Ships units of an order (never more than ordered and not yet shipped: 422). Units sold
/// ahead of stock are taken from stock now, ending their backorder.
pub async fn fulfil(
    writer: &Writer,
    answers: &dyn Answers,
    order_id: &str,
    items: &[(String, i64)],
    carrier: Option<&str>,
    tracking_number: Option<&str>,
    actor: &Actor,
) -> Result<Order, OrderError> {
    let mut errors = ValidationErrors::new();
    for (field, value) in [("carrier", carrier), ("tracking_number", tracking_number)] {
        if value.is_some_and(|v| v.trim().is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control)) {
            errors.add(field, "invalid", "must be 1 to 100 characters");
        }
    }
    errors.finish(())?;
    let mut txn = writer.begin().await?;
    let order = lock(&txn, order_id).await?;
    if !["paid", "partially_fulfilled", "partially_refunded"].contains(&order.status.as_str()) {
        return Err(OrderError::InvalidTransition { from: order.status, to: "fulfilled".to_owned() });
    }
    let lines = lines_of(&order, items)?;
    let backend = txn.get_database_backend();
    let mut errors = ValidationErrors::new();
    for (i, (position, units)) in lines.iter().enumerate() {
        let line = line_at(&order, *position)?;
        if line.fulfilled_quantity + units > line.quantity {
            errors.add(
                format!("items[{i}].quantity"),
                "exceeds_ordered",
                format!("{} of {} units are left to ship", line.quantity - line.fulfilled_quantity, line.quantity),
            );
        }
    }
    errors.finish(())?;
    let mut change = StockChange::default();
    for (position, units) in &lines {
        let line = line_at(&order, *position)?;
        // Units beyond those taken from stock at checkout are owed: take them now.
        let from_stock = line.quantity - line.backordered;
        let owed = (line.fulfilled_quantity + units - from_stock).clamp(0, *units);
        if owed > 0 {
            take_owed(&txn, order_id, line, owed).await?;
            change.variant_ids.push(line.variant_id.clone());
        }
        let shipped = txn
            .execute_raw(statement(
                backend,
                "UPDATE order_lines SET fulfilled_quantity = fulfilled_quantity + ?, backordered = backordered - ? \
                 WHERE order_id = ? AND position = ? AND fulfilled_quantity + ? <= quantity AND backordered >= ?",
                [(*units).into(), owed.into(), order_id.into(), (*position).into(), (*units).into(), owed.into()],
            ))
            .await?;
        if shipped.rows_affected() == 0 {
            return Err(ValidationErrors::single("items", "exceeds_ordered", "more than is left to ship").into());
        }
    }
    let fulfillment_id = id::new_id("ful");
    txn.execute_raw(statement(
        backend,
        "INSERT INTO fulfillments (id, order_id, carrier, tracking_number, actor, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            fulfillment_id.clone().into(),
            order_id.into(),
            carrier.map(str::trim).into(),
            tracking_number.map(str::trim).into(),
            actor.0.clone().into(),
            now().into(),
        ],
    ))
    .await?;
    for (position, units) in &lines {
        txn.execute_raw(statement(
            backend,
            "INSERT INTO fulfillment_items (fulfillment_id, position, quantity) VALUES (?, ?, ?)",
            [fulfillment_id.clone().into(), (*position).into(), (*units).into()],
        ))
        .await?;
    }
    let complete = order.lines.iter().all(|l| {
        let added: i64 = lines.iter().filter(|(p, _)| *p == l.position).map(|(_, u)| *u).sum();
        l.fulfilled_quantity + added == l.quantity
    });
    let status = if complete { "fulfilled" } else { "partially_fulfilled" };
    set_status(&txn, order_id, status).await?;
    append_history(&txn, order_id, Some(status), Some("fulfillment_created"), actor.0.as_deref(), None).await?;
    txn.emit(OrderEvent::Fulfilled { order_id: order_id.to_owned(), fulfillment_id: fulfillment_id.clone(), complete });
    change.record(&mut txn).await?;
    let order = orders::read(&txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    commit_with(txn, answers, Outcome::Order(&order)).await?;
    Ok(order)
}

/// Marks one fulfilment delivered (at `delivered_at`, or now): again is 409
/// `already_delivered`. Once every unit is shipped and every fulfilment delivered, the order
/// is `delivered` (when it was `fulfilled`; a refunded order keeps its money status) and
/// `order.delivered` is written.
pub async fn deliver(
    writer: &Writer,
    answers: &dyn Answers,
    order_id: &str,
    fulfillment_id: &str,
    delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    actor: &Actor,
) -> Result<Order, OrderError> {
    let at = now();
    let delivered_at = delivered_at.unwrap_or(at);
    if delivered_at > at + Duration::minutes(5) {
        return Err(ValidationErrors::single("delivered_at", "in_future", "must not be in the future").into());
    }
    let mut txn = writer.begin().await?;
    let order = lock(&txn, order_id).await?;
    let shipment =
        order.fulfillments.iter().find(|f| f.id == fulfillment_id).ok_or(OrderError::NotFound("fulfillment"))?;
    if shipment.delivered_at.is_some() {
        return Err(OrderError::AlreadyDelivered);
    }
    if delivered_at < shipment.created_at {
        return Err(
            ValidationErrors::single("delivered_at", "before_shipment", "must not be before the fulfilment").into()
        );
    }
    let marked = txn
        .execute_raw(statement(
            txn.get_database_backend(),
            "UPDATE fulfillments SET delivered_at = ? WHERE id = ? AND order_id = ? AND delivered_at IS NULL",
            [delivered_at.into(), fulfillment_id.into(), order_id.into()],
        ))
        .await?;
    if marked.rows_affected() == 0 {
        return Err(OrderError::AlreadyDelivered);
    }
    append_history(&txn, order_id, None, Some("fulfillment_delivered"), actor.0.as_deref(), Some(fulfillment_id))
        .await?;
    let all_shipped = order.lines.iter().all(|l| l.fulfilled_quantity >= l.quantity);
    let all_delivered = order.fulfillments.iter().all(|f| f.id == fulfillment_id || f.delivered_at.is_some());
    if all_shipped && all_delivered {
        if order.status == "fulfilled" {
            set_status(&txn, order_id, "delivered").await?;
            append_history(&txn, order_id, Some("delivered"), None, actor.0.as_deref(), None).await?;
        }
        txn.emit(OrderEvent::Delivered { order_id: order_id.to_owned(), delivered_at });
    }
    let order = orders::read(&txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    commit_with(txn, answers, Outcome::Order(&order)).await?;
    Ok(order)
}

/// Takes `units` a line sold ahead of stock out of stock now (locations by priority), ending
/// that much of its backorder; 409 `out_of_stock` if the locations do not hold them.
async fn take_owed(
    txn: &DatabaseTransaction,
    order_id: &str,
    line: &orders::OrderLine,
    units: i64,
) -> Result<(), OrderError> {
    let held = inventory::reserve(txn, &[(line.variant_id.clone(), units)], Duration::minutes(1), Some(order_id)).await;
    let held = match held {
        Ok(held) if held.backorders.is_empty() => held,
        Ok(_) | Err(InventoryError::OutOfStock { .. }) => {
            return Err(OrderError::OutOfStock { skus: vec![line.sku.clone()] });
        }
        Err(other) => return Err(other.into()),
    };
    inventory::commit(txn, &held.id, order_id, None).await?;
    if !inventory::settle_backorder(txn, &line.variant_id, units).await? {
        return Err(OrderError::OutOfStock { skus: vec![line.sku.clone()] });
    }
    Ok(())
}

/// The payment of an order: (id, provider, provider's reference).
async fn payment_of<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
) -> Result<Option<(String, String, String)>, sea_orm::DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT id, provider, provider_ref FROM payments WHERE order_id = ? AND provider_ref IS NOT NULL",
            [order_id.into()],
        ))
        .await?;
    row.map(|r| Ok((r.try_get("", "id")?, r.try_get("", "provider")?, r.try_get("", "provider_ref")?))).transpose()
}

/// Holds `amount` of an order's captured money for a refund, recorded as pending under
/// `refund_id`: false when it would pass what was captured less refunded. A refund id seen
/// before (a retry of the same request) holds nothing again.
async fn hold_refund(
    txn: &DatabaseTransaction,
    order: &Order,
    refund_id: &str,
    amount: Money,
    return_id: Option<&str>,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<bool, OrderError> {
    let backend = txn.get_database_backend();
    let Some((payment_id, _, _)) = payment_of(txn, &order.id).await? else {
        return Ok(false);
    };
    let inserted = txn
        .execute_raw(statement(
            backend,
            "INSERT INTO payment_refunds (id, payment_id, order_id, return_id, amount, reason, provider_ref, actor, created_at, status) \
             VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, 'pending') \
             ON CONFLICT (id) DO UPDATE SET status = 'pending', amount = excluded.amount, \
             reason = excluded.reason, actor = excluded.actor, created_at = excluded.created_at, \
             attempts = 0, next_attempt_at = NULL WHERE payment_refunds.status = 'failed'",
            [
                refund_id.into(),
                payment_id.into(),
                order.id.clone().into(),
                return_id.into(),
                amount.amount().into(),
                reason.into(),
                actor.0.clone().into(),
                now().into(),
            ],
        ))
        .await?;
    // Nothing inserted or reopened (a refund given up is asked for anew): a retry of a
    // request whose refund is pending or done, which holds nothing again.
    if inserted.rows_affected() == 0 {
        return Ok(true);
    }
    let held = txn
        .execute_raw(statement(
            backend,
            "UPDATE orders SET refunded = refunded + ?, updated_at = ? WHERE id = ? AND refunded + ? <= captured",
            [amount.amount().into(), now().into(), order.id.clone().into(), amount.amount().into()],
        ))
        .await?;
    Ok(held.rows_affected() == 1)
}

/// What the provider answered to a refund.
enum Sent {
    /// Done (now or by an earlier call with the same key): the provider's reference.
    Done(String),
    /// Refused: no money moved.
    Refused,
    /// Failed or unreachable: the money may have moved; ask again with the same key.
    Unknown,
}

/// Asks the provider to pay a pending refund back, with the refund's id as its key.
async fn send_refund<C: ConnectionTrait>(db: &C, providers: &Providers, refund_id: &str) -> Result<Sent, OrderError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT p.provider, p.provider_ref, p.currency, r.amount FROM payment_refunds r JOIN payments p ON p.id = r.payment_id \
             WHERE r.id = ?",
            [refund_id.into()],
        ))
        .await?
        .ok_or(OrderError::NotFound("refund"))?;
    let (provider, payment_ref, currency, amount): (String, String, String, i64) = (
        row.try_get("", "provider")?,
        row.try_get("", "provider_ref")?,
        row.try_get("", "currency")?,
        row.try_get("", "amount")?,
    );
    let currency = emporium_core::Currency::parse(&currency).map_err(|e| sea_orm::DbErr::Type(e.to_string()))?;
    let Some(provider) = providers.get(&provider) else { return Ok(Sent::Unknown) };
    let amount = Money::new(amount, currency)?;
    match provider.refund(&payment_ref, amount, refund_id).await {
        Ok(moved) => Ok(Sent::Done(moved.provider_ref)),
        Err(PaymentFailure::Provider { message }) => {
            tracing::warn!(refund = refund_id, error = %message, "the payment provider failed to refund; asking again later");
            Ok(Sent::Unknown)
        }
        Err(err) => {
            tracing::warn!(refund = refund_id, error = %err, "the payment provider refused the refund");
            Ok(Sent::Refused)
        }
    }
}

/// Records a refund the provider made: done, with its history entry and `order.refunded`.
async fn settle_refund(
    txn: &mut UnitOfWork,
    order_id: &str,
    refund_id: &str,
    provider_ref: &str,
    actor: &Actor,
) -> Result<bool, OrderError> {
    let backend = txn.get_database_backend();
    let done = txn
        .execute_raw(statement(
            backend,
            "UPDATE payment_refunds SET status = 'done', provider_ref = ? WHERE id = ? AND status = 'pending'",
            [provider_ref.into(), refund_id.into()],
        ))
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let row = txn
        .query_one_raw(statement(backend, "SELECT amount FROM payment_refunds WHERE id = ?", [refund_id.into()]))
        .await?
        .ok_or(OrderError::NotFound("refund"))?;
    let amount: i64 = row.try_get("", "amount")?;
    append_history(txn, order_id, None, Some("refunded"), actor.0.as_deref(), Some(&format!("{amount} minor units")))
        .await?;
    txn.emit(OrderEvent::Refunded { order_id: order_id.to_owned(), refund_id: refund_id.to_owned(), amount });
    Ok(true)
}

/// Undoes a pending refund the provider refused: its hold on the order's money goes back.
async fn drop_refund(writer: &Writer, order_id: &str, refund_id: &str) -> Result<(), OrderError> {
    let txn = writer.begin().await?;
    // The order's row first, as every change of its money does, so locks are taken in one order.
    lock(&txn, order_id).await?;
    if let Some(amount) = pending_amount(&txn, refund_id).await? {
        release_hold(&txn, order_id, refund_id, amount).await?;
        txn.execute_raw(statement(
            txn.get_database_backend(),
            "DELETE FROM payment_refunds WHERE id = ?",
            [refund_id.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The amount of a refund still pending (none once it is done, failed or dropped).
async fn pending_amount(txn: &DatabaseTransaction, refund_id: &str) -> Result<Option<i64>, OrderError> {
    let row = txn
        .query_one_raw(statement(
            txn.get_database_backend(),
            "SELECT amount FROM payment_refunds WHERE id = ? AND status = 'pending'",
            [refund_id.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "amount")).transpose()?)
}

/// Gives back what a refund that will not be made held: its amount on the order, and the
/// shares of its return's lines (the return may be refunded again later).
async fn release_hold(
    txn: &DatabaseTransaction,
    order_id: &str,
    refund_id: &str,
    amount: i64,
) -> Result<(), OrderError> {
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(
        backend,
        "UPDATE return_items SET refunded = NULL WHERE return_id = (SELECT return_id FROM payment_refunds WHERE id = ?)",
        [refund_id.into()],
    ))
    .await?;
    txn.execute_raw(statement(
        backend,
        "UPDATE orders SET refunded = refunded - ?, updated_at = ? WHERE id = ? AND refunded >= ?",
        [amount.into(), now().into(), order_id.into(), amount.into()],
    ))
    .await?;
    Ok(())
}

fn refund_status(order: &Order) -> &'static str {
    if order.refunded.amount() >= order.captured.amount() { "refunded" } else { "partially_refunded" }
}

/// Moves a not-cancelled order's status to what its refunds make it, if that changed.
async fn follow_refunds(
    txn: &DatabaseTransaction,
    order_id: &str,
    actor: &Actor,
    note: Option<&str>,
) -> Result<(), OrderError> {
    let order = orders::read(txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    if order.status == "cancelled" || order.refunded.amount() == 0 {
        return Ok(());
    }
    let status = refund_status(&order);
    if order.status != status {
        set_status(txn, order_id, status).await?;
        append_history(txn, order_id, Some(status), None, actor.0.as_deref(), note).await?;
    }
    Ok(())
}

/// Refunds part or all of an order's captured money (never more than captured less refunded:
/// 422 `refund_exceeds_captured`; another currency: 422). `attempt` names the request (the
/// same for its retries), so a retry refunds once.
#[allow(clippy::too_many_arguments)]
pub async fn refund(
    writer: &Writer,
    providers: &Providers,
    answers: &dyn Answers,
    order_id: &str,
    amount: &AmountInput,
    reason: Option<&str>,
    actor: &Actor,
    attempt: &str,
) -> Result<Order, OrderError> {
    let mut errors = ValidationErrors::new();
    let money = amount.check(&mut errors, "amount", 1);
    if reason.is_some_and(|r| r.chars().count() > 500) {
        errors.add("reason", "too_long", "must be at most 500 characters");
    }
    errors.finish(())?;
    let Some(money) = money else { return Err(OrderError::NotFound("order")) };
    let refund_id = format!("rfd_{attempt}");
    let txn = writer.begin().await?;
    let order = lock(&txn, order_id).await?;
    if money.currency() != order.currency {
        return Err(
            ValidationErrors::single("amount.currency", "currency_mismatch", "must be the order's currency").into()
        );
    }
    if !hold_refund(&txn, &order, &refund_id, money, None, reason, actor).await? {
        return Err(OrderError::RefundExceedsCaptured);
    }
    txn.commit().await?;
    let provider_ref = match send_refund(writer.db(), providers, &refund_id).await? {
        Sent::Done(provider_ref) => provider_ref,
        Sent::Refused => {
            drop_refund(writer, order_id, &refund_id).await?;
            return Err(OrderError::PaymentProvider(PaymentState::None));
        }
        // The money may have moved: the hold stays, and the refund is asked for again.
        Sent::Unknown => return Err(OrderError::PaymentProvider(PaymentState::Unknown)),
    };
    let mut txn = writer.begin().await?;
    lock(&txn, order_id).await?;
    settle_refund(&mut txn, order_id, &refund_id, &provider_ref, actor).await?;
    follow_refunds(&txn, order_id, actor, reason).await?;
    let order = orders::read(&txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    commit_with(txn, answers, Outcome::Order(&order)).await?;
    Ok(order)
}

/// Cancels an order nothing of which was shipped: its units go back to stock through the
/// ledger (backordered ones stop being owed), and what was captured is refunded.
#[allow(clippy::too_many_arguments)]
pub async fn cancel(
    writer: &Writer,
    providers: &Providers,
    answers: &dyn Answers,
    order_id: &str,
    reason: Option<&str>,
    actor: &Actor,
    attempt: &str,
) -> Result<Order, OrderError> {
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(ValidationErrors::single("reason", "too_long", "must be at most 500 characters").into());
    }
    let mut txn = writer.begin().await?;
    let order = lock(&txn, order_id).await?;
    let shipped = order.lines.iter().any(|l| l.fulfilled_quantity > 0);
    if !["paid", "partially_refunded"].contains(&order.status.as_str()) || shipped {
        return Err(OrderError::InvalidTransition { from: order.status, to: "cancelled".to_owned() });
    }
    let backend = txn.get_database_backend();
    // What a refund in flight holds may yet come back: cancel once it has settled.
    let pending = txn
        .query_one_raw(statement(
            backend,
            "SELECT 1 FROM payment_refunds WHERE order_id = ? AND status = 'pending' LIMIT 1",
            [order_id.into()],
        ))
        .await?;
    if pending.is_some() {
        return Err(OrderError::Conflict(
            "refund_in_progress",
            "A refund of this order is in progress; retry shortly.",
        ));
    }
    let mut change = StockChange::default();
    for sold in inventory::sold_under(&txn, order_id).await? {
        let (variant_id, location_id, units) = (sold.variant_id, sold.location_id, sold.quantity);
        if units <= 0 {
            continue;
        }
        let back = Adjustment {
            variant_id: variant_id.clone(),
            location_id,
            delta: units,
            reason: Reason::Cancellation,
            note: None,
            actor: actor.0.clone(),
            reference: Some(order_id.to_owned()),
        };
        inventory::adjust(&txn, &back).await?;
        change.variant_ids.push(variant_id);
    }
    for line in order.lines.iter().filter(|l| l.backordered > 0) {
        inventory::settle_backorder(&txn, &line.variant_id, line.backordered).await?;
        txn.execute_raw(statement(
            backend,
            "UPDATE order_lines SET backordered = 0 WHERE order_id = ? AND position = ?",
            [order_id.into(), line.position.into()],
        ))
        .await?;
        change.variant_ids.push(line.variant_id.clone());
    }
    set_status(&txn, order_id, "cancelled").await?;
    append_history(&txn, order_id, Some("cancelled"), None, actor.0.as_deref(), reason).await?;
    txn.emit(OrderEvent::Cancelled { order_id: order_id.to_owned() });
    change.record(&mut txn).await?;
    let remaining = order.captured.checked_sub(order.refunded)?;
    let refund_id = format!("rfd_{attempt}");
    let refunding = remaining.amount() > 0
        && hold_refund(&txn, &order, &refund_id, remaining, None, Some("order cancelled"), actor).await?;
    if !refunding {
        let order = orders::read(&txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
        commit_with(txn, answers, Outcome::Order(&order)).await?;
        return Ok(order);
    }
    txn.commit().await?;
    let sent = send_refund(writer.db(), providers, &refund_id).await?;
    let mut txn = writer.begin().await?;
    lock(&txn, order_id).await?;
    match sent {
        Sent::Done(provider_ref) => {
            settle_refund(&mut txn, order_id, &refund_id, &provider_ref, actor).await?;
        }
        // Cancelled stays cancelled; the refund is asked for again until the provider answers.
        Sent::Refused | Sent::Unknown => {
            append_history(&txn, order_id, None, Some("refund_pending"), actor.0.as_deref(), None).await?;
        }
    }
    let order = orders::read(&txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    commit_with(txn, answers, Outcome::Order(&order)).await?;
    Ok(order)
}

/// How long a pending refund is asked for again before it is given up (status `failed`).
pub const REFUND_GIVE_UP: Duration = Duration::days(3);

/// The wait before a pending refund's next attempt: a minute, doubled with each failed attempt
/// up to six hours, with up to a fifth of it added at random so that refunds failing together
/// do not come back together.
fn refund_backoff(attempts: i32) -> Duration {
    let minutes = 1i64 << attempts.clamp(0, 9);
    let base = Duration::minutes(minutes.min(6 * 60));
    let jitter = rand::random::<u64>() % (base.num_seconds().max(5) as u64 / 5 + 1);
    base + Duration::seconds(jitter as i64)
}

/// Asks the provider again for refunds left pending (a provider that failed during a
/// cancellation, a crash between the steps) whose next attempt is due, soonest first: each
/// with its own key, so the money moves once. A refund that fails again waits longer each time
/// ([`refund_backoff`]), so refunds that keep failing never hold back newer ones; one the
/// provider refuses for good, or that still fails [`REFUND_GIVE_UP`] after it was asked for,
/// is given up: `failed`, its hold on the order's money released, `refund_failed` in the
/// order's history and an `order.refund_failed` event, for staff to settle by hand. Returns
/// how many were settled.
pub async fn retry_pending_refunds(writer: &Writer, providers: &Providers) -> Result<usize, OrderError> {
    let db = writer.db();
    let at = now();
    let due = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT id, order_id, created_at, attempts FROM payment_refunds WHERE status = 'pending' \
             AND ((next_attempt_at IS NULL AND created_at < ?) OR next_attempt_at <= ?) \
             ORDER BY COALESCE(next_attempt_at, created_at), id LIMIT 20",
            [(at - Duration::minutes(1)).into(), at.into()],
        ))
        .await?;
    let mut settled = 0;
    for row in due {
        let (refund_id, order_id): (String, String) = (row.try_get("", "id")?, row.try_get("", "order_id")?);
        let created_at: chrono::DateTime<chrono::Utc> = row.try_get("", "created_at")?;
        match send_refund(writer.db(), providers, &refund_id).await? {
            Sent::Done(provider_ref) => {
                let mut txn = writer.begin().await?;
                lock(&txn, &order_id).await?;
                if settle_refund(&mut txn, &order_id, &refund_id, &provider_ref, &Actor::default()).await? {
                    settled += 1;
                }
                follow_refunds(&txn, &order_id, &Actor::default(), None).await?;
                txn.commit().await?;
            }
            Sent::Refused => give_up_refund(writer, &order_id, &refund_id, "the provider refused it").await?,
            Sent::Unknown if created_at < now() - REFUND_GIVE_UP => {
                give_up_refund(writer, &order_id, &refund_id, "the provider did not answer for 3 days").await?;
            }
            Sent::Unknown => {
                let attempts: i32 = row.try_get("", "attempts")?;
                let work = writer.begin().await?;
                work.execute_raw(statement(
                    work.get_database_backend(),
                    "UPDATE payment_refunds SET attempts = attempts + 1, next_attempt_at = ? \
                     WHERE id = ? AND status = 'pending'",
                    [(now() + refund_backoff(attempts + 1)).into(), refund_id.into()],
                ))
                .await?;
                work.commit().await?;
            }
        }
    }
    Ok(settled)
}

/// Gives a pending refund up: `failed`, its hold released, noted on the order with an event.
async fn give_up_refund(writer: &Writer, order_id: &str, refund_id: &str, why: &str) -> Result<(), OrderError> {
    let mut txn = writer.begin().await?;
    lock(&txn, order_id).await?;
    let backend = txn.get_database_backend();
    let Some(amount) = pending_amount(&txn, refund_id).await? else {
        txn.rollback().await?;
        return Ok(());
    };
    txn.execute_raw(statement(
        backend,
        "UPDATE payment_refunds SET status = 'failed', next_attempt_at = NULL WHERE id = ?",
        [refund_id.into()],
    ))
    .await?;
    release_hold(&txn, order_id, refund_id, amount).await?;
    append_history(&txn, order_id, None, Some("refund_failed"), None, Some(&format!("{amount} minor units: {why}")))
        .await?;
    txn.emit(OrderEvent::RefundFailed { order_id: order_id.to_owned(), refund_id: refund_id.to_owned(), amount });
    txn.commit().await?;
    tracing::error!(order = order_id, refund = refund_id, why, "a refund was given up; settle it by hand");
    Ok(())
}

async fn return_by_id(txn: &DatabaseTransaction, return_id: &str) -> Result<(String, String), OrderError> {
    if !id::is_id("ret", return_id) {
        return Err(OrderError::NotFound("return"));
    }
    let row = txn
        .query_one_raw(statement(
            txn.get_database_backend(),
            "SELECT order_id, status FROM returns WHERE id = ?",
            [return_id.into()],
        ))
        .await?
        .ok_or(OrderError::NotFound("return"))?;
    Ok((row.try_get("", "order_id")?, row.try_get("", "status")?))
}

fn the_return(order: &Order, return_id: &str) -> Result<ReturnRecord, OrderError> {
    order.returns.iter().find(|r| r.id == return_id).cloned().ok_or(OrderError::NotFound("return"))
}

/// Opens a return of shipped units (never more than shipped and not already in a return).
pub async fn request_return(
    writer: &Writer,
    answers: &dyn Answers,
    order_id: &str,
    items: &[(String, i64)],
    reason: Option<&str>,
    actor: &Actor,
) -> Result<ReturnRecord, OrderError> {
    if reason.is_some_and(|r| r.chars().count() > 500) {
        return Err(ValidationErrors::single("reason", "too_long", "must be at most 500 characters").into());
    }
    let mut txn = writer.begin().await?;
    let order = lock(&txn, order_id).await?;
    if order.status == "cancelled" {
        return Err(OrderError::InvalidTransition { from: order.status, to: "returned".to_owned() });
    }
    let lines = lines_of(&order, items)?;
    let mut errors = ValidationErrors::new();
    for (i, (position, units)) in lines.iter().enumerate() {
        let line = line_at(&order, *position)?;
        let in_returns: i64 = order
            .returns
            .iter()
            .flat_map(|r| r.items.iter())
            .filter(|(sku, _)| *sku == line.sku)
            .map(|(_, q)| *q)
            .sum();
        if in_returns + units > line.fulfilled_quantity {
            errors.add(
                format!("items[{i}].quantity"),
                "exceeds_fulfilled",
                format!("{} shipped units are not in a return yet", line.fulfilled_quantity - in_returns),
            );
        }
    }
    errors.finish(())?;
    let backend = txn.get_database_backend();
    let return_id = id::new_id("ret");
    let at = now();
    txn.execute_raw(statement(
        backend,
        "INSERT INTO returns (id, order_id, status, reason, restocked, refunded, actor, created_at, updated_at) \
         VALUES (?, ?, 'requested', ?, NULL, NULL, ?, ?, ?)",
        [return_id.clone().into(), order_id.into(), reason.into(), actor.0.clone().into(), at.into(), at.into()],
    ))
    .await?;
    for (position, units) in &lines {
        txn.execute_raw(statement(
            backend,
            "INSERT INTO return_items (return_id, position, quantity) VALUES (?, ?, ?)",
            [return_id.clone().into(), (*position).into(), (*units).into()],
        ))
        .await?;
    }
    append_history(&txn, order_id, None, Some("return_requested"), actor.0.as_deref(), reason).await?;
    txn.emit(OrderEvent::ReturnRequested { order_id: order_id.to_owned(), return_id: return_id.clone() });
    let order = orders::read(&txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    let opened = the_return(&order, &return_id)?;
    commit_with(txn, answers, Outcome::Opened(&opened)).await?;
    Ok(opened)
}

/// Marks a return received; with `restock`, its units go back to stock through the ledger (at
/// the location they were sold from, else the first active one).
pub async fn receive_return(
    writer: &Writer,
    answers: &dyn Answers,
    return_id: &str,
    restock: bool,
    actor: &Actor,
) -> Result<ReturnRecord, OrderError> {
    let mut txn = writer.begin().await?;
    let (order_id, _) = return_by_id(&txn, return_id).await?;
    let order = lock(&txn, &order_id).await?;
    let backend = txn.get_database_backend();
    let received = txn
        .execute_raw(statement(
            backend,
            "UPDATE returns SET status = 'received', restocked = ?, updated_at = ? WHERE id = ? AND status = 'requested'",
            [restock.into(), now().into(), return_id.into()],
        ))
        .await?;
    let current = the_return(&order, return_id)?;
    if received.rows_affected() == 0 {
        return Err(OrderError::InvalidTransition { from: current.status, to: "received".to_owned() });
    }
    let mut change = StockChange::default();
    for (sku, units) in &current.items {
        let line = order.line(sku).ok_or(OrderError::NotFound("order line"))?;
        txn.execute_raw(statement(
            backend,
            "UPDATE order_lines SET returned_quantity = returned_quantity + ? \
             WHERE order_id = ? AND position = ? AND returned_quantity + ? <= fulfilled_quantity",
            [(*units).into(), order_id.clone().into(), line.position.into(), (*units).into()],
        ))
        .await?;
        if restock {
            let Some(location_id) = restock_location(&txn, &order_id, &line.variant_id).await? else { continue };
            let back = Adjustment {
                variant_id: line.variant_id.clone(),
                location_id,
                delta: *units,
                reason: Reason::Return,
                note: None,
                actor: actor.0.clone(),
                reference: Some(return_id.to_owned()),
            };
            inventory::adjust(&txn, &back).await?;
            change.variant_ids.push(line.variant_id.clone());
        }
    }
    append_history(&txn, &order_id, None, Some("return_received"), actor.0.as_deref(), None).await?;
    txn.emit(OrderEvent::ReturnReceived {
        order_id: order_id.clone(),
        return_id: return_id.to_owned(),
        restocked: restock,
    });
    change.record(&mut txn).await?;
    let order = orders::read(&txn, &order_id).await?.ok_or(OrderError::NotFound("order"))?;
    let changed = the_return(&order, return_id)?;
    commit_with(txn, answers, Outcome::Return(&changed)).await?;
    Ok(changed)
}

async fn restock_location(
    txn: &DatabaseTransaction,
    order_id: &str,
    variant_id: &str,
) -> Result<Option<String>, OrderError> {
    if let Some(location) = inventory::sold_from(txn, order_id, variant_id).await? {
        return Ok(Some(location));
    }
    Ok(inventory::list_locations(txn).await?.into_iter().find(|l| l.active).map(|l| l.id))
}

/// What a return pays back, in all and per order line (by position). A return whose shares
/// are already held (a retry of its refund) pays what was held. Otherwise each line pays the
/// share of its units counted after the units of every other return whose share is held:
/// `share(held + units) - held amount`, so whatever the order returns are refunded in, and
/// however they race (they take the order's row first), a line's shares sum exactly to what
/// the line paid once all its units are back, never more.
async fn return_share(
    txn: &DatabaseTransaction,
    order: &Order,
    current: &ReturnRecord,
) -> Result<(Money, Vec<(i32, Money)>), OrderError> {
    let backend = txn.get_database_backend();
    let mut amount = Money::zero(order.currency);
    let mut shares = Vec::with_capacity(current.items.len());
    let held_before = txn
        .query_all_raw(statement(
            backend,
            "SELECT position, refunded FROM return_items WHERE return_id = ? AND refunded IS NOT NULL",
            [current.id.clone().into()],
        ))
        .await?;
    if !held_before.is_empty() {
        for row in held_before {
            let (position, refunded): (i32, i64) = (row.try_get("", "position")?, row.try_get("", "refunded")?);
            let share = Money::new(refunded, order.currency)?;
            amount = amount.checked_add(share)?;
            shares.push((position, share));
        }
        return Ok((amount, shares));
    }
    for (sku, units) in &current.items {
        let line = order.line(sku).ok_or(OrderError::NotFound("order line"))?;
        let held = txn
            .query_one_raw(statement(
                backend,
                "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) AS units, \
                 CAST(COALESCE(SUM(i.refunded), 0) AS BIGINT) AS paid_back \
                 FROM return_items i JOIN returns r ON r.id = i.return_id \
                 WHERE r.order_id = ? AND i.position = ? AND i.refunded IS NOT NULL AND r.id <> ?",
                [order.id.clone().into(), line.position.into(), current.id.clone().into()],
            ))
            .await?;
        let (held_units, held_amount): (i64, i64) = match held {
            Some(row) => (row.try_get("", "units")?, row.try_get("", "paid_back")?),
            None => (0, 0),
        };
        let upto = line.share(held_units + units, order.prices_include_tax)?;
        let share = Money::new((upto.amount() - held_amount).max(0), order.currency)?;
        amount = amount.checked_add(share)?;
        shares.push((line.position, share));
    }
    Ok((amount, shares))
}

/// Refunds a received return's share of what was paid, tax included (once: 409
/// `already_refunded`).
pub async fn refund_return(
    writer: &Writer,
    providers: &Providers,
    answers: &dyn Answers,
    return_id: &str,
    actor: &Actor,
) -> Result<ReturnRecord, OrderError> {
    let txn = writer.begin().await?;
    let (order_id, status) = return_by_id(&txn, return_id).await?;
    let order = lock(&txn, &order_id).await?;
    match status.as_str() {
        "received" => {}
        "refunded" => return Err(OrderError::AlreadyRefunded),
        other => return Err(OrderError::InvalidTransition { from: other.to_owned(), to: "refunded".to_owned() }),
    }
    let current = the_return(&order, return_id)?;
    // One refund per return: its id follows from the return's.
    let refund_id = format!("rfd_{}", return_id.trim_start_matches("ret_"));
    let (amount, shares) = return_share(&txn, &order, &current).await?;
    let refunding = amount.amount() > 0
        && hold_refund(&txn, &order, &refund_id, amount, Some(return_id), Some("return"), actor).await?;
    if amount.amount() > 0 && !refunding {
        return Err(OrderError::RefundExceedsCaptured);
    }
    // Each line's share is held with the refund, under the order's lock: a return refunded
    // after (or racing) this one counts it, so a line's shares never sum past what it paid.
    for (position, share) in &shares {
        txn.execute_raw(statement(
            txn.get_database_backend(),
            "UPDATE return_items SET refunded = ? WHERE return_id = ? AND position = ?",
            [share.amount().into(), return_id.into(), (*position).into()],
        ))
        .await?;
    }
    txn.commit().await?;
    let sent =
        if refunding { send_refund(writer.db(), providers, &refund_id).await? } else { Sent::Done(String::new()) };
    let provider_ref = match sent {
        Sent::Done(provider_ref) => provider_ref,
        Sent::Refused => {
            drop_refund(writer, &order_id, &refund_id).await?;
            return Err(OrderError::PaymentProvider(PaymentState::None));
        }
        Sent::Unknown => return Err(OrderError::PaymentProvider(PaymentState::Unknown)),
    };
    let mut txn = writer.begin().await?;
    lock(&txn, &order_id).await?;
    if refunding {
        settle_refund(&mut txn, &order_id, &refund_id, &provider_ref, actor).await?;
    }
    let marked = txn
        .execute_raw(statement(
            txn.get_database_backend(),
            "UPDATE returns SET status = 'refunded', refunded = ?, updated_at = ? WHERE id = ? AND status = 'received'",
            [amount.amount().into(), now().into(), return_id.into()],
        ))
        .await?;
    if marked.rows_affected() == 0 {
        return Err(OrderError::AlreadyRefunded);
    }
    append_history(&txn, &order_id, None, Some("return_refunded"), actor.0.as_deref(), None).await?;
    follow_refunds(&txn, &order_id, actor, None).await?;
    let order = orders::read(&txn, &order_id).await?.ok_or(OrderError::NotFound("order"))?;
    let changed = the_return(&order, return_id)?;
    commit_with(txn, answers, Outcome::Return(&changed)).await?;
    Ok(changed)
}
