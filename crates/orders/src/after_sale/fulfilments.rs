//! Fulfilments (shipping units of an order) and their delivery.

use chrono::Duration;
use emporium_core::ValidationErrors;
use emporium_core::db::{now, statement};
use emporium_core::id;
use emporium_core::uow::Writer;
use emporium_inventory::{self as inventory, InventoryError};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::{Actor, commit_with, line_at, lines_of, lock, set_status};
use crate::OrderError;
use crate::checkout::{Answers, Outcome, StockChange};
use crate::events::OrderEvent;
use crate::orders::{self, Order, Status, append_history};

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
    if !order.status.can_ship() {
        return Err(OrderError::InvalidTransition { from: order.status.to_string(), to: "fulfilled".to_owned() });
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
            let moved = take_owed(&txn, order_id, line, owed).await?;
            change.variant_ids.push(line.variant_id.clone());
            change.moved(moved, |_| Some(line.sku.clone()));
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
    let status = if complete { Status::Fulfilled } else { Status::PartiallyFulfilled };
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
        if order.status == Status::Fulfilled {
            set_status(&txn, order_id, Status::Delivered).await?;
            append_history(&txn, order_id, Some(Status::Delivered), None, actor.0.as_deref(), None).await?;
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
) -> Result<Vec<inventory::Moved>, OrderError> {
    let held = inventory::reserve(txn, &[(line.variant_id.clone(), units)], Duration::minutes(1), Some(order_id)).await;
    let held = match held {
        Ok(held) if held.backorders.is_empty() => held,
        Ok(_) | Err(InventoryError::OutOfStock { .. }) => {
            return Err(OrderError::OutOfStock { skus: vec![line.sku.clone()] });
        }
        Err(other) => return Err(other.into()),
    };
    let settled = inventory::commit(txn, &held.id, order_id, None).await?;
    if !inventory::settle_backorder(txn, &line.variant_id, units).await? {
        return Err(OrderError::OutOfStock { skus: vec![line.sku.clone()] });
    }
    Ok(settled.moved)
}
