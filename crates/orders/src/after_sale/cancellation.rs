//! Cancelling an order nothing of which was shipped.

use emporium_core::ValidationErrors;
use emporium_core::db::statement;
use emporium_core::uow::Writer;
use emporium_inventory::{self as inventory, Adjustment, Reason};
use emporium_payments::Providers;
use sea_orm::ConnectionTrait;

use super::refunds::{Sent, hold_refund, send_refund, settle_refund};
use super::{Actor, commit_with, lock, set_status};
use crate::OrderError;
use crate::checkout::{Answers, Outcome, StockChange};
use crate::events::OrderEvent;
use crate::orders::{self, Order, Status, append_history};

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
    if !matches!(order.status, Status::Paid | Status::PartiallyRefunded) || shipped {
        return Err(OrderError::InvalidTransition { from: order.status.to_string(), to: "cancelled".to_owned() });
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
        let adjusted = inventory::adjust(&txn, &back).await?;
        let sku = order.lines.iter().find(|l| l.variant_id == variant_id).map(|l| l.sku.clone());
        change.moved(vec![adjusted.moved], |_| sku.clone());
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
    set_status(&txn, order_id, Status::Cancelled).await?;
    crate::sales::remove(&txn, &order.lines).await?;
    append_history(&txn, order_id, Some(Status::Cancelled), None, actor.0.as_deref(), reason).await?;
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
