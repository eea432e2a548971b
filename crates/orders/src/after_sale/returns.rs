//! Returns: opened, received (restocked or not) and refunded.

use emporium_core::db::{now, statement};
use emporium_core::uow::Writer;
use emporium_core::{Money, ValidationErrors, id};
use emporium_inventory::{self as inventory, Adjustment, Reason};
use emporium_payments::Providers;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::refunds::{Sent, drop_refund, follow_refunds, hold_refund, send_refund, settle_refund};
use super::{Actor, commit_with, line_at, lines_of, lock};
use crate::checkout::{Answers, Outcome, StockChange};
use crate::events::OrderEvent;
use crate::orders::{self, Order, ReturnRecord, Status, append_history};
use crate::{OrderError, PaymentState};

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
    if order.status == Status::Cancelled {
        return Err(OrderError::InvalidTransition { from: order.status.to_string(), to: "returned".to_owned() });
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
            let adjusted = inventory::adjust(&txn, &back).await?;
            change.variant_ids.push(line.variant_id.clone());
            change.moved(vec![adjusted.moved], |_| Some(sku.clone()));
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
