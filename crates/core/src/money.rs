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

    #[test]
    fn amounts_stay_within_what_javascript_reads_exactly() {
        assert!(Money::new(MAX_SAFE_AMOUNT, Currency::EUR).is_ok());
        assert_eq!(Money::new(MAX_SAFE_AMOUNT + 1, Currency::EUR), Err(MoneyError::OutOfRange));
        assert_eq!(Money::new(-MAX_SAFE_AMOUNT - 1, Currency::EUR), Err(MoneyError::OutOfRange));
    }
}
