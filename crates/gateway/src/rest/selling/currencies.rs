//! Whether catalog prices in a currency include tax.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::usecases::orders::{self, CurrencySettingDto};

/// `PUT /v1/settings/currencies/{code}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencySettingInputDto {
    pub prices_include_tax: bool,
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
