//! Money going back: refunds held, sent to the provider, settled or undone, and the retry of
//! refunds left pending.

use chrono::Duration;
use emporium_core::db::{now, statement};
use emporium_core::uow::{UnitOfWork, Writer};
use emporium_core::{Money, ValidationErrors};
use emporium_payments::{PaymentFailure, Providers};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::{Actor, commit_with, lock, set_status};
use crate::checkout::{Answers, Outcome};
use crate::events::OrderEvent;
use crate::orders::{self, Order, Status, append_history};
use crate::setup::AmountInput;
use crate::{OrderError, PaymentState};

/// The target of this file's log lines: `after_sale`'s, as before the module was split (log
/// filters and the access-log test name it).
const LOG_TARGET: &str = "emporium_orders::after_sale";

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
pub(super) async fn hold_refund(
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
pub(super) enum Sent {
    /// Done (now or by an earlier call with the same key): the provider's reference.
    Done(String),
    /// Refused: no money moved.
    Refused,
    /// Failed or unreachable: the money may have moved; ask again with the same key.
    Unknown,
}

/// Asks the provider to pay a pending refund back, with the refund's id as its key.
pub(super) async fn send_refund<C: ConnectionTrait>(
    db: &C,
    providers: &Providers,
    refund_id: &str,
) -> Result<Sent, OrderError> {
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
            tracing::warn!(target: LOG_TARGET, refund = refund_id, error = %message, "the payment provider failed to refund; asking again later");
            Ok(Sent::Unknown)
        }
        Err(err) => {
            tracing::warn!(target: LOG_TARGET, refund = refund_id, error = %err, "the payment provider refused the refund");
            Ok(Sent::Refused)
        }
    }
}

/// Records a refund the provider made: done, with its history entry and `order.refunded`.
pub(super) async fn settle_refund(
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
            "UPDATE payment_refunds SET status = 'done', provider_ref = ?, settled_at = ? WHERE id = ? AND status = 'pending'",
            [provider_ref.into(), emporium_core::db::now().into(), refund_id.into()],
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
pub(super) async fn drop_refund(writer: &Writer, order_id: &str, refund_id: &str) -> Result<(), OrderError> {
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

fn refund_status(order: &Order) -> Status {
    if order.refunded.amount() >= order.captured.amount() { Status::Refunded } else { Status::PartiallyRefunded }
}

/// Moves a not-cancelled order's status to what its refunds make it, if that changed.
pub(super) async fn follow_refunds(
    txn: &DatabaseTransaction,
    order_id: &str,
    actor: &Actor,
    note: Option<&str>,
) -> Result<(), OrderError> {
    let order = orders::read(txn, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    if order.status == Status::Cancelled || order.refunded.amount() == 0 {
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
    tracing::error!(target: LOG_TARGET, order = order_id, refund = refund_id, why, "a refund was given up; settle it by hand");
    Ok(())
}
