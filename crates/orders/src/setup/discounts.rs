//! Discount codes: their rules, their uses, and whether one applies.

use chrono::{DateTime, Utc};
use emporium_core::db::{is_unique_violation, now, statement};
use emporium_core::{Expected, Money, Patch, ValidationErrors, id};
use sea_orm::{ConnectionTrait, QueryResult, Value};

use super::{AmountInput, money};
use crate::OrderError;

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
    /// Moved by every change (not by a redemption): what `If-Match` compares.
    pub version: i64,
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

/// Changes a discount, if it is at a version `expected` admits. A usage limit below the uses
/// so far is refused. The row is taken first, so the change merges into the discount as it is
/// (a concurrent change waits, or is waited for) and its version is checked before anything.
pub async fn change_discount<C: ConnectionTrait>(
    db: &C,
    discount_id: &str,
    change: &DiscountChange,
    expected: &Expected,
) -> Result<Discount, OrderError> {
    if !id::is_id("disc", discount_id) {
        return Err(OrderError::NotFound("discount"));
    }
    let taken = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE discounts SET version = version WHERE id = ?",
            [discount_id.into()],
        ))
        .await?
        .rows_affected();
    if taken == 0 {
        return Err(OrderError::NotFound("discount"));
    }
    let current = get_discount(db, discount_id).await?.ok_or(OrderError::NotFound("discount"))?;
    if !expected.admits(current.version) {
        return Err(OrderError::Stale("discount"));
    }
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
            "UPDATE discounts SET value_bp = ?, value_amount = ?, value_currency = ?, minimum_amount = ?, \
             minimum_currency = ?, starts_at = ?, ends_at = ?, usage_limit = ?, usage_limit_per_customer = ?, \
             updated_at = ?, version = version + 1 \
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

/// Deletes a discount, if it is at a version `expected` admits; carts holding it lose it.
pub async fn delete_discount<C: ConnectionTrait>(
    db: &C,
    discount_id: &str,
    expected: &Expected,
) -> Result<(), OrderError> {
    if !id::is_id("disc", discount_id) {
        return Err(OrderError::NotFound("discount"));
    }
    let backend = db.get_database_backend();
    // The row first: it is then held, so what refers to it goes with it or not at all.
    let (condition, versions) = expected.condition("version");
    let mut values: Vec<sea_orm::Value> = vec![discount_id.into()];
    values.extend(versions);
    let deleted = db
        .execute_raw(statement(backend, &format!("DELETE FROM discounts WHERE id = ?{condition}"), values))
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(match get_discount(db, discount_id).await? {
            Some(_) => OrderError::Stale("discount"),
            None => OrderError::NotFound("discount"),
        });
    }
    db.execute_raw(statement(backend, "DELETE FROM cart_discounts WHERE discount_id = ?", [discount_id.into()]))
        .await?;
    db.execute_raw(statement(backend, "DELETE FROM discount_uses WHERE discount_id = ?", [discount_id.into()])).await?;
    Ok(())
}

const DISCOUNT: &str = "SELECT id, code, kind, value_bp, value_amount, value_currency, minimum_amount, minimum_currency, \
                        starts_at, ends_at, usage_limit, usage_limit_per_customer, times_used, created_at, version FROM discounts";

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
        version: row.try_get("", "version")?,
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
