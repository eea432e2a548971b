//! The shop's selling setup, kept by staff: whether prices include tax (per currency),
//! shipping zones and their methods, tax rates by country and region, and discount codes.
//!
//! By topic: `currencies.rs` (whether prices include tax, per currency, and the settings that
//! price a cart), `shipping.rs` (zones and their methods), `tax.rs` (tax rates) and
//! `discounts.rs` (discount codes).

use emporium_core::{Currency, Money, ValidationErrors};

mod currencies;
mod discounts;
mod shipping;
mod tax;

pub use currencies::*;
pub use discounts::*;
pub use shipping::*;
pub use tax::*;

fn money(amount: i64, currency: &str) -> Result<Money, sea_orm::DbErr> {
    let currency = Currency::parse(currency).map_err(|e| sea_orm::DbErr::Type(e.to_string()))?;
    Money::new(amount, currency).map_err(|e| sea_orm::DbErr::Type(e.to_string()))
}

fn name_of(errors: &mut ValidationErrors, field: &str, value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 || trimmed.chars().any(char::is_control) {
        errors.add(field, "invalid", "must be 1 to 100 characters, without control characters");
    }
    trimmed.to_owned()
}

/// An amount as a client sends it: minor units and a currency code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountInput {
    pub amount: i64,
    pub currency: String,
}

impl AmountInput {
    /// Checks the amount (at least `min` minor units) and the currency.
    pub fn check(&self, errors: &mut ValidationErrors, field: &str, min: i64) -> Option<Money> {
        let Ok(currency) = Currency::parse(&self.currency) else {
            errors.add(format!("{field}.currency"), "invalid_currency", "must be an upper-case ISO 4217 code");
            return None;
        };
        match Money::new(self.amount, currency) {
            Ok(money) if self.amount >= min => Some(money),
            _ => {
                errors.add(format!("{field}.amount"), "out_of_range", format!("must be from {min} to 2^53 − 1"));
                None
            }
        }
    }
}
