//! Reports over GraphQL (`reports:read`): the same use cases as the REST routes. `from` and
//! `to` are RFC 3339 times, as in REST.

use async_graphql::{Context, Object, Result};
use emporium_customers::Permission;

use crate::usecases::reports::{
    self, BestSellerDto, ConversionDto, CustomersReportDto, InventoryReportDto, SalesReportDto, Span,
};

/// Report reads.
#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// Sales per bucket (`interval`: `day`, the default, `week` or `month`) and in total.
    #[graphql(complexity = "crate::graphql::LIST_COST + child_complexity")]
    async fn sales_report(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        currency: String,
        interval: Option<String>,
    ) -> Result<SalesReportDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReportsRead)?;
        let span = Span { from: Some(&from), to: Some(&to), currency: Some(&currency) };
        Ok(reports::sales(state, span, interval.as_deref()).await?)
    }

    /// How the carts created in the window went: of every currency, or of `currency`.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn conversion_report(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        currency: Option<String>,
    ) -> Result<ConversionDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReportsRead)?;
        let span = Span { from: Some(&from), to: Some(&to), currency: currency.as_deref() };
        Ok(reports::conversion(state, span).await?)
    }

    /// The window's buyers.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST + child_complexity")]
    async fn customers_report(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        currency: String,
    ) -> Result<CustomersReportDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReportsRead)?;
        Ok(reports::customers(state, Span { from: Some(&from), to: Some(&to), currency: Some(&currency) }).await?)
    }

    /// The window's best-selling SKUs (`sort`: `units`, the default, or `revenue`).
    #[graphql(complexity = "crate::graphql::LIST_COST + limit.unwrap_or(10).clamp(0, 100) as usize * child_complexity")]
    async fn products_report(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        currency: String,
        sort: Option<String>,
        limit: Option<i64>,
    ) -> Result<Vec<BestSellerDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReportsRead)?;
        let span = Span { from: Some(&from), to: Some(&to), currency: Some(&currency) };
        Ok(reports::best_sellers(state, span, sort.as_deref(), limit).await?)
    }

    /// What each SKU sold, its average on-hand, turnover, sell-through and days of cover; and
    /// the dead stock (`limit` SKUs per list, 1 to 1000, default 100).
    #[graphql(
        complexity = "crate::graphql::LIST_COST + limit.unwrap_or(100).clamp(0, 1000) as usize * child_complexity"
    )]
    async fn inventory_report(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        limit: Option<i64>,
    ) -> Result<InventoryReportDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::ReportsRead)?;
        Ok(reports::inventory(state, Span { from: Some(&from), to: Some(&to), currency: None }, limit).await?)
    }
}
