//! `/v1/customers`: registration, the signed-in customer's profile, password and address
//! book, and the staff's customer search.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use emporium_core::Patch;
use emporium_customers::{AddressChange, AddressInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, SignedInCustomer, caps};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, IfMatch, etag};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::infra::rate_limit::{CallerBucket, HASHING_COST, spend};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::accounts::{self, AddressDto, CustomerDetailDto, CustomerDto, Registration};

/// `POST /v1/customers`.
// Not `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDto {
    #[schema(example = "ada@example.com", format = "email", max_length = 254)]
    pub email: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: String,
}

/// `PATCH /v1/customers/me`: names left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatchDto {
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: Option<String>,
}

/// `POST /v1/customers/me/password`.
// Not `Debug`: it holds passwords.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeDto {
    #[schema(max_length = 1024)]
    pub current_password: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub new_password: String,
}

/// A new address; `default_shipping`/`default_billing` move the customer's default to it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddressDto {
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "FR", min_length = 2, max_length = 2)]
    pub country: String,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
    #[serde(default)]
    pub default_shipping: bool,
    #[serde(default)]
    pub default_billing: bool,
}

/// `PATCH /v1/customers/me/addresses/{address_id}`: a JSON merge patch; `null` clears an
/// optional field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatchDto {
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub first_name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub last_name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub line1: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub line2: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub city: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub region: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 20)]
    pub postal_code: Patch<String>,
    #[serde(default)]
    #[schema(value_type = String, min_length = 2, max_length = 2)]
    pub country: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 40)]
    pub phone: Patch<String>,
    pub default_shipping: Option<bool>,
    pub default_billing: Option<bool>,
}

/// A customer's address book.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressList {
    pub data: Vec<AddressDto>,
}

/// A page of customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    pub data: Vec<CustomerDto>,
    pub next_cursor: Option<String>,
}

/// Query parameters of `GET /v1/customers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerListParams {
    /// Part of an email or name, without regard to case.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Register a customer account.
#[utoipa::path(
    post, path = "/v1/customers", tag = "customers", operation_id = "register_customer",
    params(IdempotencyKey),
    request_body = RegisterDto,
    responses(
        (status = 201, description = "Registered", body = CustomerDto),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an invalid email, a password under 10 characters", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn register_customer(
    State(state): State<AppState>,
    bucket: Option<Extension<CallerBucket>>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<RegisterDto>,
) -> Result<Answer, ApiError> {
    spend(&state, bucket.as_deref(), HASHING_COST).await?;
    let input = Registration {
        email: body.email,
        password: body.password,
        first_name: body.first_name,
        last_name: body.last_name,
    };
    Ok(accounts::register(&state, &idempotency, input).await?.1)
}

/// The signed-in customer.
#[utoipa::path(
    get, path = "/v1/customers/me", tag = "customers", operation_id = "get_me",
    responses(
        (status = 200, description = "The customer", body = CustomerDto,
            headers(("ETag" = String, description = "The profile's version, for `If-Match`"))),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_me(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
) -> Result<impl IntoResponse, ApiError> {
    let me = accounts::me(&state, &customer).await?;
    Ok((etag(me.version), Json(me)))
}

/// Change the signed-in customer's names. With `If-Match`, only while the profile is at that
/// version.
#[utoipa::path(
    patch, path = "/v1/customers/me", tag = "customers", operation_id = "update_me",
    params(("If-Match" = Option<String>, Header, description = "The `ETag` last read: 412 if it changed since")),
    request_body = CustomerPatchDto,
    responses(
        (status = 200, description = "The customer", body = CustomerDto,
            headers(("ETag" = String, description = "The profile's new version"))),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`: it changed since the `If-Match` version; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_me(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    IfMatch(expected): IfMatch,
    ApiJson(body): ApiJson<CustomerPatchDto>,
) -> Result<impl IntoResponse, ApiError> {
    let me = accounts::update_me(&state, &customer, body.first_name, body.last_name, &expected).await?;
    Ok((etag(me.version), Json(me)))
}

/// Change the signed-in customer's password; every refresh token of the account is revoked.
#[utoipa::path(
    post, path = "/v1/customers/me/password", tag = "customers", operation_id = "change_password",
    params(IdempotencyKey),
    request_body = PasswordChangeDto,
    responses(
        (status = 204, description = "Changed; sign in again on other devices"),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `wrong_password` or a new password under 10 characters", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong current passwords", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn change_password(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    bucket: Option<Extension<CallerBucket>>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<PasswordChangeDto>,
) -> Result<Answer, ApiError> {
    spend(&state, bucket.as_deref(), HASHING_COST).await?;
    accounts::change_password(&state, &idempotency, &customer, body.current_password, body.new_password).await
}

/// The signed-in customer's addresses, oldest first.
#[utoipa::path(
    get, path = "/v1/customers/me/addresses", tag = "customers", operation_id = "list_addresses",
    responses(
        (status = 200, description = "The address book", body = AddressList),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_addresses(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
) -> Result<Json<AddressList>, ApiError> {
    Ok(Json(AddressList { data: accounts::addresses(&state, &customer).await? }))
}

/// Add an address to the signed-in customer's book.
#[utoipa::path(
    post, path = "/v1/customers/me/addresses", tag = "customers", operation_id = "add_address",
    params(IdempotencyKey),
    request_body = NewAddressDto,
    responses(
        (status = 201, description = "Added", body = AddressDto),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`address_book_full`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, e.g. `invalid_country`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn add_address(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewAddressDto>,
) -> Result<Answer, ApiError> {
    let input = AddressInput {
        first_name: body.first_name,
        last_name: body.last_name,
        line1: body.line1,
        line2: body.line2,
        city: body.city,
        region: body.region,
        postal_code: body.postal_code,
        country: body.country,
        phone: body.phone,
    };
    let added =
        accounts::add_address(&state, &idempotency, &customer, input, body.default_shipping, body.default_billing);
    Ok(added.await?.1)
}

/// Change one of the signed-in customer's addresses.
#[utoipa::path(
    patch, path = "/v1/customers/me/addresses/{address_id}", tag = "customers", operation_id = "update_address",
    params(("address_id" = String, Path, description = "Address id")),
    request_body = AddressPatchDto,
    responses(
        (status = 200, description = "The address", body = AddressDto),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such address in this customer's book", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_address(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    Path(address_id): Path<String>,
    ApiJson(body): ApiJson<AddressPatchDto>,
) -> Result<Json<AddressDto>, ApiError> {
    let change = AddressChange {
        first_name: body.first_name,
        last_name: body.last_name,
        line1: body.line1,
        line2: body.line2,
        city: body.city,
        region: body.region,
        postal_code: body.postal_code,
        country: body.country,
        phone: body.phone,
        default_shipping: body.default_shipping,
        default_billing: body.default_billing,
    };
    Ok(Json(accounts::update_address(&state, &customer, &address_id, change).await?))
}

/// Remove one of the signed-in customer's addresses.
#[utoipa::path(
    delete, path = "/v1/customers/me/addresses/{address_id}", tag = "customers", operation_id = "delete_address",
    params(("address_id" = String, Path, description = "Address id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No customer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A staff token or API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such address in this customer's book", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_address(
    State(state): State<AppState>,
    SignedInCustomer(customer): SignedInCustomer,
    Path(address_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts::delete_address(&state, &customer, &address_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Search customers by email or name (staff with `customers:read`).
#[utoipa::path(
    get, path = "/v1/customers", tag = "customers", operation_id = "list_customers",
    params(CustomerListParams),
    responses(
        (status = 200, description = "A page of customers, oldest first", body = CustomerPage),
        (status = 401, description = "No credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers:read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_customers(
    State(state): State<AppState>,
    _: Can<caps::CustomersRead>,
    ApiQuery(params): ApiQuery<CustomerListParams>,
) -> Result<Json<CustomerPage>, ApiError> {
    let q = params.q.filter(|q| !q.trim().is_empty());
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let page = accounts::search_customers(&state, q.as_deref(), limit, cursor.as_deref(), ("q", "limit")).await?;
    Ok(Json(CustomerPage { data: page.items, next_cursor: page.next_cursor }))
}

/// Read a customer, with their orders' count and total spent (staff with `customers:read`).
#[utoipa::path(
    get, path = "/v1/customers/{customer_id}", tag = "customers", operation_id = "get_customer",
    params(("customer_id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = CustomerDetailDto),
        (status = 401, description = "No credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers:read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_customer(
    State(state): State<AppState>,
    _: Can<caps::CustomersRead>,
    Path(customer_id): Path<String>,
) -> Result<Json<CustomerDetailDto>, ApiError> {
    Ok(Json(accounts::customer_detail(&state, &customer_id).await?))
}
