//! The built-in `test` provider: `tok_ok` pays, `tok_declined` is declined, `tok_error` fails
//! as a provider would, and `tok_timeout` pays but its answer is lost (the caller sees a
//! provider failure; a repeat of the key, or [`PaymentProvider::find`], learns of the payment). It keeps every payment's authorized, captured and refunded amounts,
//! answers a repeated idempotency key with the first answer, and records every call that moved
//! or released money, so a test can see, for example, that a payment captured for an order
//! that could not be placed was refunded or voided.

use std::collections::HashMap;
use std::sync::Mutex;

use emporium_core::Money;

use crate::{Authorize, Authorized, Moved, PaymentFailure, PaymentProvider};

/// One call that changed a payment, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Authorize { payment_ref: String, amount: Money, captured: bool },
    Capture { payment_ref: String, amount: Money },
    Void { payment_ref: String },
    Refund { payment_ref: String, amount: Money },
}

#[derive(Debug, Clone)]
struct Payment {
    authorized: Money,
    captured: i64,
    refunded: i64,
    voided: bool,
}

/// What the provider remembers; one lock, held only in memory (no await inside).
#[derive(Default)]
struct Books {
    payments: HashMap<String, Payment>,
    /// First answers by idempotency key (and operation, so two kinds of call never share one).
    answers: HashMap<(&'static str, String), Result<Answer, PaymentFailure>>,
    calls: Vec<Call>,
    next: u64,
}

#[derive(Debug, Clone)]
enum Answer {
    Authorized(Authorized),
    Moved(Moved),
    Voided,
}

/// A key reused for another kind of call than its first.
fn other_call() -> PaymentFailure {
    rejected("the key was used for another call")
}

/// The `test` provider.
#[derive(Default)]
pub struct TestProvider {
    books: Mutex<Books>,
    /// Set by a test: charges are made, then never answered, as when the process calling the
    /// provider dies mid-call. Not reachable through any token.
    stalled: std::sync::atomic::AtomicBool,
    /// Set by a test: refunds of these payments are refused (`true`) or fail (`false`).
    failing_refunds: Mutex<HashMap<String, bool>>,
}

impl TestProvider {
    /// From now on (or no longer), charge and then never answer: what a checkout sees of a
    /// provider when its own process dies during the call. For tests of crash recovery.
    pub fn stall_after_charging(&self, stalled: bool) {
        self.stalled.store(stalled, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, refunds of `payment_ref` are refused for good (`refuse`) or fail as an
    /// unreachable provider would; `None` lets them through again. For tests of refund retries.
    pub fn fail_refunds_of(&self, payment_ref: &str, refuse: Option<bool>) {
        if let Ok(mut failing) = self.failing_refunds.lock() {
            match refuse {
                Some(refuse) => failing.insert(payment_ref.to_owned(), refuse),
                None => failing.remove(payment_ref),
            };
        }
    }

    /// Every call that changed a payment, in order (repeats answered from the idempotency
    /// record are not calls).
    pub fn calls(&self) -> Vec<Call> {
        self.books.lock().map(|b| b.calls.clone()).unwrap_or_default()
    }

    /// A payment's (captured, refunded) minor units, and whether it was voided.
    pub fn payment(&self, payment_ref: &str) -> Option<(i64, i64, bool)> {
        let books = self.books.lock().ok()?;
        books.payments.get(payment_ref).map(|p| (p.captured, p.refunded, p.voided))
    }

    /// Runs `call` once per (operation, key): a repeat gets the first answer.
    fn once_or_lost(
        &self,
        operation: &'static str,
        key: &str,
        call: impl FnOnce(&mut Books) -> Result<Answer, PaymentFailure>,
        lost: bool,
    ) -> Result<Answer, PaymentFailure> {
        let mut books = self.books.lock().map_err(|_| PaymentFailure::Provider { message: "poisoned".into() })?;
        if let Some(first) = books.answers.get(&(operation, key.to_owned())) {
            return first.clone();
        }
        let answer = call(&mut books);
        // A provider failure is not an answer: the same key may be tried again.
        if !matches!(answer, Err(PaymentFailure::Provider { .. })) {
            books.answers.insert((operation, key.to_owned()), answer.clone());
        }
        if lost && answer.is_ok() {
            return Err(PaymentFailure::Provider { message: "test provider timed out after paying".into() });
        }
        answer
    }

    fn once(
        &self,
        operation: &'static str,
        key: &str,
        call: impl FnOnce(&mut Books) -> Result<Answer, PaymentFailure>,
    ) -> Result<Answer, PaymentFailure> {
        self.once_or_lost(operation, key, call, false)
    }
}

fn rejected(message: &str) -> PaymentFailure {
    PaymentFailure::Rejected { message: message.to_owned() }
}

#[async_trait::async_trait]
impl PaymentProvider for TestProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    async fn authorize(&self, request: &Authorize) -> Result<Authorized, PaymentFailure> {
        let lost = request.token.as_str() == "tok_timeout";
        let answer = self.once_or_lost(
            "authorize",
            &request.idempotency_key,
            |books| {
                match request.token.as_str() {
                    "tok_ok" | "tok_timeout" => {}
                    "tok_declined" => return Err(PaymentFailure::Declined { reason: "card_declined".into() }),
                    "tok_error" => return Err(PaymentFailure::Provider { message: "test provider error".into() }),
                    _ => return Err(PaymentFailure::Declined { reason: "unknown_token".into() }),
                }
                if request.amount.amount() <= 0 {
                    return Err(rejected("an amount must be positive"));
                }
                books.next += 1;
                let payment_ref = format!("pay_test_{}", books.next);
                let captured = request.capture.then_some(request.amount);
                books.payments.insert(
                    payment_ref.clone(),
                    Payment {
                        authorized: request.amount,
                        captured: captured.map_or(0, |m| m.amount()),
                        refunded: 0,
                        voided: false,
                    },
                );
                books.calls.push(Call::Authorize {
                    payment_ref: payment_ref.clone(),
                    amount: request.amount,
                    captured: request.capture,
                });
                Ok(Answer::Authorized(Authorized { payment_ref, amount: request.amount, captured }))
            },
            lost,
        )?;
        if self.stalled.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if let Answer::Authorized(authorized) = answer { Ok(authorized) } else { Err(other_call()) }
    }

    async fn capture(&self, payment_ref: &str, amount: Money, idempotency_key: &str) -> Result<Moved, PaymentFailure> {
        let answer = self.once("capture", idempotency_key, |books| {
            let payment = books.payments.get_mut(payment_ref).ok_or_else(|| rejected("no such payment"))?;
            if payment.voided || amount.currency() != payment.authorized.currency() || amount.amount() <= 0 {
                return Err(rejected("nothing to capture"));
            }
            if payment.captured + amount.amount() > payment.authorized.amount() {
                return Err(rejected("more than was authorized"));
            }
            payment.captured += amount.amount();
            books.next += 1;
            let provider_ref = format!("cap_test_{}", books.next);
            books.calls.push(Call::Capture { payment_ref: payment_ref.to_owned(), amount });
            Ok(Answer::Moved(Moved { provider_ref, amount }))
        })?;
        if let Answer::Moved(moved) = answer { Ok(moved) } else { Err(other_call()) }
    }

    async fn void(&self, payment_ref: &str, idempotency_key: &str) -> Result<(), PaymentFailure> {
        let answer = self.once("void", idempotency_key, |books| {
            let payment = books.payments.get_mut(payment_ref).ok_or_else(|| rejected("no such payment"))?;
            if payment.captured > 0 {
                return Err(rejected("a captured payment is refunded, not voided"));
            }
            payment.voided = true;
            books.calls.push(Call::Void { payment_ref: payment_ref.to_owned() });
            Ok(Answer::Voided)
        })?;
        if let Answer::Voided = answer { Ok(()) } else { Err(other_call()) }
    }

    async fn refund(&self, payment_ref: &str, amount: Money, idempotency_key: &str) -> Result<Moved, PaymentFailure> {
        let failing = self.failing_refunds.lock().ok().and_then(|f| f.get(payment_ref).copied());
        match failing {
            Some(true) => return Err(rejected("the test provider refuses refunds of this payment")),
            Some(false) => return Err(PaymentFailure::Provider { message: "test provider error".into() }),
            None => {}
        }
        let answer = self.once("refund", idempotency_key, |books| {
            let payment = books.payments.get_mut(payment_ref).ok_or_else(|| rejected("no such payment"))?;
            if amount.currency() != payment.authorized.currency() || amount.amount() <= 0 {
                return Err(rejected("a refund is a positive amount in the payment's currency"));
            }
            if payment.refunded + amount.amount() > payment.captured {
                return Err(rejected("more than was captured less what was refunded"));
            }
            payment.refunded += amount.amount();
            books.next += 1;
            let provider_ref = format!("ref_test_{}", books.next);
            books.calls.push(Call::Refund { payment_ref: payment_ref.to_owned(), amount });
            Ok(Answer::Moved(Moved { provider_ref, amount }))
        })?;
        if let Answer::Moved(moved) = answer { Ok(moved) } else { Err(other_call()) }
    }

    async fn find(&self, idempotency_key: &str) -> Result<Option<Authorized>, PaymentFailure> {
        let books = self.books.lock().map_err(|_| PaymentFailure::Provider { message: "poisoned".into() })?;
        Ok(match books.answers.get(&("authorize", idempotency_key.to_owned())) {
            Some(Ok(Answer::Authorized(authorized))) => Some(authorized.clone()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use emporium_core::Currency;

    use super::*;
    use crate::PaymentToken;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR).unwrap_or_else(|_| unreachable!("in range"))
    }

    fn request(token: &str, amount: i64, capture: bool, key: &str) -> Authorize {
        Authorize {
            amount: eur(amount),
            token: PaymentToken::parse(token, "token").unwrap_or_else(|_| unreachable!("a valid token")),
            capture,
            idempotency_key: key.to_owned(),
            reference: "chk_1".to_owned(),
        }
    }

    #[tokio::test]
    async fn tokens_pay_decline_or_fail_as_documented() {
        let provider = TestProvider::default();
        let paid = provider.authorize(&request("tok_ok", 1999, true, "k1")).await;
        assert!(matches!(&paid, Ok(a) if a.captured == Some(eur(1999))), "{paid:?}");
        let declined = provider.authorize(&request("tok_declined", 1999, true, "k2")).await;
        assert!(matches!(declined, Err(PaymentFailure::Declined { .. })));
        let failed = provider.authorize(&request("tok_error", 1999, true, "k3")).await;
        assert!(matches!(failed, Err(PaymentFailure::Provider { .. })));
        assert_eq!(provider.calls().len(), 1, "only the paid one moved money");
    }

    #[tokio::test]
    async fn a_lost_answer_is_found_by_its_key_and_replayed_by_a_repeat() {
        let provider = TestProvider::default();
        assert_eq!(provider.find("lost").await, Ok(None), "nothing yet");
        let first = provider.authorize(&request("tok_timeout", 700, true, "lost")).await;
        assert!(matches!(first, Err(PaymentFailure::Provider { .. })), "{first:?}");
        let found = provider.find("lost").await.ok().flatten();
        assert!(matches!(&found, Some(a) if a.captured == Some(eur(700))), "{found:?}");
        let again = provider.authorize(&request("tok_timeout", 700, true, "lost")).await;
        assert_eq!(again.ok(), found, "the repeat answers what the first did");
        assert_eq!(provider.calls().len(), 1, "charged once");
        assert_eq!(provider.find("k-declined").await, Ok(None));
        let _ = provider.authorize(&request("tok_declined", 700, true, "k-declined")).await;
        assert_eq!(provider.find("k-declined").await, Ok(None), "a decline made no payment");
    }

    #[tokio::test]
    async fn a_repeated_key_gets_the_first_answer_and_charges_once() {
        let provider = TestProvider::default();
        let first = provider.authorize(&request("tok_ok", 500, true, "checkout-1")).await;
        let again = provider.authorize(&request("tok_ok", 500, true, "checkout-1")).await;
        assert_eq!(first, again);
        assert_eq!(provider.calls().len(), 1);
        let payment = first.map(|a| a.payment_ref).unwrap_or_default();
        let refund = provider.refund(&payment, eur(200), "refund-1").await;
        assert_eq!(provider.refund(&payment, eur(200), "refund-1").await, refund);
        assert_eq!(provider.payment(&payment), Some((500, 200, false)));
    }

    #[tokio::test]
    async fn authorizations_capture_later_void_and_refund_within_what_was_captured() {
        let provider = TestProvider::default();
        let held = provider.authorize(&request("tok_ok", 1000, false, "a")).await;
        let payment = held.map(|a| a.payment_ref).unwrap_or_default();
        assert_eq!(provider.payment(&payment), Some((0, 0, false)));
        assert!(matches!(provider.capture(&payment, eur(1001), "c0").await, Err(PaymentFailure::Rejected { .. })));
        assert!(provider.capture(&payment, eur(600), "c1").await.is_ok());
        assert!(provider.capture(&payment, eur(400), "c2").await.is_ok());
        assert!(matches!(provider.void(&payment, "v").await, Err(PaymentFailure::Rejected { .. })), "captured");
        assert!(provider.refund(&payment, eur(1000), "r1").await.is_ok());
        assert!(matches!(provider.refund(&payment, eur(1), "r2").await, Err(PaymentFailure::Rejected { .. })));

        let other =
            provider.authorize(&request("tok_ok", 300, false, "b")).await.map(|a| a.payment_ref).unwrap_or_default();
        assert!(provider.void(&other, "v2").await.is_ok());
        assert_eq!(provider.payment(&other), Some((0, 0, true)));
        assert!(matches!(provider.capture(&other, eur(300), "c3").await, Err(PaymentFailure::Rejected { .. })));
        assert!(matches!(provider.calls().last(), Some(Call::Void { .. })));
    }
}
