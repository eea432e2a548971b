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

//!
//! By topic: `fulfilments.rs` (shipping and delivery), `cancellation.rs`, `refunds.rs` (money
//! going back, and the retry of pending refunds) and `returns.rs`.

use emporium_core::db::{now, statement};
use emporium_core::uow::UnitOfWork;
use emporium_core::{ValidationErrors, id};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::OrderError;
use crate::checkout::{Answers, Outcome, answering};
use crate::orders::{self, Order, Status};

mod cancellation;
mod fulfilments;
mod refunds;
mod returns;

pub use cancellation::*;
pub use fulfilments::*;
pub use refunds::*;
pub use returns::*;

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

async fn set_status(txn: &DatabaseTransaction, order_id: &str, status: Status) -> Result<(), sea_orm::DbErr> {
    txn.execute_raw(statement(
        txn.get_database_backend(),
        "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?",
        [status.as_str().into(), now().into(), order_id.into()],
    ))
    .await?;
    Ok(())
}

async fn commit_with(mut work: UnitOfWork, answers: &dyn Answers, outcome: Outcome<'_>) -> Result<(), OrderError> {
    answering(&mut work, answers, outcome)?;
    work.commit().await?;
    Ok(())
}
