//! Account use cases shared by REST and GraphQL: customer registration, profile, password
//! and address book; the staff's customer search; staff accounts; API keys. Each takes typed
//! input, checks nothing about the transport, and answers with the types both transports
//! serialize.

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use emporium_core::{Limit, ValidationErrors};
use emporium_customers::{
    self as accounts, AccountKind, AddressChange, AddressInput, CustomerChange, Email, Name, NewApiKey, NewCustomer,
    Password, Role, StaffChange,
};
use serde::Serialize;
use utoipa::ToSchema;

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
}

impl From<accounts::Customer> for CustomerDto {
    fn from(c: accounts::Customer) -> Self {
        Self {
            id: c.id,
            email: c.email.to_string(),
            first_name: c.first_name,
            last_name: c.last_name,
            created_at: c.created_at,
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

/// A saved address.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = SavedAddress)]
#[graphql(name = "SavedAddress")]
pub struct AddressDto {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "FR")]
    pub country: String,
    pub phone: Option<String>,
    pub default_shipping: bool,
    pub default_billing: bool,
}

impl From<accounts::SavedAddress> for AddressDto {
    fn from(s: accounts::SavedAddress) -> Self {
        let a = s.address;
        Self {
            id: s.id,
            first_name: a.first_name,
            last_name: a.last_name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country.as_str().to_owned(),
            phone: a.phone,
            default_shipping: s.default_shipping,
            default_billing: s.default_billing,
        }
    }
}

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
#[graphql(name = "StaffRole")]
pub enum RoleDto {
    Admin,
    Catalog,
    Fulfillment,
    Support,
    Marketing,
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::Admin => Role::Admin,
            RoleDto::Catalog => Role::Catalog,
            RoleDto::Fulfillment => Role::Fulfillment,
            RoleDto::Support => Role::Support,
            RoleDto::Marketing => Role::Marketing,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => RoleDto::Admin,
            Role::Catalog => RoleDto::Catalog,
            Role::Fulfillment => RoleDto::Fulfillment,
            Role::Support => RoleDto::Support,
            Role::Marketing => RoleDto::Marketing,
        }
    }
}

/// A staff account.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = StaffMember)]
#[graphql(name = "StaffMember")]
pub struct StaffDto {
    pub id: String,
    pub email: String,
    pub role: RoleDto,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<accounts::StaffMember> for StaffDto {
    fn from(s: accounts::StaffMember) -> Self {
        Self {
            id: s.id,
            email: s.email.to_string(),
            role: s.role.into(),
            disabled: s.disabled,
            created_at: s.created_at,
        }
    }
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = ApiKey)]
#[graphql(name = "ApiKey")]
pub struct ApiKeyDto {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    #[schema(example = "emp_Xk3v9QaB")]
    pub prefix: String,
    #[schema(example = json!(["catalog:read"]))]
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Updated within a minute of use, not on every request.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<accounts::ApiKey> for ApiKeyDto {
    fn from(k: accounts::ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.names().into_iter().map(str::to_owned).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A key just created, with its secret: shown this once. A retry with the same
/// `Idempotency-Key` answers the key with `key` null: the secret is never stored. `Debug`
/// leaves the secret out.
#[derive(Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[schema(as = CreatedApiKey)]
#[graphql(name = "CreatedApiKey")]
pub struct CreatedApiKeyDto {
    #[serde(flatten)]
    #[graphql(flatten)]
    pub api_key: ApiKeyDto,
    /// The secret to send as `X-Api-Key`.
    #[schema(example = "emp_Xk3v9QaB...")]
    pub key: Option<String>,
}

impl std::fmt::Debug for CreatedApiKeyDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKeyDto").field("api_key", &self.api_key).finish_non_exhaustive()
    }
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
    let txn = state.writer.begin().await?;
    let customer = CustomerDto::from(accounts::register_customer(&txn, &new, &hash).await?);
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

/// Changes the signed-in customer's names.
pub async fn update_me(
    state: &AppState,
    customer_id: &str,
    first_name: Option<String>,
    last_name: Option<String>,
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
    let customer = accounts::change_customer(&txn, customer_id, &change).await?;
    txn.commit().await?;
    customer.map(CustomerDto::from).ok_or_else(|| ApiError::unauthorized("The account is disabled."))
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

/// The signed-in customer's addresses.
pub async fn addresses(state: &AppState, customer_id: &str) -> Result<Vec<AddressDto>, ApiError> {
    Ok(accounts::list_addresses(&state.db, customer_id).await?.into_iter().map(AddressDto::from).collect())
}

/// Adds an address (201).
pub async fn add_address(
    state: &AppState,
    idempotency: &Idempotency,
    customer_id: &str,
    input: AddressInput,
    default_shipping: bool,
    default_billing: bool,
) -> Result<(AddressDto, Answer), ApiError> {
    let address = input.check("")?;
    let txn = state.writer.begin().await?;
    let saved =
        AddressDto::from(accounts::add_address(&txn, customer_id, &address, default_shipping, default_billing).await?);
    let answer = Answer::of(StatusCode::CREATED, &saved)?;
    idempotency.record(&txn, &answer).await?;
    txn.commit().await?;
    Ok((saved, answer))
}

/// Changes one of the customer's addresses; another customer's is 404.
pub async fn update_address(
    state: &AppState,
    customer_id: &str,
    address_id: &str,
    change: AddressChange,
) -> Result<AddressDto, ApiError> {
    if !emporium_core::id::is_id("addr", address_id) {
        return Err(ApiError::not_found("address"));
    }
    let txn = state.writer.begin().await?;
    let saved = accounts::change_address(&txn, customer_id, address_id, change).await?;
    txn.commit().await?;
    saved.map(AddressDto::from).ok_or_else(|| ApiError::not_found("address"))
}

/// Removes one of the customer's addresses; another customer's is 404.
pub async fn delete_address(state: &AppState, customer_id: &str, address_id: &str) -> Result<(), ApiError> {
    if !emporium_core::id::is_id("addr", address_id) {
        return Err(ApiError::not_found("address"));
    }
    let txn = state.writer.begin().await?;
    let deleted = accounts::delete_address(&txn, customer_id, address_id).await?;
    txn.commit().await?;
    if deleted { Ok(()) } else { Err(ApiError::not_found("address")) }
}

/// A page of items, each with the cursor that continues after it, and the next page's cursor.
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursors: Vec<String>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), cursors: self.cursors, next_cursor: self.next_cursor }
    }
}

fn page_of<T, F: Fn(&T) -> String>(state: &AppState, kind: &str, mut items: Vec<T>, limit: Limit, id: F) -> Page<T> {
    let more = items.len() as u64 > limit.get();
    items.truncate(limit.get() as usize);
    let cursors: Vec<String> = items.iter().map(|item| state.cursors.encode(&(kind, id(item)))).collect();
    let next_cursor = if more { cursors.last().cloned() } else { None };
    Page { items, cursors, next_cursor }
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

/// Creates a staff account (201).
pub async fn create_staff(
    state: &AppState,
    idempotency: &Idempotency,
    email: &str,
    password: String,
    role: Role,
) -> Result<(StaffDto, Answer), ApiError> {
    let mut errors = ValidationErrors::new();
    let email = Email::parse(email, "email").map_err(|e| errors.extend(e)).ok();
    let password = Password::new(password, "password").map_err(|e| errors.extend(e)).ok();
    let (Some(email), Some(password)) = (email, password) else { return Err(ApiError::validation(errors)) };
    let hash = hashing(state, move || password.hash()).await??;
    let txn = state.writer.begin().await?;
    let member = StaffDto::from(accounts::create_staff(&txn, &email, &hash, role).await?);
    let answer = Answer::of(StatusCode::CREATED, &member)?;
    idempotency.record(&txn, &answer).await?;
    txn.commit().await?;
    Ok((member, answer))
}

/// Staff accounts in creation order.
pub async fn list_staff(
    state: &AppState,
    limit: Option<i64>,
    cursor: Option<&str>,
    limit_field: &'static str,
) -> Result<Page<StaffDto>, ApiError> {
    let (limit, after) = (products::page_size(limit, limit_field)?, products::cursor_id(state, "staff", cursor)?);
    let found = accounts::list_staff(&state.db, after.as_deref(), limit.get() + 1).await?;
    Ok(page_of(state, "staff", found, limit, |s| s.id.clone()).map(StaffDto::from))
}

/// Changes a staff account's role or disables it: its tokens stop working at once on this
/// instance and within seconds on the others; disabling also revokes its refresh tokens.
pub async fn change_staff(state: &AppState, staff_id: &str, change: StaffChange) -> Result<StaffDto, ApiError> {
    if !emporium_core::id::is_id("staff", staff_id) {
        return Err(ApiError::not_found("staff account"));
    }
    let txn = state.writer.begin().await?;
    let member =
        accounts::change_staff(&txn, staff_id, &change).await?.ok_or_else(|| ApiError::not_found("staff account"))?;
    if member.disabled {
        accounts::revoke_account_sessions(&txn, AccountKind::Staff, staff_id).await?;
    }
    txn.commit().await?;
    state.accounts.forget_staff(staff_id);
    Ok(member.into())
}

/// Creates an API key (201); the secret is in this answer only.
pub async fn create_api_key(
    state: &AppState,
    idempotency: &Idempotency,
    created_by: &str,
    name: &str,
    scopes: &[String],
) -> Result<(CreatedApiKeyDto, Answer), ApiError> {
    let new = NewApiKey::parse(name, scopes)?;
    let txn = state.writer.begin().await?;
    let issued = accounts::create_api_key(&txn, created_by, &new).await?;
    let listed = ApiKeyDto::from(issued.key);
    // The stored answer (replayed to a retry) never holds the secret.
    let stored = Answer::of(StatusCode::CREATED, &CreatedApiKeyDto { api_key: listed.clone(), key: None })?;
    idempotency.record(&txn, &stored).await?;
    txn.commit().await?;
    let created = CreatedApiKeyDto { api_key: listed, key: Some(issued.secret) };
    let answer = Answer::of(StatusCode::CREATED, &created)?;
    Ok((created, answer))
}

/// Live API keys in creation order, with "last used" times written first.
pub async fn list_api_keys(
    state: &AppState,
    limit: Option<i64>,
    cursor: Option<&str>,
    limit_field: &'static str,
) -> Result<Page<ApiKeyDto>, ApiError> {
    state.accounts.flush_key_uses(&state.db).await?;
    let (limit, after) = (products::page_size(limit, limit_field)?, products::cursor_id(state, "api_keys", cursor)?);
    let found = accounts::list_api_keys(&state.db, after.as_deref(), limit.get() + 1).await?;
    Ok(page_of(state, "api_keys", found, limit, |k| k.id.clone()).map(ApiKeyDto::from))
}

/// Revokes an API key: 401 at once on this instance, within seconds on the others.
pub async fn revoke_api_key(state: &AppState, key_id: &str) -> Result<(), ApiError> {
    if !emporium_core::id::is_id("key", key_id) {
        return Err(ApiError::not_found("API key"));
    }
    let txn = state.writer.begin().await?;
    let revoked = accounts::revoke_api_key(&txn, key_id).await?;
    txn.commit().await?;
    state.accounts.forget_keys();
    if revoked { Ok(()) } else { Err(ApiError::not_found("API key")) }
}
