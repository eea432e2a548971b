//! Tax rates by country and region.

use chrono::{DateTime, Utc};
use emporium_core::db::{is_unique_violation, now, statement};
use emporium_core::{Expected, ValidationErrors, id};
use emporium_customers::Country;
use sea_orm::{ConnectionTrait, QueryResult};

use super::name_of;
use crate::OrderError;

/// A tax rate for a country, or for one region of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRate {
    pub id: String,
    pub country: String,
    pub region: Option<String>,
    pub name: String,
    pub rate_bp: i64,
    pub created_at: DateTime<Utc>,
    /// Moves with every change (`If-Match`, `expectedVersion`).
    pub version: i64,
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
        version: row.try_get("", "version")?,
    })
}

const RATE: &str = "SELECT id, country, region, name, rate_bp, created_at, version FROM tax_rates";

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

/// Why a conditional change of a rate changed nothing: it is gone (404) or at another
/// version (412).
async fn missed<C: ConnectionTrait>(db: &C, rate_id: &str) -> Result<OrderError, OrderError> {
    Ok(match get_rate(db, rate_id).await? {
        Some(_) => OrderError::Stale("tax rate"),
        None => OrderError::NotFound("tax rate"),
    })
}

/// Changes a rate's name or basis points, if it is at a version `expected` admits.
pub async fn change_rate<C: ConnectionTrait>(
    db: &C,
    rate_id: &str,
    name: Option<&str>,
    rate_bp: Option<i64>,
    expected: &Expected,
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
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> = vec![name.into(), rate_bp.into(), now().into(), rate_id.into()];
    values.extend(versions);
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE tax_rates SET name = COALESCE(?, name), rate_bp = COALESCE(?, rate_bp), updated_at = ?, \
                 version = version + 1 WHERE id = ?{condition}"
            ),
            values,
        ))
        .await?;
    if changed.rows_affected() == 0 {
        return Err(missed(db, rate_id).await?);
    }
    get_rate(db, rate_id).await?.ok_or(OrderError::NotFound("tax rate"))
}

/// Deletes a rate, if it is at a version `expected` admits (404 when there is none).
pub async fn delete_rate<C: ConnectionTrait>(db: &C, rate_id: &str, expected: &Expected) -> Result<(), OrderError> {
    if !id::is_id("tax", rate_id) {
        return Err(OrderError::NotFound("tax rate"));
    }
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> = vec![rate_id.into()];
    values.extend(versions);
    let deleted = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!("DELETE FROM tax_rates WHERE id = ?{condition}"),
            values,
        ))
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(missed(db, rate_id).await?);
    }
    Ok(())
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
