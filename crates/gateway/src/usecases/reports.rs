//! Reports for staff with `reports:read`, once for both transports: sales, conversion,
//! customers and best-selling products (the definitions are in `emporium_orders::reports` and
//! the README). Each checks its window (`from` before `to`, at most two years) and currency
//! first, then runs its SQL.

use chrono::{DateTime, Utc};
use emporium_core::report::{Interval, Window, div_half_even, rate};
use emporium_core::{Currency, ValidationErrors};
use emporium_orders::reports::{self, ProductSort, SalesFigures};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// An amount of money in minor units that may be below zero (net sales of a stretch with more
/// refunds than sales).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = SignedAmount)]
pub struct SignedAmountDto {
    /// Minor units, within ±(2^53 − 1).
    #[schema(example = 125_000, minimum = -9_007_199_254_740_991_i64, maximum = 9_007_199_254_740_991_i64)]
    pub amount: i64,
    #[schema(value_type = crate::dto::CurrencyCode, example = "EUR")]
    pub currency: Currency,
}

#[async_graphql::Object(name = "SignedMoney")]
impl SignedAmountDto {
    /// Minor units of `currency`, below zero when more went out than came in.
    async fn amount(&self) -> crate::graphql::Amount {
        crate::graphql::Amount(self.amount)
    }

    /// Upper-case ISO 4217 code.
    async fn currency(&self) -> &str {
        self.currency.code()
    }
}

/// A report's window as the transports receive it.
pub struct Span<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub currency: Option<&'a str>,
}

impl Span<'_> {
    /// The window and the currency, if given, every problem reported at once.
    fn read(&self) -> Result<(Window, Option<Currency>), ValidationErrors> {
        self.read_with(false)
    }

    /// The window and the currency a report with money needs, every problem reported at once.
    fn read_money(&self) -> Result<(Window, Currency), ValidationErrors> {
        match self.read_with(true)? {
            (window, Some(currency)) => Ok((window, currency)),
            (_, None) => {
                Err(ValidationErrors::single("currency", "required", "reports with money are in one currency"))
            }
        }
    }

    fn read_with(&self, needs_currency: bool) -> Result<(Window, Option<Currency>), ValidationErrors> {
        let window = Window::parse(self.from, self.to);
        let currency = match self.currency.map(str::trim).filter(|c| !c.is_empty()) {
            None if needs_currency => {
                Err(ValidationErrors::single("currency", "required", "reports with money are in one currency"))
            }
            None => Ok(None),
            Some(code) => Currency::parse(code)
                .map(Some)
                .map_err(|_| ValidationErrors::single("currency", "invalid_currency", "an ISO 4217 code, e.g. EUR")),
        };
        match (window, currency) {
            (Ok(window), Ok(currency)) => Ok((window, currency)),
            (window, currency) => {
                let mut errors = ValidationErrors::new();
                for failed in [window.err(), currency.err()].into_iter().flatten() {
                    errors.extend(failed);
                }
                Err(errors)
            }
        }
    }
}

fn money(amount: i64, currency: Currency) -> SignedAmountDto {
    SignedAmountDto { amount, currency }
}

/// Sales figures of a bucket or of the whole window.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "SalesFigures")]
pub struct SalesFiguresDto {
    /// The bucket's start (UTC), absent on the totals; the first bucket may begin before
    /// `from`, and only what is in the window counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Orders placed, cancelled ones included.
    pub orders: i64,
    /// Units in those orders.
    pub units: i64,
    /// Line totals before discounts (without the tax tax-inclusive prices contain).
    pub gross_sales: SignedAmountDto,
    pub discounts: SignedAmountDto,
    /// Refunds issued, cancellations' included.
    pub returns: SignedAmountDto,
    /// `gross_sales − discounts − returns`.
    pub net_sales: SignedAmountDto,
    pub shipping: SignedAmountDto,
    pub tax: SignedAmountDto,
    /// `net_sales + shipping + tax`.
    pub total_sales: SignedAmountDto,
    /// `(gross_sales − discounts) / orders`, rounded half to even.
    pub average_order_value: SignedAmountDto,
}

impl SalesFiguresDto {
    fn new(start: Option<DateTime<Utc>>, f: &SalesFigures, currency: Currency) -> Self {
        Self {
            start,
            orders: f.orders,
            units: f.units,
            gross_sales: money(f.gross, currency),
            discounts: money(f.discounts, currency),
            returns: money(f.returns, currency),
            net_sales: money(f.net(), currency),
            shipping: money(f.shipping, currency),
            tax: money(f.tax, currency),
            total_sales: money(f.total(), currency),
            average_order_value: money(f.average_order_value(), currency),
        }
    }
}

/// The sales report.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "SalesReport")]
pub struct SalesReportDto {
    pub totals: SalesFiguresDto,
    /// One entry per bucket, in order, empty ones included.
    pub series: Vec<SalesFiguresDto>,
}

/// `interval` as the transports receive it: `day` (default), `week` or `month`.
pub async fn sales(state: &AppState, span: Span<'_>, interval: Option<&str>) -> Result<SalesReportDto, ApiError> {
    let mut errors = ValidationErrors::new();
    let checked = span.read_money().map_err(|failed| errors.extend(failed)).ok();
    let interval = Interval::parse(interval).map_err(|failed| errors.extend(failed)).ok();
    let (Some((window, currency)), Some(interval)) = (checked, interval) else { return Err(errors.into()) };
    let report = reports::sales(&state.db, currency, &window, interval).await?;
    Ok(SalesReportDto {
        totals: SalesFiguresDto::new(None, &report.totals, currency),
        series: report.series.iter().map(|(start, f)| SalesFiguresDto::new(Some(*start), f, currency)).collect(),
    })
}

/// The conversion report.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "ConversionReport")]
pub struct ConversionDto {
    /// Carts created in the window.
    pub carts_created: i64,
    /// Of them, carts holding an item.
    pub carts_with_items: i64,
    /// Of them, carts a checkout began on.
    pub checkouts_started: i64,
    /// Of them, carts that became an order.
    pub orders_placed: i64,
    /// `orders_placed / carts_with_items`, 4 places.
    #[schema(example = "0.0325")]
    pub cart_to_order_rate: String,
    /// Carts with items, never ordered, unchanged for `EMPORIUM_CART_ABANDON_AFTER` seconds.
    pub abandoned_carts: i64,
    /// `abandoned_carts / (abandoned_carts + orders_placed)`, 4 places.
    #[schema(example = "0.6800")]
    pub abandonment_rate: String,
}

/// Conversion over the carts created in the window: of every currency, or of `currency` when
/// it is given.
pub async fn conversion(state: &AppState, span: Span<'_>) -> Result<ConversionDto, ApiError> {
    let (window, currency) = span.read()?;
    let idle_since = emporium_core::db::now()
        - chrono::Duration::from_std(state.config.cart_abandon_after).unwrap_or(chrono::Duration::days(1));
    let c = reports::conversion(&state.db, &window, currency, idle_since).await?;
    Ok(ConversionDto {
        carts_created: c.carts_created,
        carts_with_items: c.carts_with_items,
        checkouts_started: c.checkouts_started,
        orders_placed: c.orders_placed,
        cart_to_order_rate: rate(c.orders_placed, c.carts_with_items),
        abandoned_carts: c.abandoned_carts,
        abandonment_rate: rate(c.abandoned_carts, c.abandoned_carts + c.orders_placed),
    })
}

/// One of the window's best buyers.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "TopBuyer")]
pub struct TopBuyerDto {
    /// `null` for a guest.
    pub customer_id: Option<String>,
    pub email: String,
    /// Their orders in the window (not cancelled).
    pub orders: i64,
    /// Net sales of those orders, less their refunds issued before `to`.
    pub net_sales: SignedAmountDto,
}

/// The customers report.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "CustomersReport")]
pub struct CustomersReportDto {
    /// Customers and guest emails with an order in the window (cancelled orders left out).
    pub buyers: i64,
    /// Buyers whose first order ever is in the window.
    pub new_buyers: i64,
    /// `buyers − new_buyers`.
    pub returning_buyers: i64,
    /// Buyers with two orders or more before `to`, over buyers with one before `to`; 4 places.
    #[schema(example = "0.2500")]
    pub repeat_purchase_rate: String,
    /// Orders in the window over buyers in the window; 4 places.
    #[schema(example = "1.2500")]
    pub purchase_frequency: String,
    /// Net sales of every order before `to` (less refunds issued before `to`) over the buyers
    /// before `to`, rounded half to even.
    pub average_lifetime_value: SignedAmountDto,
    /// Up to 10 buyers of the window, most net sales first.
    pub top: Vec<TopBuyerDto>,
}

/// Buyers over the window in one currency.
pub async fn customers(state: &AppState, span: Span<'_>) -> Result<CustomersReportDto, ApiError> {
    let (window, currency) = span.read_money()?;
    let c = reports::customers(&state.db, currency, &window).await?;
    Ok(CustomersReportDto {
        buyers: c.buyers,
        new_buyers: c.new_buyers,
        returning_buyers: c.buyers - c.new_buyers,
        repeat_purchase_rate: rate(c.repeat_buyers, c.buyers_ever),
        purchase_frequency: rate(c.orders, c.buyers),
        average_lifetime_value: money(div_half_even(c.net_sales_ever, c.buyers_ever), currency),
        top: c
            .top
            .into_iter()
            .map(|t| TopBuyerDto {
                customer_id: t.customer_id,
                email: t.email,
                orders: t.orders,
                net_sales: money(t.net_sales, currency),
            })
            .collect(),
    })
}

/// A best-selling SKU.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "BestSeller")]
pub struct BestSellerDto {
    pub sku: String,
    pub product_id: String,
    /// As ordered.
    pub title: String,
    /// Units in orders placed in the window (not cancelled).
    pub units: i64,
    /// Their line totals less discounts (and less the tax tax-inclusive prices contain).
    pub revenue: SignedAmountDto,
    /// Units of them customers sent back.
    pub refunded_units: i64,
}

/// The best-sellers report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BestSellersDto {
    pub data: Vec<BestSellerDto>,
}

/// The most best sellers a report lists.
pub const MAX_BEST_SELLERS: i64 = 100;

/// Best sellers over the window: `sort` is `units` (default) or `revenue`; `limit` 1 to 100
/// (default 10).
pub async fn best_sellers(
    state: &AppState,
    span: Span<'_>,
    sort: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<BestSellerDto>, ApiError> {
    let mut errors = ValidationErrors::new();
    let checked = span.read_money().map_err(|failed| errors.extend(failed)).ok();
    let sort = match sort.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("units") => ProductSort::Units,
        Some("revenue") => ProductSort::Revenue,
        Some(_) => {
            errors.add("sort", "invalid_value", "must be units or revenue");
            ProductSort::Units
        }
    };
    let limit = limit.unwrap_or(10);
    if !(1..=MAX_BEST_SELLERS).contains(&limit) {
        errors.add("limit", "out_of_range", format!("1 to {MAX_BEST_SELLERS}"));
    }
    let Some((window, currency)) = checked.filter(|_| errors.is_empty()) else { return Err(errors.into()) };
    let found = reports::best_sellers(&state.db, currency, &window, sort, limit as u64).await?;
    Ok(found
        .into_iter()
        .map(|b| BestSellerDto {
            sku: b.sku,
            product_id: b.product_id,
            title: b.title,
            units: b.units,
            revenue: money(b.revenue, currency),
            refunded_units: b.refunded_units,
        })
        .collect())
}

/// One SKU of the inventory report.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "SkuInventory")]
pub struct SkuInventoryDto {
    pub sku: String,
    /// Units sold in the window, less units back from cancellations in it.
    pub units_sold: i64,
    /// The average of each day's closing on-hand (every location), 4 places.
    #[schema(example = "42.5000")]
    pub average_on_hand: String,
    /// `units_sold / average_on_hand`, 4 places; `null` without stock on hand.
    pub turnover: Option<String>,
    /// `units_sold / (units_sold + on-hand at to)`, 4 places; `null` when both are 0.
    pub sell_through: Option<String>,
    /// On-hand at `to` over the average units sold a day, 4 places; `null` without sales.
    pub days_of_cover: Option<String>,
    /// The last sale before `to`.
    pub last_sold_at: Option<DateTime<Utc>>,
}

/// A SKU holding units that did not sell in the window.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "DeadStock")]
pub struct DeadStockDto {
    pub sku: String,
    /// Units on hand at `to`.
    pub on_hand: i64,
    /// The last sale before `to`, if it ever sold.
    pub last_sold_at: Option<DateTime<Utc>>,
}

/// The inventory report.
#[derive(Debug, Clone, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "InventoryReport")]
pub struct InventoryReportDto {
    /// SKUs that moved in the window or hold stock, most sold first (at most `limit`).
    pub data: Vec<SkuInventoryDto>,
    /// SKUs with units on hand at `to` and no sale in the window, most on hand first (at most
    /// `limit`).
    pub dead_stock: Vec<DeadStockDto>,
}

/// The most SKUs each list of the inventory report holds.
pub const MAX_INVENTORY_SKUS: i64 = 1_000;

/// The inventory report over the window (no currency); `limit` 1 to 1000 (default 100).
pub async fn inventory(state: &AppState, span: Span<'_>, limit: Option<i64>) -> Result<InventoryReportDto, ApiError> {
    let mut errors = ValidationErrors::new();
    let checked = span.read().map_err(|failed| errors.extend(failed)).ok();
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_INVENTORY_SKUS).contains(&limit) {
        errors.add("limit", "out_of_range", format!("1 to {MAX_INVENTORY_SKUS}"));
    }
    let Some((window, _)) = checked.filter(|_| errors.is_empty()) else { return Err(errors.into()) };
    let report = emporium_inventory::report::inventory(&state.db, &window, limit as usize).await?;
    let some_rate = |n: i64, d: i64| (d != 0).then(|| rate(n, d));
    Ok(InventoryReportDto {
        data: report
            .skus
            .into_iter()
            .map(|s| SkuInventoryDto {
                average_on_hand: rate(s.closing_sum, s.days),
                turnover: some_rate(s.units_sold.saturating_mul(s.days), s.closing_sum),
                sell_through: some_rate(s.units_sold, s.units_sold + s.on_hand_at_end),
                days_of_cover: (s.units_sold > 0).then(|| rate(s.on_hand_at_end.saturating_mul(s.days), s.units_sold)),
                units_sold: s.units_sold,
                last_sold_at: s.last_sold_at,
                sku: s.sku,
            })
            .collect(),
        dead_stock: report
            .dead_stock
            .into_iter()
            .map(|s| DeadStockDto { sku: s.sku, on_hand: s.on_hand_at_end, last_sold_at: s.last_sold_at })
            .collect(),
    })
}
