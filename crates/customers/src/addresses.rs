//! A customer's address book: at most one default shipping and one default billing address
//! (a partial unique index holds that under any race; marking another default moves the flag).

use chrono::{DateTime, Utc};
use emporium_core::db::statement;
use emporium_core::{Patch, ValidationErrors, id};
use sea_orm::{ConnectionTrait, QueryResult, Value};

use crate::{AccountError, Country};

/// Most addresses one customer may keep: a bounded book.
pub const MAX_ADDRESSES: i64 = 50;

/// A postal address, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub first_name: String,
    pub last_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: Country,
    pub phone: Option<String>,
}

/// An address as a client sends it, before checking.
#[derive(Debug, Clone, Default)]
pub struct AddressInput {
    pub first_name: String,
    pub last_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
}

/// A change to a saved address: each field left out, cleared (`Null`, optional fields only)
/// or set.
#[derive(Debug, Clone, Default)]
pub struct AddressChange {
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub line1: Patch<String>,
    pub line2: Patch<String>,
    pub city: Patch<String>,
    pub region: Patch<String>,
    pub postal_code: Patch<String>,
    pub country: Patch<String>,
    pub phone: Patch<String>,
    pub default_shipping: Option<bool>,
    pub default_billing: Option<bool>,
}

/// An address in a customer's book.
#[derive(Debug, Clone)]
pub struct SavedAddress {
    pub id: String,
    pub address: Address,
    pub default_shipping: bool,
    pub default_billing: bool,
    pub created_at: DateTime<Utc>,
}

fn text(errors: &mut ValidationErrors, prefix: &str, field: &str, value: &str, max: usize) -> String {
    let trimmed = value.trim();
    let path = format!("{prefix}{field}");
    if trimmed.is_empty() {
        errors.add(path, "required", "must not be empty");
    } else if trimmed.chars().count() > max || trimmed.chars().any(char::is_control) {
        errors.add(path, "invalid", format!("must be at most {max} characters, without control characters"));
    }
    trimmed.to_owned()
}

fn optional(
    errors: &mut ValidationErrors,
    prefix: &str,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    Some(text(errors, prefix, field, value, max))
}

impl AddressInput {
    /// Checks every field, reporting each problem under `prefix` + the field's name.
    pub fn check(&self, prefix: &str) -> Result<Address, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let country = Country::parse(&self.country);
        if country.is_none() {
            errors.add(format!("{prefix}country"), "invalid_country", "must be an ISO 3166-1 alpha-2 code such as FR");
        }
        let first_name = text(&mut errors, prefix, "first_name", &self.first_name, 100);
        let last_name = text(&mut errors, prefix, "last_name", &self.last_name, 100);
        let line1 = text(&mut errors, prefix, "line1", &self.line1, 200);
        let line2 = optional(&mut errors, prefix, "line2", self.line2.as_deref(), 200);
        let city = text(&mut errors, prefix, "city", &self.city, 100);
        let region = optional(&mut errors, prefix, "region", self.region.as_deref(), 100);
        let postal_code = text(&mut errors, prefix, "postal_code", &self.postal_code, 20);
        let phone = optional(&mut errors, prefix, "phone", self.phone.as_deref(), 40);
        errors.finish(())?;
        let Some(country) = country else {
            return Err(ValidationErrors::single(
                format!("{prefix}country"),
                "invalid_country",
                "must be an ISO 3166-1 alpha-2 code",
            ));
        };
        Ok(Address { first_name, last_name, line1, line2, city, region, postal_code, country, phone })
    }
}

impl From<&Address> for AddressInput {
    fn from(a: &Address) -> Self {
        Self {
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.as_str().to_owned(),
            phone: a.phone.clone(),
        }
    }
}

const COLUMNS: &str = "id, first_name, last_name, line1, line2, city, region, postal_code, country, phone, \
    default_shipping, default_billing, created_at";

fn saved(row: &QueryResult) -> Result<SavedAddress, AccountError> {
    let country: String = row.try_get("", "country")?;
    Ok(SavedAddress {
        id: row.try_get("", "id")?,
        address: Address {
            first_name: row.try_get("", "first_name")?,
            last_name: row.try_get("", "last_name")?,
            line1: row.try_get("", "line1")?,
            line2: row.try_get("", "line2")?,
            city: row.try_get("", "city")?,
            region: row.try_get("", "region")?,
            postal_code: row.try_get("", "postal_code")?,
            country: Country::parse(&country).ok_or(AccountError::Corrupt("country"))?,
            phone: row.try_get("", "phone")?,
        },
        default_shipping: row.try_get("", "default_shipping")?,
        default_billing: row.try_get("", "default_billing")?,
        created_at: row.try_get("", "created_at")?,
    })
}

/// A customer's addresses, oldest first.
pub async fn list_addresses<C: ConnectionTrait>(db: &C, customer_id: &str) -> Result<Vec<SavedAddress>, AccountError> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM customer_addresses WHERE customer_id = ? ORDER BY id LIMIT ?"),
            [customer_id.into(), MAX_ADDRESSES.into()],
        ))
        .await?;
    rows.iter().map(saved).collect()
}

/// One of a customer's addresses; another customer's is `None`, as if it did not exist.
pub async fn get_address<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    address_id: &str,
) -> Result<Option<SavedAddress>, AccountError> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!("SELECT {COLUMNS} FROM customer_addresses WHERE id = ? AND customer_id = ?"),
            [address_id.into(), customer_id.into()],
        ))
        .await?;
    row.as_ref().map(saved).transpose()
}

/// Orders concurrent address-book writes of one customer: every write takes this row lock
/// first, so moving a default flag never races another.
async fn lock_book<C: ConnectionTrait>(db: &C, customer_id: &str) -> Result<bool, AccountError> {
    let locked = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE customers SET updated_at = updated_at WHERE id = ? AND disabled_at IS NULL",
            [customer_id.into()],
        ))
        .await?
        .rows_affected();
    Ok(locked == 1)
}

async fn clear_defaults<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    shipping: bool,
    billing: bool,
) -> Result<(), AccountError> {
    let backend = db.get_database_backend();
    for (wanted, column) in [(shipping, "default_shipping"), (billing, "default_billing")] {
        if wanted {
            db.execute_raw(statement(
                backend,
                &format!("UPDATE customer_addresses SET {column} = ? WHERE customer_id = ? AND {column}"),
                [false.into(), customer_id.into()],
            ))
            .await?;
        }
    }
    Ok(())
}

fn values(address: &Address) -> [Value; 9] {
    [
        address.first_name.clone().into(),
        address.last_name.clone().into(),
        address.line1.clone().into(),
        address.line2.clone().into(),
        address.city.clone().into(),
        address.region.clone().into(),
        address.postal_code.clone().into(),
        address.country.as_str().to_owned().into(),
        address.phone.clone().into(),
    ]
}

/// Adds an address to a customer's book; marking it default moves the flag to it. Run it
/// in a write transaction.
pub async fn add_address<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    address: &Address,
    default_shipping: bool,
    default_billing: bool,
) -> Result<SavedAddress, AccountError> {
    let backend = db.get_database_backend();
    if !lock_book(db, customer_id).await? {
        return Err(AccountError::NotFound("customer"));
    }
    let count = db
        .query_one_raw(statement(
            backend,
            "SELECT COUNT(*) AS n FROM customer_addresses WHERE customer_id = ?",
            [customer_id.into()],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if count >= MAX_ADDRESSES {
        return Err(AccountError::AddressBookFull);
    }
    clear_defaults(db, customer_id, default_shipping, default_billing).await?;
    let now = emporium_core::db::now();
    let address_id = id::new_id("addr");
    let mut params: Vec<Value> = vec![address_id.clone().into(), customer_id.into()];
    params.extend(values(address));
    params.extend([default_shipping.into(), default_billing.into(), now.into(), now.into()]);
    db.execute_raw(statement(
        backend,
        "INSERT INTO customer_addresses (id, customer_id, first_name, last_name, line1, line2, city, region, \
         postal_code, country, phone, default_shipping, default_billing, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params,
    ))
    .await?;
    Ok(SavedAddress { id: address_id, address: address.clone(), default_shipping, default_billing, created_at: now })
}

fn apply(errors: &mut ValidationErrors, field: &str, target: &mut String, patch: Patch<String>) {
    match patch {
        Patch::Missing => {}
        Patch::Null => errors.add(field, "required", "cannot be cleared"),
        Patch::Value(value) => *target = value,
    }
}

fn apply_optional(target: &mut Option<String>, patch: Patch<String>) {
    match patch {
        Patch::Missing => {}
        Patch::Null => *target = None,
        Patch::Value(value) => *target = Some(value),
    }
}

/// Changes one of a customer's addresses; `None` if the customer has no such address. Run it
/// in a write transaction.
pub async fn change_address<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    address_id: &str,
    change: AddressChange,
) -> Result<Option<SavedAddress>, AccountError> {
    if !lock_book(db, customer_id).await? {
        return Ok(None);
    }
    let Some(current) = get_address(db, customer_id, address_id).await? else { return Ok(None) };
    let mut input = AddressInput::from(&current.address);
    let mut errors = ValidationErrors::new();
    apply(&mut errors, "first_name", &mut input.first_name, change.first_name);
    apply(&mut errors, "last_name", &mut input.last_name, change.last_name);
    apply(&mut errors, "line1", &mut input.line1, change.line1);
    apply_optional(&mut input.line2, change.line2);
    apply(&mut errors, "city", &mut input.city, change.city);
    apply_optional(&mut input.region, change.region);
    apply(&mut errors, "postal_code", &mut input.postal_code, change.postal_code);
    apply(&mut errors, "country", &mut input.country, change.country);
    apply_optional(&mut input.phone, change.phone);
    errors.finish(())?;
    let address = input.check("")?;
    let shipping = change.default_shipping.unwrap_or(current.default_shipping);
    let billing = change.default_billing.unwrap_or(current.default_billing);
    clear_defaults(db, customer_id, shipping && !current.default_shipping, billing && !current.default_billing).await?;
    let mut params: Vec<Value> = values(&address).into();
    params.extend([
        shipping.into(),
        billing.into(),
        emporium_core::db::now().into(),
        address_id.into(),
        customer_id.into(),
    ]);
    db.execute_raw(statement(
        db.get_database_backend(),
        "UPDATE customer_addresses SET first_name = ?, last_name = ?, line1 = ?, line2 = ?, city = ?, region = ?, \
         postal_code = ?, country = ?, phone = ?, default_shipping = ?, default_billing = ?, updated_at = ? \
         WHERE id = ? AND customer_id = ?",
        params,
    ))
    .await?;
    get_address(db, customer_id, address_id).await
}

/// Removes one of a customer's addresses; whether it existed.
pub async fn delete_address<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    address_id: &str,
) -> Result<bool, AccountError> {
    let deleted = db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM customer_addresses WHERE id = ? AND customer_id = ?",
            [address_id.into(), customer_id.into()],
        ))
        .await?
        .rows_affected();
    Ok(deleted == 1)
}
