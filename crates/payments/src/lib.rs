//! Payments: the provider abstraction checkout and refunds call, and the built-in `test`
//! provider.
//!
//! A provider is called outside any database lock, with an idempotency key derived from the
//! request that caused the call (the checkout's, the refund's), so a retry after a lost answer
//! never charges twice. It answers with its own references and a typed failure: declined (the
//! shopper's problem: 402), or the provider failing (ours to retry: 502). The shape fits a
//! real provider such as Stripe's PaymentIntents: `authorize` may capture at once or leave an
//! authorization for a later `capture`; `void` cancels an authorization; `refund` returns
//! captured money, in parts.
//!
//! Payment data is a provider token ([`PaymentToken`]), never a card number or CVV.
//!
//! Payment and refund records (`payments`, `payment_refunds`) are written by the orders crate,
//! in the same transactions as the order changes they belong to.

mod test_provider;

use std::collections::BTreeMap;
use std::sync::Arc;

use emporium_core::{Money, ValidationErrors};

pub use test_provider::{Call, TestProvider};

/// An opaque token from the shopper's payment form (a provider's payment method), checked to be
/// no card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentToken(String);

impl PaymentToken {
    /// Longest token accepted.
    pub const MAX_CHARS: usize = 255;

    /// A token of 1 to 255 visible ASCII characters that does not look like a card number (12
    /// or more digits, whatever separates them): those are refused, so no card number is ever
    /// taken in, stored or logged.
    pub fn parse(text: &str, field: &'static str) -> Result<Self, ValidationErrors> {
        // Checked first, so a card number typed with spaces is named as what it is.
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        let separators_only = text.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b' ');
        if digits >= 12 && separators_only {
            return Err(ValidationErrors::single(
                field,
                "card_number_refused",
                "card numbers are never accepted: send the provider's token",
            ));
        }
        let visible = !text.is_empty() && text.len() <= Self::MAX_CHARS && text.bytes().all(|b| b.is_ascii_graphic());
        if !visible {
            return Err(ValidationErrors::single(field, "invalid", "must be a payment provider's token"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The token as the provider reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to authorize.
#[derive(Debug, Clone)]
pub struct Authorize {
    pub amount: Money,
    pub token: PaymentToken,
    /// Capture at once (a shop that charges at checkout) or only authorize (capture later, at
    /// fulfilment).
    pub capture: bool,
    /// The same key always gives the same answer, and the provider charges once.
    pub idempotency_key: String,
    /// What the payment is for (a checkout or an order), for the provider's records.
    pub reference: String,
}

/// An authorization the provider granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The provider's id of the payment.
    pub payment_ref: String,
    pub amount: Money,
    /// What was captured at once (the whole amount when asked to capture, else nothing).
    pub captured: Option<Money>,
}

/// Money a provider moved (a capture or a refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The provider's id of this capture or refund.
    pub provider_ref: String,
    pub amount: Money,
}

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentFailure {
    /// The payment method was refused (insufficient funds, a stolen card): 402, no retry
    /// helps.
    #[error("The payment was declined: {reason}.")]
    Declined { reason: String },
    /// The provider failed or could not be reached: 502; the same call with the same key may
    /// be retried.
    #[error("The payment provider failed: {message}.")]
    Provider { message: String },
    /// The provider refused the request as such (more than captured, an unknown payment):
    /// a defect on our side, never the shopper's.
    #[error("The payment provider refused the request: {message}.")]
    Rejected { message: String },
}

/// A payment provider. Every call carries an idempotency key: a call repeated with the same key
/// (after a timeout, a crash, a lost answer) returns the first call's answer and moves no money
/// again.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The provider's name as checkout names it (`"test"`, `"stripe"`).
    fn name(&self) -> &'static str;

    /// Authorizes `request.amount` on the token, capturing it at once if asked.
    async fn authorize(&self, request: &Authorize) -> Result<Authorized, PaymentFailure>;

    /// Captures up to the authorized amount of a payment.
    async fn capture(&self, payment_ref: &str, amount: Money, idempotency_key: &str) -> Result<Moved, PaymentFailure>;

    /// Cancels an authorization nothing was captured from.
    async fn void(&self, payment_ref: &str, idempotency_key: &str) -> Result<(), PaymentFailure>;

    /// Returns up to what was captured less what was refunded.
    async fn refund(&self, payment_ref: &str, amount: Money, idempotency_key: &str) -> Result<Moved, PaymentFailure>;

    /// The payment an `authorize` with this idempotency key made, if it made one, without
    /// charging: how a caller that lost the answer (a crash, a timeout) learns what happened.
    /// (Stripe: the PaymentIntent whose metadata carries the key, found through its search.)
    async fn find(&self, idempotency_key: &str) -> Result<Option<Authorized>, PaymentFailure>;
}

/// The configured providers by name.
#[derive(Clone, Default)]
pub struct Providers(BTreeMap<&'static str, Arc<dyn PaymentProvider>>);

impl Providers {
    /// The providers every shop has: the `test` one, given so its caller can read its calls.
    pub fn builtin(test: Arc<TestProvider>) -> Self {
        let mut providers = Self::default();
        providers.add(test);
        providers
    }

    /// Adds (or replaces) a provider under its name.
    pub fn add(&mut self, provider: Arc<dyn PaymentProvider>) {
        self.0.insert(provider.name(), provider);
    }

    /// The provider called `name`, if configured.
    pub fn get(&self, name: &str) -> Option<Arc<dyn PaymentProvider>> {
        self.0.get(name).cloned()
    }

    /// The names configured, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_provider_tokens_never_card_numbers() {
        assert!(PaymentToken::parse("tok_ok", "token").is_ok());
        assert!(PaymentToken::parse("pm_1Q2w3E4r5T6y7U8i9O0p", "token").is_ok(), "digits inside a token are fine");
        for card in ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "378282246310005"] {
            let refused = PaymentToken::parse(card, "token").err().and_then(|e| e.errors().first().map(|f| f.code));
            assert_eq!(refused, Some("card_number_refused"), "{card}");
        }
        for bad in ["", "tok ok", "tök", &"x".repeat(256)] {
            assert!(PaymentToken::parse(bad, "token").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_builtin_providers_are_the_test_one() {
        let providers = Providers::builtin(Arc::new(TestProvider::default()));
        assert_eq!(providers.names().collect::<Vec<_>>(), ["test"]);
        assert!(providers.get("test").is_some());
        assert!(providers.get("stripe").is_none());
    }
}
