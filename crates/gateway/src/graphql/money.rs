//! Money in GraphQL: amounts are the `Amount` scalar, a JSON integer over the whole
//! ±(2^53 − 1) range. GraphQL's `Int` is 32 bits, which IDR 30,000,000.00
//! (3,000,000,000 minor units) already overflows in generated clients.

use async_graphql::{InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType, Value};
use emporium_core::money::MAX_SAFE_AMOUNT;

use crate::dto::AmountDto;

/// An amount in a currency's minor units (cents for EUR, yen for JPY, fils for KWD): a JSON
/// integer within ±(2^53 − 1), so JavaScript reads it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub i64);

#[Scalar(name = "Amount")]
impl ScalarType for Amount {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => match n.as_i64() {
                Some(amount) if amount.abs() <= MAX_SAFE_AMOUNT => Ok(Self(amount)),
                _ => Err(InputValueError::custom("an amount is an integer within ±(2^53 − 1) minor units")),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::Number(n) if n.is_i64())
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// An amount of money.
#[Object(name = "Money")]
impl AmountDto {
    /// Minor units of `currency`.
    async fn amount(&self) -> Amount {
        Amount(self.amount)
    }

    /// Upper-case ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.currency
    }
}

/// An amount of money in a mutation.
#[derive(InputObject)]
pub struct MoneyInput {
    /// Minor units of `currency`.
    pub amount: Amount,
    /// Upper-case ISO 4217 code.
    pub currency: String,
}

impl From<MoneyInput> for emporium_catalog::PriceInput {
    fn from(input: MoneyInput) -> Self {
        Self { amount: input.amount.0, currency: input.currency }
    }
}
