//! The shop's selling setup, kept by staff: whether prices include tax (per currency),
//! shipping zones and their methods, tax rates by country and region, and discount codes.

use chrono::{DateTime, Utc};
use emporium_core::db::{is_unique_violation, now, statement};
use emporium_core::{Currency, Money, Patch, ValidationErrors, id};
use emporium_customers::Country;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

use crate::OrderError;

/// Most countries one zone lists, and methods it holds.
pub const MAX_ZONE_COUNTRIES: usize = 250;
pub const MAX_ZONE_METHODS: usize = 20;

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

// ---------------------------------------------------------------------------------------------
// Tax per currency

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

// ---------------------------------------------------------------------------------------------
// Shipping

/// A way to ship, priced in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingMethod {
    pub id: String,
    pub zone_id: String,
    pub name: String,
    pub price: Money,
    /// Free when the subtotal after discounts reaches this (same currency).
    pub free_over: Option<Money>,
}

/// Countries shipped to alike, with their methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingZone {
    pub id: String,
    pub name: String,
    pub countries: Vec<String>,
    pub methods: Vec<ShippingMethod>,
    pub created_at: DateTime<Utc>,
}

/// A method as a client sends it.
#[derive(Debug, Clone)]
pub struct MethodInput {
    pub name: String,
    pub price: AmountInput,
    pub free_over: Option<AmountInput>,
}

/// A zone as a client sends it.
#[derive(Debug, Clone)]
pub struct ZoneInput {
    pub name: String,
    pub countries: Vec<String>,
    pub methods: Vec<MethodInput>,
}

struct CheckedZone {
    name: String,
    countries: Vec<String>,
    methods: Vec<(String, Money, Option<Money>)>,
}

impl ZoneInput {
    fn check(&self) -> Result<CheckedZone, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = name_of(&mut errors, "name", &self.name);
        let mut countries = Vec::new();
        if self.countries.is_empty() || self.countries.len() > MAX_ZONE_COUNTRIES {
            errors.add("countries", "out_of_range", format!("must list 1 to {MAX_ZONE_COUNTRIES} countries"));
        }
        for (i, code) in self.countries.iter().enumerate() {
            match Country::parse(code) {
                Some(country) if !countries.iter().any(|c: &String| c == country.as_str()) => {
                    countries.push(country.as_str().to_owned())
                }
                Some(_) => errors.add(format!("countries[{i}]"), "duplicate", "is listed twice"),
                None => errors.add(format!("countries[{i}]"), "invalid_country", "must be an ISO 3166-1 alpha-2 code"),
            }
        }
        if self.methods.is_empty() || self.methods.len() > MAX_ZONE_METHODS {
            errors.add("methods", "out_of_range", format!("must hold 1 to {MAX_ZONE_METHODS} methods"));
        }
        let mut methods = Vec::new();
        for (i, method) in self.methods.iter().enumerate() {
            let name = name_of(&mut errors, &format!("methods[{i}].name"), &method.name);
            let price = method.price.check(&mut errors, &format!("methods[{i}].price"), 0);
            let free_over =
                method.free_over.as_ref().and_then(|f| f.check(&mut errors, &format!("methods[{i}].free_over"), 0));
            if let (Some(price), Some(free)) = (price, free_over)
                && price.currency() != free.currency()
            {
                errors.add(
                    format!("methods[{i}].free_over.currency"),
                    "currency_mismatch",
                    "must be the price's currency",
                );
            }
            if let Some(price) = price {
                methods.push((name, price, free_over));
            }
        }
        errors.finish(CheckedZone { name, countries, methods })
    }
}

async fn write_zone_parts<C: ConnectionTrait>(db: &C, zone_id: &str, zone: &CheckedZone) -> Result<(), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(backend, "DELETE FROM shipping_zone_countries WHERE zone_id = ?", [zone_id.into()]))
        .await?;
    db.execute_raw(statement(backend, "DELETE FROM shipping_methods WHERE zone_id = ?", [zone_id.into()])).await?;
    for country in &zone.countries {
        db.execute_raw(statement(
            backend,
            "INSERT INTO shipping_zone_countries (zone_id, country) VALUES (?, ?)",
            [zone_id.into(), country.clone().into()],
        ))
        .await?;
    }
    for (position, (name, price, free_over)) in zone.methods.iter().enumerate() {
        db.execute_raw(statement(
            backend,
            "INSERT INTO shipping_methods (id, zone_id, position, name, currency, price, free_over) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                id::new_id("ship").into(),
                zone_id.into(),
                (position as i32).into(),
                name.clone().into(),
                price.currency().code().into(),
                price.amount().into(),
                free_over.map(|f| f.amount()).into(),
            ],
        ))
        .await?;
    }
    Ok(())
}

/// Creates a zone with its countries and methods.
pub async fn create_zone<C: ConnectionTrait>(db: &C, input: &ZoneInput) -> Result<ShippingZone, OrderError> {
    let zone = input.check()?;
    let zone_id = id::new_id("zone");
    let at = now();
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO shipping_zones (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        [zone_id.clone().into(), zone.name.clone().into(), at.into(), at.into()],
    ))
    .await?;
    write_zone_parts(db, &zone_id, &zone).await?;
    get_zone(db, &zone_id).await?.ok_or(OrderError::NotFound("shipping zone"))
}

/// Replaces a zone's name, countries and methods (methods get new ids).
pub async fn replace_zone<C: ConnectionTrait>(
    db: &C,
    zone_id: &str,
    input: &ZoneInput,
) -> Result<ShippingZone, OrderError> {
    let zone = input.check()?;
    if !id::is_id("zone", zone_id) {
        return Err(OrderError::NotFound("shipping zone"));
    }
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE shipping_zones SET name = ?, updated_at = ? WHERE id = ?",
            [zone.name.clone().into(), now().into(), zone_id.into()],
        ))
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(OrderError::NotFound("shipping zone"));
    }
    write_zone_parts(db, zone_id, &zone).await?;
    get_zone(db, zone_id).await?.ok_or(OrderError::NotFound("shipping zone"))
}

/// Deletes a zone and its methods; false if there was none.
pub async fn delete_zone<C: ConnectionTrait>(db: &C, zone_id: &str) -> Result<bool, sea_orm::DbErr> {
    if !id::is_id("zone", zone_id) {
        return Ok(false);
    }
    let backend = db.get_database_backend();
    db.execute_raw(statement(backend, "DELETE FROM shipping_zone_countries WHERE zone_id = ?", [zone_id.into()]))
        .await?;
    db.execute_raw(statement(backend, "DELETE FROM shipping_methods WHERE zone_id = ?", [zone_id.into()])).await?;
    let deleted =
        db.execute_raw(statement(backend, "DELETE FROM shipping_zones WHERE id = ?", [zone_id.into()])).await?;
    Ok(deleted.rows_affected() == 1)
}

fn method_of(row: &QueryResult) -> Result<ShippingMethod, sea_orm::DbErr> {
    let currency: String = row.try_get("", "currency")?;
    let free_over: Option<i64> = row.try_get("", "free_over")?;
    Ok(ShippingMethod {
        id: row.try_get("", "id")?,
        zone_id: row.try_get("", "zone_id")?,
        name: row.try_get("", "name")?,
        price: money(row.try_get("", "price")?, &currency)?,
        free_over: free_over.map(|f| money(f, &currency)).transpose()?,
    })
}

const METHOD: &str = "SELECT m.id, m.zone_id, m.name, m.currency, m.price, m.free_over FROM shipping_methods m";

/// Every zone, by name.
pub async fn list_zones<C: ConnectionTrait>(db: &C) -> Result<Vec<ShippingZone>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let zones = db
        .query_all_raw(statement(backend, "SELECT id, name, created_at FROM shipping_zones ORDER BY name, id", []))
        .await?;
    let countries = db
        .query_all_raw(statement(backend, "SELECT zone_id, country FROM shipping_zone_countries ORDER BY country", []))
        .await?;
    let methods = db.query_all_raw(statement(backend, &format!("{METHOD} ORDER BY m.zone_id, m.position"), [])).await?;
    let mut out = Vec::with_capacity(zones.len());
    for zone in zones {
        let id: String = zone.try_get("", "id")?;
        let mut listed = Vec::new();
        for row in &countries {
            if row.try_get::<String>("", "zone_id")? == id {
                listed.push(row.try_get("", "country")?);
            }
        }
        let mut held = Vec::new();
        for row in &methods {
            if row.try_get::<String>("", "zone_id")? == id {
                held.push(method_of(row)?);
            }
        }
        out.push(ShippingZone {
            name: zone.try_get("", "name")?,
            created_at: zone.try_get("", "created_at")?,
            id,
            countries: listed,
            methods: held,
        });
    }
    Ok(out)
}

/// One zone.
pub async fn get_zone<C: ConnectionTrait>(db: &C, zone_id: &str) -> Result<Option<ShippingZone>, sea_orm::DbErr> {
    Ok(list_zones(db).await?.into_iter().find(|z| z.id == zone_id))
}

/// The methods that ship to `country` in `currency`, cheapest first.
pub async fn methods_for<C: ConnectionTrait>(
    db: &C,
    country: &str,
    currency: Currency,
) -> Result<Vec<ShippingMethod>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "{METHOD} JOIN shipping_zone_countries c ON c.zone_id = m.zone_id \
                 WHERE c.country = ? AND m.currency = ? ORDER BY m.price, m.name, m.id"
            ),
            [country.into(), currency.code().into()],
        ))
        .await?;
    rows.iter().map(method_of).collect()
}

// ---------------------------------------------------------------------------------------------
// Tax rates

/// A tax rate for a country, or for one region of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRate {
    pub id: String,
    pub country: String,
    pub region: Option<String>,
    pub name: String,
    pub rate_bp: i64,
    pub created_at: DateTime<Utc>,
}

fn rate_of(row: &QueryResult) -> Result<TaxRate, sea_orm::DbErr> {
    let region: String = row.try_get("", "region")?;
    Ok(TaxRate {
        id: row.try_get("", "id")?,
        country: row.try_get("", "country")?,
        region: (!region.is_empty()).then_some(region),
        name: row.try_get("", "name")?,
        rate_bp: row.try_get("", "rate_bp")?,
        created_at: row.try_get("", "created_at")?,
    })
}

const RATE: &str = "SELECT id, country, region, name, rate_bp, created_at FROM tax_rates";

fn check_rate(errors: &mut ValidationErrors, rate_bp: i64) {
    if !(0..=10_000).contains(&rate_bp) {
        errors.add("rate_bp", "out_of_range", "must be from 0 to 10000 basis points");
    }
}

/// Creates a rate (409 `tax_rate_exists` for a country and region that have one).
pub async fn create_rate<C: ConnectionTrait>(
    db: &C,
    country: &str,
    region: Option<&str>,
    name: &str,
    rate_bp: i64,
) -> Result<TaxRate, OrderError> {
    let mut errors = ValidationErrors::new();
    let parsed = Country::parse(country);
    if parsed.is_none() {
        errors.add("country", "invalid_country", "must be an ISO 3166-1 alpha-2 code");
    }
    let region = region.map(str::trim).filter(|r| !r.is_empty()).unwrap_or("");
    if region.chars().count() > 100 || region.chars().any(char::is_control) {
        errors.add("region", "invalid", "must be at most 100 characters");
    }
    let name = name_of(&mut errors, "name", name);
    check_rate(&mut errors, rate_bp);
    errors.finish(())?;
    let country = parsed.map(|c| c.as_str().to_owned()).unwrap_or_default();
    let rate_id = id::new_id("tax");
    let at = now();
    let inserted = db
        .execute_raw(statement(
            db.get_database_backend(),
            "INSERT INTO tax_rates (id, country, region, name, rate_bp, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                rate_id.clone().into(),
                country.into(),
                region.to_uppercase().into(),
                name.into(),
                rate_bp.into(),
                at.into(),
                at.into(),
            ],
        ))
        .await;
    match inserted {
        Err(e)
            if is_unique_violation(&e, "tax_rates", "country_region")
                || is_unique_violation(&e, "tax_rates", "country") =>
        {
            return Err(OrderError::Conflict("tax_rate_exists", "A rate for this country and region exists."));
        }
        other => other?,
    };
    get_rate(db, &rate_id).await?.ok_or(OrderError::NotFound("tax rate"))
}

/// Changes a rate's name or basis points.
pub async fn change_rate<C: ConnectionTrait>(
    db: &C,
    rate_id: &str,
    name: Option<&str>,
    rate_bp: Option<i64>,
) -> Result<TaxRate, OrderError> {
    let mut errors = ValidationErrors::new();
    let name = name.map(|n| name_of(&mut errors, "name", n));
    if let Some(rate) = rate_bp {
        check_rate(&mut errors, rate);
    }
    errors.finish(())?;
    if !id::is_id("tax", rate_id) {
        return Err(OrderError::NotFound("tax rate"));
    }
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE tax_rates SET name = COALESCE(?, name), rate_bp = COALESCE(?, rate_bp), updated_at = ? WHERE id = ?",
            [name.into(), rate_bp.into(), now().into(), rate_id.into()],
        ))
        .await?;
    if changed.rows_affected() == 0 {
        return Err(OrderError::NotFound("tax rate"));
    }
    get_rate(db, rate_id).await?.ok_or(OrderError::NotFound("tax rate"))
}

/// Deletes a rate; false if there was none.
pub async fn delete_rate<C: ConnectionTrait>(db: &C, rate_id: &str) -> Result<bool, sea_orm::DbErr> {
    if !id::is_id("tax", rate_id) {
        return Ok(false);
    }
    let deleted = db
        .execute_raw(statement(db.get_database_backend(), "DELETE FROM tax_rates WHERE id = ?", [rate_id.into()]))
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// One rate.
pub async fn get_rate<C: ConnectionTrait>(db: &C, rate_id: &str) -> Result<Option<TaxRate>, sea_orm::DbErr> {
    if !id::is_id("tax", rate_id) {
        return Ok(None);
    }
    let row = db
        .query_one_raw(statement(db.get_database_backend(), &format!("{RATE} WHERE id = ?"), [rate_id.into()]))
        .await?;
    row.as_ref().map(rate_of).transpose()
}

/// Every rate, by country and region.
pub async fn list_rates<C: ConnectionTrait>(db: &C) -> Result<Vec<TaxRate>, sea_orm::DbErr> {
    let rows =
        db.query_all_raw(statement(db.get_database_backend(), &format!("{RATE} ORDER BY country, region"), [])).await?;
    rows.iter().map(rate_of).collect()
}

// ---------------------------------------------------------------------------------------------
// Discounts

/// What a discount takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountValue {
    /// Basis points of the subtotal.
    Percentage(i64),
    /// An amount off, in one currency.
    Fixed(Money),
    /// Free shipping.
    FreeShipping,
}

impl DiscountValue {
    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Percentage(_) => "percentage",
            Self::Fixed(_) => "fixed",
            Self::FreeShipping => "free_shipping",
        }
    }
}

/// A discount code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    pub id: String,
    pub code: String,
    pub value: DiscountValue,
    pub minimum_subtotal: Option<Money>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
    pub times_used: i64,
    pub created_at: DateTime<Utc>,
}

/// The value a client sends: a number of basis points or an amount.
#[derive(Debug, Clone)]
pub enum ValueInput {
    BasisPoints(i64),
    Amount(AmountInput),
}

/// A discount as a client sends it.
#[derive(Debug, Clone)]
pub struct DiscountInput {
    pub code: String,
    pub kind: String,
    pub value: Option<ValueInput>,
    pub minimum_subtotal: Option<AmountInput>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
}

/// A change to a discount: every field but the code and kind.
#[derive(Debug, Clone, Default)]
pub struct DiscountChange {
    pub value: Option<ValueInput>,
    pub minimum_subtotal: Patch<AmountInput>,
    pub starts_at: Patch<DateTime<Utc>>,
    pub ends_at: Patch<DateTime<Utc>>,
    pub usage_limit: Patch<i64>,
    pub usage_limit_per_customer: Patch<i64>,
}

/// A code's lookup key: codes match whatever their case.
pub fn code_key(code: &str) -> String {
    code.trim().to_uppercase()
}

fn check_value(errors: &mut ValidationErrors, kind: &str, value: Option<&ValueInput>) -> Option<DiscountValue> {
    match (kind, value) {
        ("percentage", Some(ValueInput::BasisPoints(bp))) if (1..=10_000).contains(bp) => {
            Some(DiscountValue::Percentage(*bp))
        }
        ("percentage", _) => {
            errors.add("value", "out_of_range", "a percentage is 1 to 10000 basis points");
            None
        }
        ("fixed", Some(ValueInput::Amount(amount))) => amount.check(errors, "value", 1).map(DiscountValue::Fixed),
        ("fixed", _) => {
            errors.add("value", "required", "a fixed discount is an amount: {\"amount\", \"currency\"}");
            None
        }
        ("free_shipping", None) => Some(DiscountValue::FreeShipping),
        ("free_shipping", Some(_)) => {
            errors.add("value", "not_allowed", "free shipping takes no value");
            None
        }
        _ => {
            errors.add("kind", "invalid_value", "must be percentage, fixed or free_shipping");
            None
        }
    }
}

struct Rules {
    minimum: Option<Money>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    usage_limit: Option<i64>,
    per_customer: Option<i64>,
}

fn check_rules(errors: &mut ValidationErrors, minimum: Option<&AmountInput>, rules: Rules) -> Rules {
    let minimum = minimum.and_then(|m| m.check(errors, "minimum_subtotal", 1)).or(rules.minimum);
    if let (Some(start), Some(end)) = (rules.starts_at, rules.ends_at)
        && end <= start
    {
        errors.add("ends_at", "before_start", "must be after starts_at");
    }
    for (field, limit) in [("usage_limit", rules.usage_limit), ("usage_limit_per_customer", rules.per_customer)] {
        if limit.is_some_and(|l| !(1..=1_000_000_000).contains(&l)) {
            errors.add(field, "out_of_range", "must be from 1 to 1000000000");
        }
    }
    Rules { minimum, ..rules }
}

/// Creates a discount (409 `discount_code_taken` when the code exists, in any case).
pub async fn create_discount<C: ConnectionTrait>(db: &C, input: &DiscountInput) -> Result<Discount, OrderError> {
    let mut errors = ValidationErrors::new();
    let code = input.code.trim();
    if code.is_empty() || code.len() > 50 || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        errors.add("code", "invalid", "must be 1 to 50 letters, digits, '-' or '_'");
    }
    let value = check_value(&mut errors, &input.kind, input.value.as_ref());
    let rules = check_rules(
        &mut errors,
        input.minimum_subtotal.as_ref(),
        Rules {
            minimum: None,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            usage_limit: input.usage_limit,
            per_customer: input.usage_limit_per_customer,
        },
    );
    errors.finish(())?;
    let Some(value) = value else { return Err(OrderError::NotFound("discount")) };
    let discount_id = id::new_id("disc");
    let at = now();
    let inserted = db
        .execute_raw(statement(
            db.get_database_backend(),
            "INSERT INTO discounts (id, code, code_key, kind, value_bp, value_amount, value_currency, minimum_amount, \
             minimum_currency, starts_at, ends_at, usage_limit, usage_limit_per_customer, times_used, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            discount_values(discount_id.clone(), code, &value, &rules, at),
        ))
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e, "discounts", "code_key") => {
            return Err(OrderError::Conflict("discount_code_taken", "A discount already has this code."));
        }
        other => other?,
    };
    get_discount(db, &discount_id).await?.ok_or(OrderError::NotFound("discount"))
}

fn discount_values(id: String, code: &str, value: &DiscountValue, rules: &Rules, at: DateTime<Utc>) -> Vec<Value> {
    let (bp, amount, currency) = match value {
        DiscountValue::Percentage(bp) => (Some(*bp), None, None),
        DiscountValue::Fixed(m) => (None, Some(m.amount()), Some(m.currency().code().to_owned())),
        DiscountValue::FreeShipping => (None, None, None),
    };
    vec![
        id.into(),
        code.into(),
        code_key(code).into(),
        value.kind().into(),
        bp.into(),
        amount.into(),
        currency.into(),
        rules.minimum.map(|m| m.amount()).into(),
        rules.minimum.map(|m| m.currency().code().to_owned()).into(),
        rules.starts_at.into(),
        rules.ends_at.into(),
        rules.usage_limit.into(),
        rules.per_customer.into(),
        at.into(),
        at.into(),
    ]
}

fn patched<T: Clone>(patch: &Patch<T>, current: Option<T>) -> Option<T> {
    match patch {
        Patch::Missing => current,
        Patch::Null => None,
        Patch::Value(v) => Some(v.clone()),
    }
}

/// Changes a discount. A usage limit below the uses so far is refused.
pub async fn change_discount<C: ConnectionTrait>(
    db: &C,
    discount_id: &str,
    change: &DiscountChange,
) -> Result<Discount, OrderError> {
    let current = get_discount(db, discount_id).await?.ok_or(OrderError::NotFound("discount"))?;
    let mut errors = ValidationErrors::new();
    let value = match &change.value {
        Some(v) => check_value(&mut errors, current.value.kind(), Some(v)),
        None => Some(current.value),
    };
    let minimum_input = match &change.minimum_subtotal {
        Patch::Value(m) => Some(m),
        _ => None,
    };
    let rules = check_rules(
        &mut errors,
        minimum_input,
        Rules {
            minimum: if matches!(change.minimum_subtotal, Patch::Missing) { current.minimum_subtotal } else { None },
            starts_at: patched(&change.starts_at, current.starts_at),
            ends_at: patched(&change.ends_at, current.ends_at),
            usage_limit: patched(&change.usage_limit, current.usage_limit),
            per_customer: patched(&change.usage_limit_per_customer, current.usage_limit_per_customer),
        },
    );
    errors.finish(())?;
    let Some(value) = value else { return Err(OrderError::NotFound("discount")) };
    let mut values = discount_values(discount_id.to_owned(), &current.code, &value, &rules, now());
    // id, code, code_key, kind are not changed; the rest is, where the limit still holds.
    let id = values.remove(0);
    values.drain(0..3);
    values.pop();
    values.push(id);
    values.push(rules.usage_limit.into());
    values.push(rules.usage_limit.into());
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE discounts SET value_bp = ?, value_amount = ?, value_currency = ?, minimum_amount = ?, minimum_currency = ?, \
             starts_at = ?, ends_at = ?, usage_limit = ?, usage_limit_per_customer = ?, updated_at = ? \
             WHERE id = ? AND (CAST(? AS BIGINT) IS NULL OR times_used <= ?)",
            values,
        ))
        .await?;
    if changed.rows_affected() == 0 {
        return Err(
            ValidationErrors::single("usage_limit", "below_uses", "is below the times the code was used").into()
        );
    }
    get_discount(db, discount_id).await?.ok_or(OrderError::NotFound("discount"))
}

/// Deletes a discount; carts holding it lose it. False if there was none.
pub async fn delete_discount<C: ConnectionTrait>(db: &C, discount_id: &str) -> Result<bool, sea_orm::DbErr> {
    if !id::is_id("disc", discount_id) {
        return Ok(false);
    }
    let backend = db.get_database_backend();
    db.execute_raw(statement(backend, "DELETE FROM cart_discounts WHERE discount_id = ?", [discount_id.into()]))
        .await?;
    db.execute_raw(statement(backend, "DELETE FROM discount_uses WHERE discount_id = ?", [discount_id.into()])).await?;
    let deleted =
        db.execute_raw(statement(backend, "DELETE FROM discounts WHERE id = ?", [discount_id.into()])).await?;
    Ok(deleted.rows_affected() == 1)
}

const DISCOUNT: &str = "SELECT id, code, kind, value_bp, value_amount, value_currency, minimum_amount, minimum_currency, \
                        starts_at, ends_at, usage_limit, usage_limit_per_customer, times_used, created_at FROM discounts";

fn discount_of(row: &QueryResult) -> Result<Discount, sea_orm::DbErr> {
    let kind: String = row.try_get("", "kind")?;
    let value = match kind.as_str() {
        "percentage" => DiscountValue::Percentage(row.try_get("", "value_bp")?),
        "fixed" => {
            let currency: String = row.try_get("", "value_currency")?;
            DiscountValue::Fixed(money(row.try_get("", "value_amount")?, &currency)?)
        }
        _ => DiscountValue::FreeShipping,
    };
    let minimum: Option<i64> = row.try_get("", "minimum_amount")?;
    let minimum_currency: Option<String> = row.try_get("", "minimum_currency")?;
    let minimum_subtotal = match (minimum, minimum_currency) {
        (Some(amount), Some(currency)) => Some(money(amount, &currency)?),
        _ => None,
    };
    Ok(Discount {
        id: row.try_get("", "id")?,
        code: row.try_get("", "code")?,
        value,
        minimum_subtotal,
        starts_at: row.try_get("", "starts_at")?,
        ends_at: row.try_get("", "ends_at")?,
        usage_limit: row.try_get("", "usage_limit")?,
        usage_limit_per_customer: row.try_get("", "usage_limit_per_customer")?,
        times_used: row.try_get("", "times_used")?,
        created_at: row.try_get("", "created_at")?,
    })
}

/// One discount.
pub async fn get_discount<C: ConnectionTrait>(db: &C, discount_id: &str) -> Result<Option<Discount>, sea_orm::DbErr> {
    if !id::is_id("disc", discount_id) {
        return Ok(None);
    }
    let row = db
        .query_one_raw(statement(db.get_database_backend(), &format!("{DISCOUNT} WHERE id = ?"), [discount_id.into()]))
        .await?;
    row.as_ref().map(discount_of).transpose()
}

/// The discount with this code, whatever its case.
pub async fn discount_by_code<C: ConnectionTrait>(db: &C, code: &str) -> Result<Option<Discount>, sea_orm::DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("{DISCOUNT} WHERE code_key = ?"),
            [code_key(code).into()],
        ))
        .await?;
    row.as_ref().map(discount_of).transpose()
}

/// Every discount, newest first.
pub async fn list_discounts<C: ConnectionTrait>(db: &C) -> Result<Vec<Discount>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!("{DISCOUNT} ORDER BY created_at DESC, id DESC"),
            [],
        ))
        .await?;
    rows.iter().map(discount_of).collect()
}

/// Counts one use of a discount by `customer_key` (a customer id, or a guest's email), in one
/// conditional statement each for the total and the per-customer limit: under any race the
/// limits hold. False when a limit is reached; the caller then rolls back.
pub async fn count_use<C: ConnectionTrait>(
    db: &C,
    discount: &Discount,
    customer_key: &str,
) -> Result<bool, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let counted = db
        .execute_raw(statement(
            backend,
            "UPDATE discounts SET times_used = times_used + 1 WHERE id = ? AND (usage_limit IS NULL OR times_used < usage_limit)",
            [discount.id.clone().into()],
        ))
        .await?;
    if counted.rows_affected() == 0 {
        return Ok(false);
    }
    let limit = discount.usage_limit_per_customer.unwrap_or(i64::MAX);
    let counted = db
        .execute_raw(statement(
            backend,
            "INSERT INTO discount_uses (discount_id, customer_key, uses) VALUES (?, ?, 1) \
             ON CONFLICT (discount_id, customer_key) DO UPDATE SET uses = discount_uses.uses + 1 \
             WHERE discount_uses.uses < ?",
            [discount.id.clone().into(), customer_key.into(), limit.into()],
        ))
        .await?;
    Ok(counted.rows_affected() == 1)
}

/// Times `customer_key` used a discount.
pub async fn uses_by<C: ConnectionTrait>(db: &C, discount_id: &str, customer_key: &str) -> Result<i64, sea_orm::DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT uses FROM discount_uses WHERE discount_id = ? AND customer_key = ?",
            [discount_id.into(), customer_key.into()],
        ))
        .await?;
    row.map(|r| r.try_get::<i64>("", "uses")).transpose().map(Option::unwrap_or_default)
}

/// Whether `discount` applies now to a subtotal (usage counted separately at checkout).
pub fn refusal(discount: &Discount, subtotal: Money, at: DateTime<Utc>) -> Option<crate::DiscountRefusal> {
    use crate::DiscountRefusal as R;
    if discount.starts_at.is_some_and(|s| at < s) {
        return Some(R::NotStarted);
    }
    if discount.ends_at.is_some_and(|e| at >= e) {
        return Some(R::Expired);
    }
    if let DiscountValue::Fixed(amount) = discount.value
        && amount.currency() != subtotal.currency()
    {
        return Some(R::Unknown);
    }
    if let Some(minimum) = discount.minimum_subtotal
        && (minimum.currency() != subtotal.currency() || subtotal.amount() < minimum.amount())
    {
        return Some(R::MinimumNotMet);
    }
    if discount.usage_limit.is_some_and(|l| discount.times_used >= l) {
        return Some(R::UsageLimitReached);
    }
    None
}
