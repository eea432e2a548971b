//! Customer accounts: registration, the signed-in customer's profile and password, and the
//! staff's customer search and detail.

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use emporium_core::ValidationErrors;
use emporium_customers::{self as accounts, AccountKind, CustomerChange, Email, Name, NewCustomer, Password};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Page, page_of};
use crate::dto::{AmountDto, MoneyDto};
use crate::error::ApiError;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;
use crate::usecases::products;
use crate::usecases::sessions::hashing;

/// A customer account.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = Customer)]
#[graphql(name = "Customer")]
pub struct CustomerDto {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub created_at: DateTime<Utc>,
    /// Moved by every change of the profile; REST sends it as the `ETag` of
    /// `/v1/customers/me`, GraphQL's `updateMe` takes it as `expectedVersion`.
    #[serde(skip)]
    pub version: i64,
}

impl From<accounts::Customer> for CustomerDto {
    fn from(c: accounts::Customer) -> Self {
        Self {
            id: c.id,
            email: c.email.to_string(),
            first_name: c.first_name,
            last_name: c.last_name,
            created_at: c.created_at,
            version: c.version,
        }
    }
}

/// A customer as the staff read one: with their orders' count and total spent per currency
/// (zero and empty until orders exist).
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = CustomerDetail)]
#[graphql(name = "CustomerDetail")]
pub struct CustomerDetailDto {
    #[serde(flatten)]
    pub customer: CustomerDto,
    /// Orders placed (zero until orders exist).
    pub orders_count: i64,
    /// Total spent, one amount per currency.
    #[graphql(skip, derived(name = "total_spent", into = "Vec<AmountDto>", owned, with = "AmountDto::all_of"))]
    pub total_spent: Vec<MoneyDto>,
}

/// A registration as both transports receive it.
pub struct Registration {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

impl Registration {
    fn check(self) -> Result<(NewCustomer, Password), ApiError> {
        let mut errors = ValidationErrors::new();
        let email = Email::parse(&self.email, "email").map_err(|e| errors.extend(e)).ok();
        let password = Password::new(self.password, "password").map_err(|e| errors.extend(e)).ok();
        let first_name = Name::parse(&self.first_name, "first_name").map_err(|e| errors.extend(e)).ok();
        let last_name = Name::parse(&self.last_name, "last_name").map_err(|e| errors.extend(e)).ok();
        match (email, password, first_name, last_name) {
            (Some(email), Some(password), Some(first_name), Some(last_name)) => {
                Ok((NewCustomer { email, first_name, last_name }, password))
            }
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// Registers a customer (201).
pub async fn register(
    state: &AppState,
    idempotency: &Idempotency,
    input: Registration,
) -> Result<(CustomerDto, Answer), ApiError> {
    let (new, password) = input.check()?;
    let hash = hashing(state, move || password.hash()).await??;
    let mut txn = state.writer.begin().await?;
    let customer = accounts::register_customer(&txn, &new, &hash).await?;
    txn.emit(accounts::CustomerEvent::Created {
        customer_id: customer.id.clone(),
        email: customer.email.as_str().to_owned(),
    });
    let customer = CustomerDto::from(customer);
    let answer = Answer::of(StatusCode::CREATED, &customer)?;
    idempotency.record(&txn, &answer).await?;
    txn.commit().await?;
    Ok((customer, answer))
}

/// The signed-in customer.
pub async fn me(state: &AppState, customer_id: &str) -> Result<CustomerDto, ApiError> {
    let customer = accounts::get_customer(&state.db, customer_id).await?;
    customer.map(CustomerDto::from).ok_or_else(|| ApiError::unauthorized("The account is disabled."))
}

/// Changes the signed-in customer's names, if the profile is at a version `expected` admits
/// (412).
pub async fn update_me(
    state: &AppState,
    customer_id: &str,
    first_name: Option<String>,
    last_name: Option<String>,
    expected: &emporium_core::Expected,
) -> Result<CustomerDto, ApiError> {
    let mut errors = ValidationErrors::new();
    let mut parse = |value: Option<String>, field: &str| match value.map(|v| Name::parse(&v, field)) {
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => {
            errors.extend(e);
            None
        }
        None => None,
    };
    let change =
        CustomerChange { first_name: parse(first_name, "first_name"), last_name: parse(last_name, "last_name") };
    errors.finish(())?;
    let txn = state.writer.begin().await?;
    let customer = match accounts::change_customer(&txn, customer_id, &change, expected).await {
        Err(accounts::AccountError::NotFound(_)) => return Err(ApiError::unauthorized("The account is disabled.")),
        other => other?,
    };
    txn.commit().await?;
    Ok(customer.into())
}

/// Changes the signed-in customer's password after checking the current one, and revokes
/// every refresh token of the account (204). A wrong current password counts as a failed
/// sign-in of the account.
pub async fn change_password(
    state: &AppState,
    idempotency: &Idempotency,
    customer_id: &str,
    current: String,
    new: String,
) -> Result<Answer, ApiError> {
    let new = Password::new(new, "new_password")?;
    let throttle = [format!("customer:{customer_id}")];
    if let Err(seconds) = state.limits.login_attempt(&throttle).await {
        return Err(ApiError::rate_limited(seconds, "Too many failed attempts; retry after Retry-After seconds."));
    }
    let hash = accounts::customer_password_hash(&state.db, customer_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The account is disabled."))?;
    let matches = hashing(state, move || accounts::verify_password(&current, &hash)).await?;
    if !matches {
        return Err(ApiError::validation(ValidationErrors::single(
            "current_password",
            "wrong_password",
            "is not the account's password",
        )));
    }
    state.limits.login_succeeded(&throttle, &throttle[0]).await;
    let new_hash = hashing(state, move || new.hash()).await??;
    let txn = state.writer.begin().await?;
    accounts::set_customer_password(&txn, customer_id, &new_hash).await?;
    accounts::revoke_account_sessions(&txn, AccountKind::Customer, customer_id).await?;
    let answer = Answer { content_type: None, ..Answer::json(StatusCode::NO_CONTENT, Bytes::new()) };
    idempotency.record(&txn, &answer).await?;
    txn.commit().await?;
    Ok(answer)
}

/// Customers whose email or name contains `q`, in registration order.
pub async fn search_customers(
    state: &AppState,
    q: Option<&str>,
    limit: Option<i64>,
    cursor: Option<&str>,
    fields: (&'static str, &'static str),
) -> Result<Page<CustomerDto>, ApiError> {
    let (q_field, limit_field) = fields;
    if q.is_some_and(|q| q.chars().count() > emporium_catalog::MAX_QUERY_CHARS) {
        return Err(ApiError::validation(ValidationErrors::single(
            q_field,
            "too_long",
            format!("must be at most {} characters", emporium_catalog::MAX_QUERY_CHARS),
        )));
    }
    if q.is_some_and(|q| !emporium_core::db::lookupable(q)) {
        return Err(ApiError::validation(ValidationErrors::single(
            q_field,
            "invalid",
            "must not contain control characters",
        )));
    }
    let (limit, after) = (products::page_size(limit, limit_field)?, products::cursor_id(state, "customers", cursor)?);
    let found = accounts::search_customers(&state.db, q, after.as_deref(), limit.get() + 1).await?;
    Ok(page_of(state, "customers", found, limit, |c| c.id.clone()).map(CustomerDto::from))
}

/// One customer with their order figures.
pub async fn customer_detail(state: &AppState, customer_id: &str) -> Result<CustomerDetailDto, ApiError> {
    if !emporium_core::id::is_id("cus", customer_id) {
        return Err(ApiError::not_found("customer"));
    }
    let customer =
        accounts::get_customer(&state.db, customer_id).await?.ok_or_else(|| ApiError::not_found("customer"))?;
    let (orders_count, spent) = emporium_orders::orders::customer_figures(&state.db, customer_id).await?;
    // Currencies where everything was refunded spent nothing.
    let total_spent = spent.into_iter().filter(|m| m.amount() > 0).map(MoneyDto::from).collect();
    Ok(CustomerDetailDto { customer: customer.into(), orders_count, total_spent })
}
