//! Money in integer minor units of an ISO 4217 currency. No floating point anywhere.

use serde::{Deserialize, Serialize};

/// The largest magnitude an amount may have, so JavaScript clients read it exactly (2^53 − 1).
pub const MAX_SAFE_AMOUNT: i64 = 9_007_199_254_740_991;

/// Active ISO 4217 codes whose minor unit is not 2 digits. Every other listed code has 2.
const MINOR_UNITS: &[(&str, u8)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLF", 4),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("UYW", 4),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];

/// Active ISO 4217 currency codes (funds and precious metals excluded where they are not money).
const CODES: &str = "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL \
BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN \
ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY \
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR \
MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR \
SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX \
USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// Why a currency or an amount was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an upper-case ISO 4217 code that we know.
    #[error("not an upper-case ISO 4217 currency code")]
    UnknownCurrency,
    /// Outside ±(2^53 − 1).
    #[error("amount is outside ±(2^53 − 1)")]
    OutOfRange,
    /// Two amounts in different currencies were combined.
    #[error("amounts in different currencies")]
    CurrencyMismatch,
    /// An allocation was asked for with no weights, a negative weight, or weights summing to 0.
    #[error("an allocation needs non-negative weights that do not sum to zero")]
    InvalidWeights,
}

/// Basis points in a whole (100%): a rate of 2,000 basis points is 20%.
pub const BASIS_POINTS: i64 = 10_000;

/// `numerator / denominator` rounded to the nearest integer, ties to the even one (banker's
/// rounding), for any signs; `denominator` must not be 0.
fn div_half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    let twice = 2 * remainder.abs();
    let away = twice > denominator.abs() || (twice == denominator.abs() && quotient % 2 != 0);
    if !away {
        quotient
    } else if (numerator < 0) != (denominator < 0) {
        quotient - 1
    } else {
        quotient + 1
    }
}

/// An upper-case ISO 4217 currency code, known to be active.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");

    /// Parses an upper-case ISO 4217 code such as `EUR`.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes: [u8; 3] = code.as_bytes().try_into().map_err(|_| MoneyError::UnknownCurrency)?;
        if bytes.iter().all(u8::is_ascii_uppercase) && CODES.split(' ').any(|c| c == code) {
            Ok(Self(bytes))
        } else {
            Err(MoneyError::UnknownCurrency)
        }
    }

    /// Every code [`Currency::parse`] accepts, for documents that list them.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        CODES.split(' ').filter(|c| !c.is_empty())
    }

    /// The code, e.g. `"EUR"`.
    pub fn code(&self) -> &str {
        // Only ever built from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point in this currency (JPY 0, EUR 2, KWD 3).
    pub fn minor_units(&self) -> u8 {
        MINOR_UNITS.iter().find(|(code, _)| *code == self.code()).map_or(2, |(_, digits)| *digits)
    }
}

impl std::fmt::Debug for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency's minor units, e.g. `{"amount": 1999, "currency": "EUR"}` is €19.99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Money {
    amount: i64,
    currency: Currency,
}

impl Money {
    /// Money of `amount` minor units, refused outside ±(2^53 − 1).
    pub fn new(amount: i64, currency: Currency) -> Result<Self, MoneyError> {
        if (-MAX_SAFE_AMOUNT..=MAX_SAFE_AMOUNT).contains(&amount) {
            Ok(Self { amount, currency })
        } else {
            Err(MoneyError::OutOfRange)
        }
    }

    /// The amount in minor units.
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Nothing, in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self { amount: 0, currency }
    }

    fn with(&self, amount: i128) -> Result<Self, MoneyError> {
        Self::new(i64::try_from(amount).map_err(|_| MoneyError::OutOfRange)?, self.currency)
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency { Ok(()) } else { Err(MoneyError::CurrencyMismatch) }
    }

    /// `self + other`, in one currency and within range.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        self.with(i128::from(self.amount) + i128::from(other.amount))
    }

    /// `self − other`, in one currency and within range.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        self.with(i128::from(self.amount) - i128::from(other.amount))
    }

    /// `self × quantity` (a line total), within range.
    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        self.with(i128::from(self.amount) * i128::from(quantity))
    }

    /// The sum of `amounts`, all in `currency` (zero when there are none).
    pub fn sum(currency: Currency, amounts: impl IntoIterator<Item = Money>) -> Result<Money, MoneyError> {
        amounts.into_iter().try_fold(Money::zero(currency), Money::checked_add)
    }

    /// `basis_points` / 10,000 of this amount (a tax rate, a percentage discount), rounded to
    /// the minor unit half to even: 2.5 cents is 2, 3.5 cents is 4.
    pub fn percent(self, basis_points: i64) -> Result<Money, MoneyError> {
        self.with(div_half_even(i128::from(self.amount) * i128::from(basis_points), i128::from(BASIS_POINTS)))
    }

    /// The tax contained in this gross amount at `basis_points` (`gross × rate / (10,000 +
    /// rate)`), rounded to the minor unit half to even: €12.00 at 20% contains €2.00.
    pub fn tax_contained(self, basis_points: i64) -> Result<Money, MoneyError> {
        if basis_points < 0 {
            return Err(MoneyError::InvalidWeights);
        }
        self.with(div_half_even(
            i128::from(self.amount) * i128::from(basis_points),
            i128::from(BASIS_POINTS) + i128::from(basis_points),
        ))
    }

    /// Splits this amount into parts proportional to `weights` (a discount over lines by
    /// their totals, a refund over returned lines) by largest remainder: each part is its
    /// exact share rounded down, and the units left go one each to the largest remainders
    /// (ties to the earlier part). The parts always sum to the whole, each within one minor
    /// unit of its exact share, and a zero weight gets zero.
    pub fn allocate(self, weights: &[i64]) -> Result<Vec<Money>, MoneyError> {
        if weights.iter().any(|w| *w < 0) {
            return Err(MoneyError::InvalidWeights);
        }
        let total_weight: i128 = weights.iter().map(|w| i128::from(*w)).sum();
        if total_weight == 0 {
            return Err(MoneyError::InvalidWeights);
        }
        // Allocate the magnitude, then give the parts the whole's sign.
        let whole = i128::from(self.amount).abs();
        let sign = if self.amount < 0 { -1 } else { 1 };
        let mut parts: Vec<i128> = Vec::with_capacity(weights.len());
        let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
        for (i, weight) in weights.iter().enumerate() {
            let exact = whole * i128::from(*weight);
            parts.push(exact / total_weight);
            remainders.push((exact % total_weight, i));
        }
        let left = whole - parts.iter().sum::<i128>();
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in remainders.into_iter().take(usize::try_from(left).unwrap_or(0)) {
            parts[i] += 1;
        }
        parts.into_iter().map(|part| self.with(sign * part)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_upper_case_iso_codes_with_their_minor_units() {
        assert_eq!(Currency::parse("JPY").map(|c| c.minor_units()), Ok(0));
        assert_eq!(Currency::parse("EUR").map(|c| c.minor_units()), Ok(2));
        assert_eq!(Currency::parse("KWD").map(|c| c.minor_units()), Ok(3));
        assert_eq!(Currency::parse("eur"), Err(MoneyError::UnknownCurrency));
        assert_eq!(Currency::parse("ABC"), Err(MoneyError::UnknownCurrency));
        assert_eq!(Currency::parse("EURO"), Err(MoneyError::UnknownCurrency));
    }

    fn eur(amount: i64) -> Money {
        Money { amount, currency: Currency::EUR }
    }

    #[test]
    fn percentages_round_half_to_even() {
        // 2.5 and 3.5 minor units, then their negatives.
        assert_eq!(eur(25).percent(1_000).map(|m| m.amount()), Ok(2));
        assert_eq!(eur(35).percent(1_000).map(|m| m.amount()), Ok(4));
        assert_eq!(eur(-25).percent(1_000).map(|m| m.amount()), Ok(-2));
        assert_eq!(eur(-35).percent(1_000).map(|m| m.amount()), Ok(-4));
        assert_eq!(eur(1999).percent(2_000).map(|m| m.amount()), Ok(400), "19.99 at 20% is 3.998");
        assert_eq!(eur(MAX_SAFE_AMOUNT).percent(20_000), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn allocation_gives_the_units_left_to_the_largest_remainders() {
        let parts = |total: i64, weights: &[i64]| {
            eur(total).allocate(weights).map(|p| p.iter().map(Money::amount).collect::<Vec<_>>())
        };
        assert_eq!(parts(100, &[1, 1, 1]), Ok(vec![34, 33, 33]), "ties go to the earlier part");
        assert_eq!(parts(10, &[3, 7]), Ok(vec![3, 7]));
        assert_eq!(parts(5, &[1, 0, 1]), Ok(vec![3, 0, 2]));
        assert_eq!(parts(-100, &[1, 2]), Ok(vec![-33, -67]));
        assert_eq!(parts(1, &[]), Err(MoneyError::InvalidWeights));
        assert_eq!(parts(1, &[0, 0]), Err(MoneyError::InvalidWeights));
        assert_eq!(parts(1, &[1, -1]), Err(MoneyError::InvalidWeights));
    }

    #[test]
    fn arithmetic_is_checked_and_keeps_one_currency() {
        let yen = Money::new(5, Currency::parse("JPY").unwrap_or(Currency::EUR)).unwrap_or(eur(0));
        assert_eq!(eur(1).checked_add(yen), Err(MoneyError::CurrencyMismatch));
        assert_eq!(eur(MAX_SAFE_AMOUNT).checked_add(eur(1)), Err(MoneyError::OutOfRange));
        assert_eq!(eur(-MAX_SAFE_AMOUNT).checked_sub(eur(1)), Err(MoneyError::OutOfRange));
        assert_eq!(eur(i64::MAX / 4).checked_mul(8), Err(MoneyError::OutOfRange));
        assert_eq!(eur(1999).checked_mul(3).map(|m| m.amount()), Ok(5997));
        assert_eq!(Money::sum(Currency::EUR, [eur(1), eur(2)]).map(|m| m.amount()), Ok(3));
        assert_eq!(Money::sum(Currency::EUR, []).map(|m| m.amount()), Ok(0));
    }

    #[test]
    fn amounts_stay_within_what_javascript_reads_exactly() {
        assert!(Money::new(MAX_SAFE_AMOUNT, Currency::EUR).is_ok());
        assert_eq!(Money::new(MAX_SAFE_AMOUNT + 1, Currency::EUR), Err(MoneyError::OutOfRange));
        assert_eq!(Money::new(-MAX_SAFE_AMOUNT - 1, Currency::EUR), Err(MoneyError::OutOfRange));
    }
}

/// Properties of the arithmetic in currencies with 0, 2 and 3 decimals.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec!["JPY", "EUR", "KWD"]).prop_map(|code| Currency::parse(code).unwrap_or(Currency::EUR))
    }

    fn money() -> impl Strategy<Value = Money> {
        (currency(), -1_000_000_000_000i64..1_000_000_000_000).prop_map(|(currency, amount)| Money { amount, currency })
    }

    proptest! {
        #[test]
        fn allocated_parts_sum_to_the_whole_each_within_one_unit_of_its_share(
            whole in money(),
            weights in prop::collection::vec(0i64..1_000_000, 1..40),
        ) {
            let total_weight: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            prop_assume!(total_weight > 0);
            let parts = whole.allocate(&weights).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parts.len(), weights.len());
            let sum: i128 = parts.iter().map(|p| i128::from(p.amount())).sum();
            prop_assert_eq!(sum, i128::from(whole.amount()));
            for (part, weight) in parts.iter().zip(&weights) {
                prop_assert_eq!(part.currency(), whole.currency());
                // |part × W − whole × w| < W: within one minor unit of the exact share.
                let gap = i128::from(part.amount()) * total_weight - i128::from(whole.amount()) * i128::from(*weight);
                prop_assert!(gap.abs() < total_weight, "part {} of weight {weight}", part.amount());
                if *weight == 0 {
                    prop_assert_eq!(part.amount(), 0);
                }
            }
        }

        #[test]
        fn a_percentage_is_the_exact_share_rounded_half_to_even(amount in money(), rate in 0i64..100_000) {
            let share = amount.percent(rate).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let exact = i128::from(amount.amount()) * i128::from(rate);
            let gap = i128::from(share.amount()) * i128::from(BASIS_POINTS) - exact;
            // Never more than half a unit off; exactly half only towards the even neighbour.
            prop_assert!(2 * gap.abs() <= i128::from(BASIS_POINTS));
            if 2 * gap.abs() == i128::from(BASIS_POINTS) {
                prop_assert_eq!(share.amount() % 2, 0);
            }
        }

        #[test]
        fn lines_plus_tax_minus_a_spread_discount_add_up_in_every_currency(
            currency in currency(),
            lines in prop::collection::vec((1i64..10_000_000, 1i64..100), 1..20),
            rate in 0i64..3_000,
            discount_rate in 0i64..10_000,
        ) {
            // Per line: total, its share of the discount, tax on what is left, each rounded
            // once; the order's figures are sums of the lines', so they always add up.
            let totals: Vec<Money> = lines
                .iter()
                .map(|(unit, quantity)| Money { amount: *unit, currency }.checked_mul(*quantity))
                .collect::<Result<_, _>>()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let subtotal = Money::sum(currency, totals.iter().copied()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let discount = subtotal.percent(discount_rate).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let weights: Vec<i64> = totals.iter().map(Money::amount).collect();
            let shares = discount.allocate(&weights).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut taxes = Vec::new();
            let mut net = Vec::new();
            for (total, share) in totals.iter().zip(&shares) {
                let taxable = total.checked_sub(*share).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(taxable.amount() >= 0);
                taxes.push(taxable.percent(rate).map_err(|e| TestCaseError::fail(e.to_string()))?);
                net.push(taxable);
            }
            let tax = Money::sum(currency, taxes.iter().copied()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let grand = Money::sum(currency, net.iter().chain(&taxes).copied()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Money::sum(currency, shares.iter().copied()).ok(), Some(discount));
            prop_assert_eq!(i128::from(subtotal.amount()) - i128::from(discount.amount()) + i128::from(tax.amount()), i128::from(grand.amount()));
        }

        #[test]
        fn sums_never_panic_and_refuse_what_leaves_the_range(a in any::<i64>(), b in any::<i64>()) {
            match (Money::new(a, Currency::EUR), Money::new(b, Currency::EUR)) {
                (Ok(x), Ok(y)) => {
                    let exact = i128::from(a) + i128::from(b);
                    let fits = exact.abs() <= i128::from(MAX_SAFE_AMOUNT);
                    prop_assert_eq!(x.checked_add(y).is_ok(), fits);
                }
                _ => prop_assert!(i128::from(a).abs() > i128::from(MAX_SAFE_AMOUNT) || i128::from(b).abs() > i128::from(MAX_SAFE_AMOUNT)),
            }
        }
    }
}
