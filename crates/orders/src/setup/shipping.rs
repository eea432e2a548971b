//! Shipping zones and their methods.

use chrono::{DateTime, Utc};
use emporium_core::db::{now, statement};
use emporium_core::{Currency, Expected, Money, ValidationErrors, id};
use emporium_customers::Country;
use sea_orm::{ConnectionTrait, QueryResult};

use super::{AmountInput, money, name_of};
use crate::OrderError;

/// Most countries one zone lists, and methods it holds.
pub const MAX_ZONE_COUNTRIES: usize = 250;
pub const MAX_ZONE_METHODS: usize = 20;

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
    /// Moved by every change: what `If-Match` compares.
    pub version: i64,
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

/// Why a conditional change of a zone changed nothing: it is gone (404) or at another
/// version (412).
async fn missed<C: ConnectionTrait>(db: &C, zone_id: &str) -> Result<OrderError, OrderError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT id FROM shipping_zones WHERE id = ?",
            [zone_id.into()],
        ))
        .await?;
    Ok(if row.is_some() { OrderError::Stale("shipping zone") } else { OrderError::NotFound("shipping zone") })
}

/// Replaces a zone's name, countries and methods (methods get new ids), if it is at a version
/// `expected` admits.
pub async fn replace_zone<C: ConnectionTrait>(
    db: &C,
    zone_id: &str,
    input: &ZoneInput,
    expected: &Expected,
) -> Result<ShippingZone, OrderError> {
    let zone = input.check()?;
    if !id::is_id("zone", zone_id) {
        return Err(OrderError::NotFound("shipping zone"));
    }
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> = vec![zone.name.clone().into(), now().into(), zone_id.into()];
    values.extend(versions);
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE shipping_zones SET name = ?, updated_at = ?, version = version + 1 WHERE id = ?{condition}"
            ),
            values,
        ))
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(missed(db, zone_id).await?);
    }
    write_zone_parts(db, zone_id, &zone).await?;
    get_zone(db, zone_id).await?.ok_or(OrderError::NotFound("shipping zone"))
}

/// Deletes a zone and its methods, if it is at a version `expected` admits.
pub async fn delete_zone<C: ConnectionTrait>(db: &C, zone_id: &str, expected: &Expected) -> Result<(), OrderError> {
    if !id::is_id("zone", zone_id) {
        return Err(OrderError::NotFound("shipping zone"));
    }
    let backend = db.get_database_backend();
    // The zone's row is taken (and its version checked) before its parts go.
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> = vec![zone_id.into()];
    values.extend(versions);
    let held = db
        .execute_raw(statement(
            backend,
            &format!("UPDATE shipping_zones SET version = version + 1 WHERE id = ?{condition}"),
            values,
        ))
        .await?
        .rows_affected();
    if held == 0 {
        return Err(missed(db, zone_id).await?);
    }
    db.execute_raw(statement(backend, "DELETE FROM shipping_zone_countries WHERE zone_id = ?", [zone_id.into()]))
        .await?;
    db.execute_raw(statement(backend, "DELETE FROM shipping_methods WHERE zone_id = ?", [zone_id.into()])).await?;
    db.execute_raw(statement(backend, "DELETE FROM shipping_zones WHERE id = ?", [zone_id.into()])).await?;
    Ok(())
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
        .query_all_raw(statement(
            backend,
            "SELECT id, name, created_at, version FROM shipping_zones ORDER BY name, id",
            [],
        ))
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
            version: zone.try_get("", "version")?,
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
