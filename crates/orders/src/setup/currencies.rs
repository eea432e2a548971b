//! Tax per currency: whether catalog prices include tax, and the settings that price a cart.

use emporium_core::Currency;
use emporium_core::db::{now, statement};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

/// Whether catalog prices in `currency` include tax (default: no).
pub async fn prices_include_tax<C: ConnectionTrait>(db: &C, currency: Currency) -> Result<bool, sea_orm::DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT prices_include_tax FROM currency_settings WHERE currency = ?",
            [currency.code().into()],
        ))
        .await?;
    row.map(|r| r.try_get::<bool>("", "prices_include_tax")).transpose().map(|v| v.unwrap_or(false))
}

/// The settings that price a cart, read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingSettings {
    /// Whether catalog prices in the cart's currency include tax.
    pub prices_include_tax: bool,
    /// The tax rate of the address (0 without one, or without a rate for it).
    pub tax_rate_bp: i64,
    /// Whether the shop ships by zones (then checkout needs a shipping method).
    pub ships_by_zones: bool,
}

/// The settings that price a cart in `currency` shipped to `address` (country, region), as
/// three SQL expressions (`prices_include_tax`, `rate_bp`, `zones`) and their bound values, for
/// a statement that reads them with the cart ([`PricingSettings::of`] reads them back).
pub fn pricing_columns(currency: Currency, address: Option<(&str, Option<&str>)>) -> (&'static str, [Value; 3]) {
    let (country, region) = match address {
        Some((country, region)) => (country, region.map(|r| r.trim().to_uppercase()).unwrap_or_default()),
        None => ("", String::new()),
    };
    (
        "(SELECT prices_include_tax FROM currency_settings WHERE currency = ?) AS prices_include_tax, \
         (SELECT rate_bp FROM tax_rates WHERE country = ? AND (region = ? OR region = '') \
          ORDER BY region DESC LIMIT 1) AS rate_bp, \
         CASE WHEN EXISTS (SELECT 1 FROM shipping_zones) THEN 1 ELSE 0 END AS zones",
        [currency.code().into(), country.into(), region.into()],
    )
}

impl PricingSettings {
    /// The settings read by [`pricing_columns`]; `address` as given there.
    pub fn of(row: &QueryResult, address: bool) -> Result<Self, DbErr> {
        Ok(Self {
            prices_include_tax: row.try_get::<Option<bool>>("", "prices_include_tax")?.unwrap_or(false),
            tax_rate_bp: if address { row.try_get::<Option<i64>>("", "rate_bp")?.unwrap_or(0) } else { 0 },
            ships_by_zones: row.try_get::<Option<i32>>("", "zones")? == Some(1),
        })
    }
}

/// Sets whether catalog prices in `currency` include tax.
pub async fn set_prices_include_tax<C: ConnectionTrait>(
    db: &C,
    currency: Currency,
    include: bool,
) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO currency_settings (currency, prices_include_tax, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (currency) DO UPDATE SET prices_include_tax = excluded.prices_include_tax, updated_at = excluded.updated_at",
        [currency.code().into(), include.into(), now().into()],
    ))
    .await?;
    Ok(())
}
