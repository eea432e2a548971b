//! Checkout: cart → reserved stock → payment → order, all or nothing.
//!
//! 1. One write transaction takes the cart (`open` → `checking_out`, conditionally, so a
//!    cart is checked out once), validates it, reserves its stock through the inventory crate
//!    and records a pending payment. Short stock rolls it all back (409 `out_of_stock`).
//! 2. The provider is called with no transaction open, with the checkout's id as its
//!    idempotency key: a retry of the same checkout (same `Idempotency-Key`) gets the same
//!    answer and is charged once.
//! 3. A second transaction commits the reservation, counts discount uses (conditional
//!    increments), places the order, records the payment and the caller's idempotent answer.
//!
//! When payment fails, the reservation is released and the cart reopened (402 or 502). When
//! the order cannot be placed after payment (a usage limit reached by a concurrent checkout,
//! stock gone after the reservation expired), the payment is refunded and the cart reopened.
//! A crash leaves a `checking_out` cart whose reservation expires (stock comes back through
//! the expiry job) and whose checkout another attempt takes over after the same time; what the
//! provider answered is recorded as soon as it answers, so a payment captured for a checkout
//! that never placed its order is given back by [`sweep_abandoned`] once its hold is over, and
//! one whose answer was lost (a crash during the call, a timeout) is looked up by its key and
//! given back the same way.

use chrono::Duration;
use emporium_core::db::{now, statement};
use emporium_core::uow::{StoredAnswer, UnitOfWork, Writer};
use emporium_core::{Money, ValidationErrors};
use emporium_inventory::{self as inventory, InventoryError, ReorderCrossing, Reservation};
use emporium_payments::{Authorize, PaymentFailure, PaymentProvider, PaymentToken, Providers};
use sea_orm::ConnectionTrait;

use crate::carts::{self, Caller, CartView};
use crate::events::OrderEvent;
use crate::orders::{self, Order};
use crate::{DiscountRefusal, OrderError, PaymentState, setup};

/// How long a checkout holds its stock and its cart before another attempt may take over,
/// unless the shop sets another (`EMPORIUM_RESERVATION_TTL`).
pub const DEFAULT_HOLD: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A hold as a span of time to add to timestamps.
fn span(hold: std::time::Duration) -> Duration {
    Duration::from_std(hold).unwrap_or_else(|_| Duration::minutes(15))
}

/// What a write changed in stock: the variants whose availability moved, and the levels that
/// crossed their reorder point.
#[derive(Debug, Clone, Default)]
pub struct StockChange {
    /// Variants whose availability changed.
    pub variant_ids: Vec<String>,
    /// Levels a movement changed, with the SKU.
    pub moved: Vec<(String, inventory::Moved)>,
    /// Levels that went to or under their reorder point, with the SKU.
    pub crossings: Vec<(String, ReorderCrossing)>,
}

impl StockChange {
    /// Notes the change on the unit of work that makes it: stale availability,
    /// `inventory.changed`, `stock.low`.
    pub(crate) async fn record(&self, work: &mut UnitOfWork) -> Result<(), OrderError> {
        inventory::record_change(work, self.variant_ids.iter().map(String::as_str), &self.moved, &self.crossings)
            .await?;
        Ok(())
    }

    /// Notes levels a movement changed; `sku_of` names each one's variant.
    pub(crate) fn moved(&mut self, moved: Vec<inventory::Moved>, sku_of: impl Fn(&str) -> Option<String>) {
        self.moved.extend(moved.into_iter().filter_map(|m| Some((sku_of(&m.variant_id)?, m))));
    }
}

/// What only the caller knows: the answer its request stores with the write that completes
/// it (the order placed, fulfilled, cancelled or refunded; a return changed).
pub trait Answers: Send + Sync {
    /// The answer to store for `outcome`, if the request keeps one.
    fn answer(&self, outcome: Outcome<'_>) -> Result<Option<Box<dyn StoredAnswer>>, OrderError>;
}

/// Notes the request's answer on the unit of work that completes it.
pub(crate) fn answering(work: &mut UnitOfWork, answers: &dyn Answers, outcome: Outcome<'_>) -> Result<(), OrderError> {
    if let Some(answer) = answers.answer(outcome)? {
        work.answer(answer);
    }
    Ok(())
}

/// What a request produced, for the answer stored with it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Checkout placed the order (201).
    Placed(&'a Order),
    /// An order changed (200).
    Order(&'a Order),
    /// A return was opened (201).
    Opened(&'a crate::orders::ReturnRecord),
    /// A return changed (200).
    Return(&'a crate::orders::ReturnRecord),
}

/// A checkout request.
#[derive(Debug, Clone)]
pub struct CheckoutInput {
    pub cart_id: String,
    pub caller: Caller,
    pub provider: String,
    pub token: String,
    /// The same for retries of one checkout (derived from its `Idempotency-Key`), fresh
    /// otherwise: 32 lower-case hex characters.
    pub attempt: String,
    /// Whether `attempt` may have been used before (it was derived from a key): only then can
    /// an earlier hold of the same checkout exist.
    pub retryable: bool,
    /// How long the checkout holds the cart and its units (the reservation TTL).
    pub hold: std::time::Duration,
}

struct Taken {
    checkout_id: String,
    /// The provider's idempotency key for this take: the checkout's, renewed after a take
    /// whose payment is known to have moved no money (declined, or given back; `failed` or
    /// `voided`), so a provider never replays an answer about money already returned.
    provider_key: String,
    view: CartView,
    email: String,
    reservation: Reservation,
}

/// Checks out a cart: the placed order, or the reason none was placed (and nothing stays
/// reserved or charged).
pub async fn checkout(
    writer: &Writer,
    providers: &Providers,
    answers: &dyn Answers,
    input: CheckoutInput,
) -> Result<Order, OrderError> {
    let token = PaymentToken::parse(&input.token, "payment.token")?;
    let provider = providers.get(&input.provider).ok_or_else(|| {
        ValidationErrors::single("payment.provider", "unknown_provider", "names no configured payment provider")
    })?;
    let taken = take(writer, &input).await?;
    let total = taken.view.totals.total;
    let authorized = if total.amount() == 0 {
        None
    } else {
        let request = Authorize {
            amount: total,
            token,
            capture: true,
            idempotency_key: taken.provider_key.clone(),
            reference: input.cart_id.clone(),
        };
        match provider.authorize(&request).await {
            Ok(authorized) => {
                // Known at once, so a crash before the order is placed leaves a payment the
                // sweeper can give back ([`sweep_abandoned`]).
                record_authorized(writer, &taken.checkout_id, &authorized).await?;
                Some(authorized)
            }
            Err(failure) => {
                // A decline moved no money: the next attempt may use a new key. A provider
                // error may have charged: the payment stays pending, and a retry uses the
                // same key so the provider answers what it did.
                let known = matches!(failure, PaymentFailure::Declined { .. } | PaymentFailure::Rejected { .. });
                reopen(writer, &taken, known).await?;
                return Err(match failure {
                    PaymentFailure::Declined { reason } => OrderError::PaymentDeclined(reason),
                    PaymentFailure::Rejected { .. } => OrderError::PaymentProvider(PaymentState::None),
                    // Whether money moved is asked of the provider by the key, so the shopper is
                    // told to pay again only when it holds nothing. The payment row stays
                    // pending either way: a retry uses the same key, and the sweeper gives back
                    // whatever turns up later.
                    PaymentFailure::Provider { .. } => match provider.find(&taken.provider_key).await {
                        Ok(None) => OrderError::PaymentProvider(PaymentState::None),
                        Ok(Some(_)) | Err(_) => OrderError::PaymentProvider(PaymentState::Unknown),
                    },
                });
            }
        }
    };
    let captured = authorized.as_ref().and_then(|a| a.captured).unwrap_or(Money::zero(total.currency()));
    let payment_ref = authorized.as_ref().map(|a| a.payment_ref.clone());
    // An order is placed only for exactly its total, captured: anything else (a provider
    // answering an earlier request's key differently) goes back.
    let paid_in_full = authorized.as_ref().is_none_or(|a| a.amount == total && a.captured == Some(total));
    let placed = if paid_in_full {
        place(writer, answers, &taken, captured, payment_ref.as_deref()).await
    } else {
        Err(OrderError::PaymentProvider(PaymentState::None))
    };
    match placed {
        Ok(order) => Ok(order),
        Err(err) => {
            // Paid but not placed: give the money back, then the stock and the cart.
            let returned = match &payment_ref {
                Some(payment_ref) => give_back(provider.as_ref(), payment_ref, captured, &taken.provider_key).await,
                None => true,
            };
            reopen(writer, &taken, returned).await?;
            Err(match err {
                // Money whose return the provider did not confirm may still be with the shop.
                OrderError::PaymentProvider(_) if !returned => OrderError::PaymentProvider(PaymentState::Unknown),
                err => err,
            })
        }
    }
}

/// Records what the provider authorized and captured for a checkout, in its own transaction.
async fn record_authorized(
    writer: &Writer,
    checkout_id: &str,
    authorized: &emporium_payments::Authorized,
) -> Result<(), OrderError> {
    let captured = authorized.captured.map_or(0, |c| c.amount());
    writer
        .execute(statement(
            writer.db().get_database_backend(),
            "UPDATE payments SET provider_ref = ?, status = ?, captured = ?, updated_at = ? \
             WHERE checkout_id = ? AND order_id IS NULL AND ? <= amount",
            [
                authorized.payment_ref.clone().into(),
                (if captured > 0 { "captured" } else { "authorized" }).into(),
                captured.into(),
                now().into(),
                checkout_id.into(),
                captured.into(),
            ],
        ))
        .await?;
    Ok(())
}

/// Gives back payments that no order came of: a checkout abandoned after the provider was
/// called (a crash, a dropped request, a timeout whose answer was lost) and not retried within
/// its hold. Each is first set aside in one transaction: taken from its cart, so no late
/// placement can use it, and its `checkout_id` suffixed with its own id, so a later retry of
/// the same checkout records a new payment under a new provider key instead of replaying this
/// one. Then a payment whose answer was lost (`pending`) is looked up by its key
/// ([`PaymentProvider::find`]); what the provider holds is refunded or voided with a key of its
/// own, and the row marked `voided` (or `failed` when the provider made no payment). A row the
/// provider could not answer for stays as it is and is tried again on the next sweep. `hold`
/// is the checkouts' hold (the reservation TTL): a payment is abandoned once it has not moved
/// for that long, when its cart may be taken over and its units have gone back. Returns how
/// many were given back.
pub async fn sweep_abandoned(
    writer: &Writer,
    providers: &Providers,
    hold: std::time::Duration,
) -> Result<usize, OrderError> {
    let db = writer.db();
    let stale = now() - span(hold);
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT id, checkout_id, provider, provider_ref, provider_key, currency, captured FROM payments \
             WHERE order_id IS NULL AND status IN ('pending', 'authorized', 'captured') AND updated_at < ? \
             ORDER BY updated_at LIMIT 20",
            [stale.into()],
        ))
        .await?;
    let mut given_back = 0;
    for row in rows {
        let (id, checkout_id, provider_name): (String, String, String) =
            (row.try_get("", "id")?, row.try_get("", "checkout_id")?, row.try_get("", "provider")?);
        let (payment_ref, key): (Option<String>, Option<String>) =
            (row.try_get("", "provider_ref")?, row.try_get("", "provider_key")?);
        let (code, captured): (String, i64) = (row.try_get("", "currency")?, row.try_get("", "captured")?);
        let Some(provider) = providers.get(&provider_name) else { continue };
        let cart_checkout = checkout_id.split(':').next().unwrap_or(&checkout_id).to_owned();
        let key = key.unwrap_or_else(|| cart_checkout.clone());
        let txn = writer.begin().await?;
        let backend = txn.get_database_backend();
        let aside = txn
            .execute_raw(statement(
                backend,
                "UPDATE payments SET checkout_id = ? WHERE id = ? AND checkout_id = ? AND order_id IS NULL AND updated_at < ?",
                [format!("{cart_checkout}:{id}").into(), id.clone().into(), checkout_id.clone().into(), stale.into()],
            ))
            .await?;
        if aside.rows_affected() == 0 {
            // Placed, or taken up again by a retry of its checkout, since it was read.
            continue;
        }
        txn.execute_raw(statement(
            backend,
            "UPDATE carts SET status = 'open', checkout_id = NULL, checkout_expires_at = NULL, updated_at = ? \
             WHERE checkout_id = ? AND status = 'checking_out'",
            [now().into(), cart_checkout.clone().into()],
        ))
        .await?;
        txn.commit().await?;
        let currency = emporium_core::Currency::parse(&code).map_err(|e| sea_orm::DbErr::Type(e.to_string()))?;
        let (payment_ref, captured) = match payment_ref {
            Some(payment_ref) => (payment_ref, Money::new(captured, currency)?),
            // The provider's answer never reached us: ask it what the key made.
            None => match provider.find(&key).await {
                Ok(Some(found)) => (found.payment_ref, found.captured.unwrap_or(Money::zero(currency))),
                Ok(None) => {
                    settle_aside(writer, &id, "failed").await?;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(key, error = %err, "looking up the payment of an abandoned checkout failed");
                    continue;
                }
            },
        };
        if give_back(provider.as_ref(), &payment_ref, captured, &key).await {
            settle_aside(writer, &id, "voided").await?;
            given_back += 1;
        }
    }
    Ok(given_back)
}

/// Marks a payment set aside by [`sweep_abandoned`] as settled: nothing of it stays with the shop.
async fn settle_aside(writer: &Writer, id: &str, status: &str) -> Result<(), OrderError> {
    writer
        .execute(statement(
            writer.db().get_database_backend(),
            "UPDATE payments SET status = ?, updated_at = ? WHERE id = ? AND order_id IS NULL",
            [status.into(), now().into(), id.into()],
        ))
        .await?;
    Ok(())
}

/// Returns a payment whose order was not placed: true once the provider did.
async fn give_back(provider: &dyn PaymentProvider, payment_ref: &str, captured: Money, key: &str) -> bool {
    let result = if captured.amount() > 0 {
        provider.refund(payment_ref, captured, &format!("{key}:undo")).await.map(|_| ())
    } else {
        provider.void(payment_ref, &format!("{key}:undo")).await
    };
    match result {
        Ok(()) => true,
        Err(err) => {
            // The payment row stays pending without an order: reconciliation finds it.
            tracing::error!(key, error = %err, "returning the payment of an order not placed failed");
            false
        }
    }
}

async fn take(writer: &Writer, input: &CheckoutInput) -> Result<Taken, OrderError> {
    let mut work = writer.begin().await?;
    let taken = take_in(&mut work, input).await?;
    work.commit().await?;
    Ok(taken)
}

async fn take_in(txn: &mut UnitOfWork, input: &CheckoutInput) -> Result<Taken, OrderError> {
    let backend = txn.get_database_backend();
    if !emporium_core::id::is_id("cart", &input.cart_id) {
        return Err(OrderError::NotFound("cart"));
    }
    let checkout_id = format!("chk_{}", input.attempt);
    let at = now();
    let cart =
        carts::take_for_checkout(&*txn, &input.cart_id, &input.caller, &checkout_id, at, at + span(input.hold)).await?;
    // A retry of this very checkout after a crash: its earlier hold goes back first. Only a
    // request that names its attempt (an `Idempotency-Key`) can be one.
    let earlier = if input.retryable { inventory::active_for(&*txn, &checkout_id).await? } else { Vec::new() };
    let mut change = StockChange::default();
    for reservation in earlier {
        let settled = inventory::release(txn, &reservation).await?;
        change.variant_ids.extend(settled.variant_ids());
    }
    let view = carts::view_of(txn, cart).await?;
    if view.items.is_empty() {
        return Err(OrderError::CartEmpty);
    }
    let over: Vec<String> = view.items.iter().filter(|i| i.over_limit).map(|i| i.sku.clone()).collect();
    if !over.is_empty() {
        return Err(OrderError::CartOverLimit { skus: over });
    }
    let email = match (&view.cart.email, &view.cart.customer_id) {
        (Some(email), _) => email.clone(),
        (None, Some(customer)) => emporium_customers::get_customer(txn, customer)
            .await
            .ok()
            .flatten()
            .map(|c| c.email.as_str().to_owned())
            .ok_or(OrderError::EmailRequired)?,
        (None, None) => return Err(OrderError::EmailRequired),
    };
    if view.cart.shipping_address.is_none() {
        return Err(OrderError::ShippingAddressRequired);
    }
    // The shopper saw these codes on the cart: never charge a total without them silently.
    if let Some((_, reason)) = view.refused.first() {
        return Err(OrderError::DiscountInvalid(*reason));
    }
    // A per-customer limit reached since the code was applied (the same shopper's other cart
    // checked out with it) refuses now, before any money is taken, not with a refund after.
    // Placing the order still counts the use conditionally, for checkouts racing each other.
    let customer_key = carts::customer_key(&view.cart).unwrap_or_else(|| email.to_lowercase());
    for discount in &view.applied {
        if let Some(limit) = discount.usage_limit_per_customer
            && setup::uses_by(txn, &discount.id, &customer_key).await? >= limit
        {
            return Err(OrderError::DiscountInvalid(DiscountRefusal::UsageLimitReached));
        }
    }
    if view.shipping_method.is_none() && view.ships_by_zones {
        return Err(OrderError::ShippingMethodRequired);
    }
    let lines: Vec<(String, i64)> = view.items.iter().map(|i| (i.variant_id.clone(), i.quantity)).collect();
    let reservation = match inventory::reserve(txn, &lines, span(input.hold), Some(&checkout_id)).await {
        Ok(reservation) => reservation,
        Err(InventoryError::OutOfStock { variant_ids }) => return Err(out_of_stock(&view, &variant_ids)),
        Err(other) => return Err(other.into()),
    };
    change.variant_ids.extend(lines.iter().map(|(v, _)| v.clone()));
    change.crossings = crossings_of(&view, &reservation.crossed);
    change.record(txn).await?;
    let total = view.totals.total;
    let fresh_key = format!("{checkout_id}_{}", uuid::Uuid::new_v4().simple());
    let recorded = txn
        .query_one_raw(statement(
            backend,
            "INSERT INTO payments (id, checkout_id, order_id, provider, provider_ref, provider_key, status, currency, amount, \
             captured, refunded, created_at, updated_at) VALUES (?, ?, NULL, ?, NULL, ?, 'pending', ?, ?, 0, 0, ?, ?) \
             ON CONFLICT (checkout_id) DO UPDATE SET status = 'pending', amount = excluded.amount, \
             updated_at = excluded.updated_at, provider_key = CASE WHEN payments.status IN ('failed', 'voided') \
             THEN excluded.provider_key ELSE payments.provider_key END WHERE payments.order_id IS NULL \
             RETURNING provider_key",
            [
                emporium_core::id::new_id("pay").into(),
                checkout_id.clone().into(),
                input.provider.clone().into(),
                fresh_key.into(),
                total.currency().code().into(),
                total.amount().into(),
                at.into(),
                at.into(),
            ],
        ))
        .await?;
    // A payment of this checkout already belongs to an order: this is not the same checkout.
    let provider_key: String = recorded
        .ok_or(OrderError::CartAlreadyCheckedOut)?
        .try_get::<Option<String>>("", "provider_key")?
        .unwrap_or_default();
    Ok(Taken { checkout_id, provider_key, view, email, reservation })
}

/// 409 `out_of_stock` naming the SKUs of the short variants.
fn out_of_stock(view: &CartView, variant_ids: &[String]) -> OrderError {
    let skus = view.items.iter().filter(|i| variant_ids.contains(&i.variant_id)).map(|i| i.sku.clone()).collect();
    OrderError::OutOfStock { skus }
}

fn crossings_of(view: &CartView, crossed: &[ReorderCrossing]) -> Vec<(String, ReorderCrossing)> {
    crossed
        .iter()
        .filter_map(|c| {
            let sku = view.items.iter().find(|i| i.variant_id == c.variant_id)?.sku.clone();
            Some((sku, c.clone()))
        })
        .collect()
}

async fn place(
    writer: &Writer,
    answers: &dyn Answers,
    taken: &Taken,
    captured: Money,
    payment_ref: Option<&str>,
) -> Result<Order, OrderError> {
    let mut work = writer.begin().await?;
    let order = place_in(&mut work, answers, taken, captured, payment_ref).await?;
    work.commit().await?;
    Ok(order)
}

async fn place_in(
    txn: &mut UnitOfWork,
    answers: &dyn Answers,
    taken: &Taken,
    captured: Money,
    payment_ref: Option<&str>,
) -> Result<Order, OrderError> {
    let backend = txn.get_database_backend();
    let view = &taken.view;
    let order_id = orders::new_order_id();
    let at = now();
    let ordered = txn
        .execute_raw(statement(
            backend,
            "UPDATE carts SET status = 'ordered', order_id = ?, updated_at = ? \
             WHERE id = ? AND status = 'checking_out' AND checkout_id = ?",
            [order_id.clone().into(), at.into(), view.cart.id.clone().into(), taken.checkout_id.clone().into()],
        ))
        .await?;
    if ordered.rows_affected() == 0 {
        // Another attempt took the cart over after this one's hold ran out.
        return Err(OrderError::CheckoutInProgress);
    }
    let mut backordered = taken.reservation.backorders.clone();
    let sku_of = |variant_id: &str| view.items.iter().find(|i| i.variant_id == variant_id).map(|i| i.sku.clone());
    let mut change = StockChange::default();
    match inventory::commit_held(txn, &taken.reservation, &order_id, None).await {
        Ok(settled) => change.moved(settled.moved, sku_of),
        Err(InventoryError::ReservationNotActive) => {
            // The hold ran out while the provider answered: take the stock again, now.
            let lines: Vec<(String, i64)> = view.items.iter().map(|i| (i.variant_id.clone(), i.quantity)).collect();
            let again = match inventory::reserve(txn, &lines, Duration::minutes(1), Some(&taken.checkout_id)).await {
                Ok(again) => again,
                Err(InventoryError::OutOfStock { variant_ids }) => return Err(out_of_stock(view, &variant_ids)),
                Err(other) => return Err(other.into()),
            };
            let settled = inventory::commit_held(txn, &again, &order_id, None).await?;
            backordered = again.backorders.clone();
            change.variant_ids = lines.into_iter().map(|(v, _)| v).collect();
            change.crossings = crossings_of(view, &again.crossed);
            change.moved(settled.moved, sku_of);
        }
        Err(other) => return Err(other.into()),
    }
    change.record(txn).await?;
    if let Some(key) = carts::customer_key(&view.cart).or_else(|| Some(taken.email.to_lowercase())) {
        for discount in &view.applied {
            if !setup::count_use(txn, discount, &key).await? {
                return Err(OrderError::DiscountInvalid(DiscountRefusal::UsageLimitReached));
            }
        }
    }
    let order = orders::place(txn, &order_id, view, &taken.email, captured, &backordered).await?;
    txn.emit(OrderEvent::Placed { order_id: order_id.clone() });
    txn.emit(OrderEvent::Paid {
        order_id: order_id.clone(),
        amount: captured.amount(),
        currency: captured.currency().code().to_owned(),
    });
    txn.execute_raw(statement(
        backend,
        "UPDATE payments SET status = ?, order_id = ?, provider_ref = ?, captured = ?, updated_at = ? WHERE checkout_id = ?",
        [
            (if captured.amount() > 0 { "captured" } else { "authorized" }).into(),
            order_id.clone().into(),
            payment_ref.into(),
            captured.amount().into(),
            at.into(),
            taken.checkout_id.clone().into(),
        ],
    ))
    .await?;
    answering(txn, answers, Outcome::Placed(&order))?;
    Ok(order)
}

/// Undoes a checkout that placed no order: its reservation released, its cart open again, and
/// its payment row `failed` when no money is known to remain with the shop (`settled`), else
/// left `pending` for a retry with the same key, or for reconciliation.
async fn reopen(writer: &Writer, taken: &Taken, settled: bool) -> Result<(), OrderError> {
    let mut txn = writer.begin().await?;
    let backend = txn.get_database_backend();
    let mut change = StockChange::default();
    match inventory::release(&txn, &taken.reservation.id).await {
        Ok(settled) => change.variant_ids = settled.variant_ids(),
        // Expired meanwhile: the expiry job gave the units back.
        Err(InventoryError::ReservationNotActive) => {}
        Err(other) => return Err(other.into()),
    }
    change.record(&mut txn).await?;
    let at = now();
    txn.execute_raw(statement(
        backend,
        "UPDATE carts SET status = 'open', checkout_id = NULL, checkout_expires_at = NULL, updated_at = ? \
         WHERE id = ? AND status = 'checking_out' AND checkout_id = ?",
        [at.into(), taken.view.cart.id.clone().into(), taken.checkout_id.clone().into()],
    ))
    .await?;
    if settled {
        txn.execute_raw(statement(
            backend,
            "UPDATE payments SET status = 'failed', updated_at = ? WHERE checkout_id = ? AND order_id IS NULL",
            [at.into(), taken.checkout_id.clone().into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(())
}
