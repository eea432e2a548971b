//! The selling setup (staff): shipping zones and methods, tax rates, discount codes and
//! whether prices include tax per currency.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use emporium_core::Patch;
use emporium_orders::setup::{DiscountChange, DiscountInput, MethodInput, ZoneInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Can, caps};
use crate::dto::{AmountDto, MoneyDto};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::orders::{
    self, CurrencySettingDto, DiscountDto, DiscountValueDto, TaxRateDto, ZoneDto, amount, amount_or_zero,
};

/// A shipping method of a zone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMethodDto {
    #[schema(example = "Standard", min_length = 1, max_length = 100)]
    pub name: String,
    /// The price, in one currency (0: free); a zone may hold methods in several.
    pub price: AmountDto,
    /// Free when the subtotal after discounts reaches this (same currency).
    pub free_over: Option<AmountDto>,
}

/// `POST /v1/shipping-zones` and `PATCH /v1/shipping-zones/{zone_id}` (which replaces all).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewZoneDto {
    #[schema(example = "EU", min_length = 1, max_length = 100)]
    pub name: String,
    /// ISO 3166-1 alpha-2 codes.
    #[schema(example = json!(["FR", "DE"]), min_items = 1, max_items = 250)]
    pub countries: Vec<String>,
    #[schema(min_items = 1, max_items = 20)]
    pub methods: Vec<NewMethodDto>,
}

impl From<NewZoneDto> for ZoneInput {
    fn from(z: NewZoneDto) -> Self {
        Self {
            name: z.name,
            countries: z.countries,
            methods: z
                .methods
                .into_iter()
                .map(|m| MethodInput {
                    name: m.name,
                    price: amount_or_zero(m.price),
                    free_over: m.free_over.map(amount_or_zero),
                })
                .collect(),
        }
    }
}

/// `POST /v1/tax-rates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaxRateDto {
    #[schema(example = "FR", min_length = 2, max_length = 2)]
    pub country: String,
    /// A region of the country (a state, a province); left out: the whole country.
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(example = "TVA", min_length = 1, max_length = 100)]
    pub name: String,
    /// Basis points: 2000 is 20%.
    #[schema(example = 2000, minimum = 0, maximum = 10000)]
    pub rate_bp: i64,
}

/// `PATCH /v1/tax-rates/{rate_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRatePatchDto {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 10000)]
    pub rate_bp: Option<i64>,
}

/// The kind of discount.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKindDto {
    Percentage,
    Fixed,
    FreeShipping,
}

/// `POST /v1/discounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDiscountDto {
    /// Matched whatever its case.
    #[schema(example = "WELCOME10", min_length = 1, max_length = 50, pattern = "^[A-Za-z0-9_-]+$")]
    pub code: String,
    pub kind: DiscountKindDto,
    /// Basis points for a percentage, an amount for a fixed discount, nothing for free shipping.
    pub value: Option<DiscountValueDto>,
    pub minimum_subtotal: Option<MoneyDto>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Orders that may use it in all.
    #[schema(minimum = 1)]
    pub usage_limit: Option<i64>,
    /// Orders one customer (or guest email) may use it on.
    #[schema(minimum = 1)]
    pub usage_limit_per_customer: Option<i64>,
}

/// `PATCH /v1/discounts/{discount_id}`: a merge patch; the code and kind stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountPatchDto {
    pub value: Option<DiscountValueDto>,
    #[serde(default)]
    #[schema(value_type = Option<MoneyDto>)]
    pub minimum_subtotal: Patch<MoneyDto>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Patch<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Patch<DateTime<Utc>>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub usage_limit: Patch<i64>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub usage_limit_per_customer: Patch<i64>,
}

/// `PUT /v1/settings/currencies/{code}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencySettingInputDto {
    pub prices_include_tax: bool,
}

/// Every shipping zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneList {
    pub data: Vec<ZoneDto>,
}

/// Every tax rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRateList {
    pub data: Vec<TaxRateDto>,
}

/// Every discount.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscountList {
    pub data: Vec<DiscountDto>,
}

/// Create a shipping zone with its methods.
#[utoipa::path(
    post, path = "/v1/shipping-zones", tag = "selling", operation_id = "create_shipping_zone",
    params(IdempotencyKey),
    request_body = NewZoneDto,
    responses((status = 201, description = "Created", body = ZoneDto)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewZoneDto>,
) -> Result<Answer, ApiError> {
    orders::create_zone(&state, &idempotency, &body.into()).await.map(|d| d.answer)
}

/// Every shipping zone.
#[utoipa::path(
    get, path = "/v1/shipping-zones", tag = "selling", operation_id = "list_shipping_zones",
    responses((status = 200, description = "The zones, by name", body = ZoneList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_shipping_zones(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
) -> Result<Json<ZoneList>, ApiError> {
    Ok(Json(ZoneList { data: orders::zones(&state).await? }))
}

/// One shipping zone.
#[utoipa::path(
    get, path = "/v1/shipping-zones/{zone_id}", tag = "selling", operation_id = "get_shipping_zone",
    params(("zone_id" = String, Path, description = "Zone id")),
    responses(
        (status = 200, description = "The zone", body = ZoneDto),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
    Path(zone_id): Path<String>,
) -> Result<Json<ZoneDto>, ApiError> {
    Ok(Json(orders::zone(&state, &zone_id).await?))
}

/// Replace a zone's name, countries and methods.
#[utoipa::path(
    patch, path = "/v1/shipping-zones/{zone_id}", tag = "selling", operation_id = "update_shipping_zone",
    params(("zone_id" = String, Path, description = "Zone id")),
    request_body = NewZoneDto,
    responses(
        (status = 200, description = "The zone", body = ZoneDto),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(zone_id): Path<String>,
    ApiJson(body): ApiJson<NewZoneDto>,
) -> Result<Json<ZoneDto>, ApiError> {
    Ok(Json(orders::replace_zone(&state, &zone_id, &body.into()).await?))
}

/// Delete a zone and its methods.
#[utoipa::path(
    delete, path = "/v1/shipping-zones/{zone_id}", tag = "selling", operation_id = "delete_shipping_zone",
    params(("zone_id" = String, Path, description = "Zone id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such zone", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_shipping_zone(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(zone_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    orders::delete_zone(&state, &zone_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a tax rate for a country, or a region of it.
#[utoipa::path(
    post, path = "/v1/tax-rates", tag = "selling", operation_id = "create_tax_rate",
    params(IdempotencyKey),
    request_body = NewTaxRateDto,
    responses(
        (status = 201, description = "Created", body = TaxRateDto),
        (status = 409, description = "`tax_rate_exists`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewTaxRateDto>,
) -> Result<Answer, ApiError> {
    orders::create_rate(&state, &idempotency, &body.country, body.region.as_deref(), &body.name, body.rate_bp)
        .await
        .map(|d| d.answer)
}

/// Every tax rate.
#[utoipa::path(
    get, path = "/v1/tax-rates", tag = "selling", operation_id = "list_tax_rates",
    responses((status = 200, description = "The rates, by country and region", body = TaxRateList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_tax_rates(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
) -> Result<Json<TaxRateList>, ApiError> {
    Ok(Json(TaxRateList { data: orders::rates(&state).await? }))
}

/// One tax rate.
#[utoipa::path(
    get, path = "/v1/tax-rates/{rate_id}", tag = "selling", operation_id = "get_tax_rate",
    params(("rate_id" = String, Path, description = "Rate id")),
    responses(
        (status = 200, description = "The rate", body = TaxRateDto),
        (status = 404, description = "No such rate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
    Path(rate_id): Path<String>,
) -> Result<Json<TaxRateDto>, ApiError> {
    Ok(Json(orders::rate(&state, &rate_id).await?))
}

/// Change a rate's name or basis points.
#[utoipa::path(
    patch, path = "/v1/tax-rates/{rate_id}", tag = "selling", operation_id = "update_tax_rate",
    params(("rate_id" = String, Path, description = "Rate id")),
    request_body = TaxRatePatchDto,
    responses(
        (status = 200, description = "The rate", body = TaxRateDto),
        (status = 404, description = "No such rate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(rate_id): Path<String>,
    ApiJson(body): ApiJson<TaxRatePatchDto>,
) -> Result<Json<TaxRateDto>, ApiError> {
    Ok(Json(orders::change_rate(&state, &rate_id, body.name.as_deref(), body.rate_bp).await?))
}

/// Delete a rate.
#[utoipa::path(
    delete, path = "/v1/tax-rates/{rate_id}", tag = "selling", operation_id = "delete_tax_rate",
    params(("rate_id" = String, Path, description = "Rate id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_tax_rate(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(rate_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    orders::delete_rate(&state, &rate_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a discount code.
#[utoipa::path(
    post, path = "/v1/discounts", tag = "selling", operation_id = "create_discount",
    params(IdempotencyKey),
    request_body = NewDiscountDto,
    responses(
        (status = 201, description = "Created", body = DiscountDto),
        (status = 409, description = "`discount_code_taken`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_discount(
    State(state): State<AppState>,
    _: Can<caps::DiscountsWrite>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewDiscountDto>,
) -> Result<Answer, ApiError> {
    let kind = match body.kind {
        DiscountKindDto::Percentage => "percentage",
        DiscountKindDto::Fixed => "fixed",
        DiscountKindDto::FreeShipping => "free_shipping",
    };
    let input = DiscountInput {
        code: body.code,
        kind: kind.to_owned(),
        value: body.value.map(Into::into),
        minimum_subtotal: body.minimum_subtotal.map(amount),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        usage_limit: body.usage_limit,
        usage_limit_per_customer: body.usage_limit_per_customer,
    };
    orders::create_discount(&state, &idempotency, &input).await.map(|d| d.answer)
}

/// Every discount, newest first.
#[utoipa::path(
    get, path = "/v1/discounts", tag = "selling", operation_id = "list_discounts",
    responses((status = 200, description = "The discounts", body = DiscountList)),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_discounts(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
) -> Result<Json<DiscountList>, ApiError> {
    Ok(Json(DiscountList { data: orders::discounts(&state).await? }))
}

/// One discount, with its uses.
#[utoipa::path(
    get, path = "/v1/discounts/{discount_id}", tag = "selling", operation_id = "get_discount",
    params(("discount_id" = String, Path, description = "Discount id")),
    responses(
        (status = 200, description = "The discount", body = DiscountDto),
        (status = 404, description = "No such discount", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_discount(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
    Path(discount_id): Path<String>,
) -> Result<Json<DiscountDto>, ApiError> {
    Ok(Json(orders::discount(&state, &discount_id).await?))
}

/// Change a discount's value, rules or limits.
#[utoipa::path(
    patch, path = "/v1/discounts/{discount_id}", tag = "selling", operation_id = "update_discount",
    params(("discount_id" = String, Path, description = "Discount id")),
    request_body = DiscountPatchDto,
    responses(
        (status = 200, description = "The discount", body = DiscountDto),
        (status = 404, description = "No such discount", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn update_discount(
    State(state): State<AppState>,
    _: Can<caps::DiscountsWrite>,
    Path(discount_id): Path<String>,
    ApiJson(body): ApiJson<DiscountPatchDto>,
) -> Result<Json<DiscountDto>, ApiError> {
    let change = DiscountChange {
        value: body.value.map(Into::into),
        minimum_subtotal: body.minimum_subtotal.map(amount),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        usage_limit: body.usage_limit,
        usage_limit_per_customer: body.usage_limit_per_customer,
    };
    Ok(Json(orders::change_discount(&state, &discount_id, &change).await?))
}

/// Delete a discount (carts holding it lose it; orders keep their copy).
#[utoipa::path(
    delete, path = "/v1/discounts/{discount_id}", tag = "selling", operation_id = "delete_discount",
    params(("discount_id" = String, Path, description = "Discount id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such discount", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_discount(
    State(state): State<AppState>,
    _: Can<caps::DiscountsWrite>,
    Path(discount_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    orders::delete_discount(&state, &discount_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether catalog prices in a currency include tax.
#[utoipa::path(
    get, path = "/v1/settings/currencies/{currency}", tag = "selling", operation_id = "get_currency_setting",
    params(("currency" = String, Path, description = "ISO 4217 code")),
    responses(
        (status = 200, description = "The setting", body = CurrencySettingDto),
        (status = 404, description = "Not a currency code", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_currency_setting(
    State(state): State<AppState>,
    _: Can<caps::CatalogRead>,
    Path(currency): Path<String>,
) -> Result<Json<CurrencySettingDto>, ApiError> {
    Ok(Json(orders::currency_setting(&state, &currency).await?))
}

/// Set whether catalog prices in a currency include tax (default false).
#[utoipa::path(
    put, path = "/v1/settings/currencies/{currency}", tag = "selling", operation_id = "set_currency_setting",
    params(("currency" = String, Path, description = "ISO 4217 code")),
    request_body = CurrencySettingInputDto,
    responses(
        (status = 200, description = "The setting", body = CurrencySettingDto),
        (status = 404, description = "Not a currency code", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn set_currency_setting(
    State(state): State<AppState>,
    _: Can<caps::SettingsWrite>,
    Path(currency): Path<String>,
    ApiJson(body): ApiJson<CurrencySettingInputDto>,
) -> Result<Json<CurrencySettingDto>, ApiError> {
    Ok(Json(orders::set_currency(&state, &currency, body.prices_include_tax).await?))
}
