//! The signed-in customer's address book.

use axum::http::StatusCode;
use emporium_customers::{self as accounts, AddressChange, AddressInput};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::state::AppState;

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
