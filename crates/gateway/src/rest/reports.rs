//! Reports for staff with `reports:read`: sales, conversion, customers and best sellers.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::usecases::reports::{
    self, BestSellersDto, ConversionDto, CustomersReportDto, InventoryReportDto, SalesReportDto, Span,
};

/// The window of a report, and its currency where money is involved.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Start, inclusive (RFC 3339).
    #[param(example = "2026-01-01T00:00:00Z")]
    pub from: Option<String>,
    /// End, exclusive (RFC 3339), after `from` and at most 2 years later.
    #[param(example = "2026-04-01T00:00:00Z")]
    pub to: Option<String>,
    /// ISO 4217 code: reports with money are in one currency, without conversion; the
    /// conversion report counts only carts in it when given (every cart otherwise).
    #[param(example = "EUR")]
    pub currency: Option<String>,
    /// Sales buckets: `day` (UTC days, the default), `week` (ISO weeks, from Monday) or
    /// `month`.
    pub interval: Option<String>,
    /// Best sellers: `units` (default) or `revenue`.
    pub sort: Option<String>,
    /// Best sellers: how many (1 to 100, default 10); inventory: SKUs per list (1 to 1000,
    /// default 100). Read as text, so a bad value is a 422 naming it.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

impl ReportParams {
    fn span(&self) -> Span<'_> {
        Span { from: self.from.as_deref(), to: self.to.as_deref(), currency: self.currency.as_deref() }
    }

    /// `limit` as a number; not one: out of range, reported with the range.
    fn limit(&self) -> Option<i64> {
        self.limit.as_deref().filter(|l| !l.is_empty()).map(|l| l.parse::<i64>().unwrap_or(0))
    }
}

/// Sales per bucket and in total.
#[utoipa::path(
    get, path = "/v1/reports/sales", tag = "reports", operation_id = "sales_report",
    params(ReportParams),
    responses(
        (status = 200, description = "Totals and one entry per bucket, empty ones included", body = SalesReportDto),
        (status = 422, description = "`validation_failed`: a missing or bad window, currency or interval", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn sales_report(
    State(state): State<AppState>,
    _: Can<caps::ReportsRead>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Json<SalesReportDto>, ApiError> {
    Ok(Json(reports::sales(&state, params.span(), params.interval.as_deref()).await?))
}

/// How the carts created in the window went.
#[utoipa::path(
    get, path = "/v1/reports/conversion", tag = "reports", operation_id = "conversion_report",
    params(ReportParams),
    responses(
        (status = 200, description = "Carts, checkouts, orders and abandonment", body = ConversionDto),
        (status = 422, description = "`validation_failed`: a missing or bad window", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn conversion_report(
    State(state): State<AppState>,
    _: Can<caps::ReportsRead>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Json<ConversionDto>, ApiError> {
    Ok(Json(reports::conversion(&state, params.span()).await?))
}

/// Buyers: new and returning, repeat purchase rate, frequency, lifetime value, the best ones.
#[utoipa::path(
    get, path = "/v1/reports/customers", tag = "reports", operation_id = "customers_report",
    params(ReportParams),
    responses(
        (status = 200, description = "The window's buyers", body = CustomersReportDto),
        (status = 422, description = "`validation_failed`: a missing or bad window or currency", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn customers_report(
    State(state): State<AppState>,
    _: Can<caps::ReportsRead>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Json<CustomersReportDto>, ApiError> {
    Ok(Json(reports::customers(&state, params.span()).await?))
}

/// The window's best-selling SKUs.
#[utoipa::path(
    get, path = "/v1/reports/products", tag = "reports", operation_id = "products_report",
    params(ReportParams),
    responses(
        (status = 200, description = "Best first", body = BestSellersDto),
        (status = 422, description = "`validation_failed`: a missing or bad window, currency, sort or limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn products_report(
    State(state): State<AppState>,
    _: Can<caps::ReportsRead>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Json<BestSellersDto>, ApiError> {
    let data = reports::best_sellers(&state, params.span(), params.sort.as_deref(), params.limit()).await?;
    Ok(Json(BestSellersDto { data }))
}

/// What each SKU sold, its average on-hand from the ledger's daily closings, turnover,
/// sell-through and days of cover; and the dead stock.
#[utoipa::path(
    get, path = "/v1/reports/inventory", tag = "reports", operation_id = "inventory_report",
    params(ReportParams),
    responses(
        (status = 200, description = "SKUs most sold first, and the dead stock", body = InventoryReportDto),
        (status = 422, description = "`validation_failed`: a missing or bad window or limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn inventory_report(
    State(state): State<AppState>,
    _: Can<caps::ReportsRead>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Json<InventoryReportDto>, ApiError> {
    Ok(Json(reports::inventory(&state, params.span(), params.limit()).await?))
}
