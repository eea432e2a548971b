//! The shop manager's numbers over orders, refunds and carts: sales, conversion, customers
//! and best-selling products. Each is computed by SQL both databases run, from the rows
//! themselves, so every figure reconciles with them to the minor unit.
//!
//! Per order (in its currency), the sales figures are: `gross` = its line totals before
//! discounts; `discounts`; `shipping`; `tax`; so `gross − discounts + shipping + tax` is what
//! the customer paid. With tax-inclusive prices the tax that line totals and shipping contain
//! is taken out of them (and shown in `tax`), so the sum is the order's total either way.
//! `returns` are refunds issued (settled by the provider), cancellations' included.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use emporium_core::Currency;
use emporium_core::db::{bytewise, statement, utc_day};
use emporium_core::report::{Interval, Window, div_half_even};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

/// An order's goods before discounts, without the tax tax-inclusive prices contain.
const GROSS: &str = "(o.subtotal - CASE WHEN o.prices_include_tax THEN o.tax_total - o.shipping_tax ELSE 0 END)";
/// An order's shipping, without the tax a tax-inclusive price contains.
const SHIPPING: &str = "(o.shipping_total - CASE WHEN o.prices_include_tax THEN o.shipping_tax ELSE 0 END)";
/// Who placed an order: the customer, or a guest by their email.
const BUYER: &str = "COALESCE(o.customer_id, 'guest:' || LOWER(o.email))";

/// Sales figures of a stretch of time, in minor units of one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SalesFigures {
    /// Orders placed, cancelled ones included.
    pub orders: i64,
    pub units: i64,
    pub gross: i64,
    pub discounts: i64,
    /// Refunds issued.
    pub returns: i64,
    pub shipping: i64,
    pub tax: i64,
}

impl SalesFigures {
    /// `gross − discounts − returns`.
    pub fn net(&self) -> i64 {
        self.gross - self.discounts - self.returns
    }

    /// `net + shipping + tax`.
    pub fn total(&self) -> i64 {
        self.net() + self.shipping + self.tax
    }

    /// `(gross − discounts) / orders`, rounded half to even; 0 without orders.
    pub fn average_order_value(&self) -> i64 {
        div_half_even(self.gross - self.discounts, self.orders)
    }

    fn add(&mut self, other: &Self) {
        self.orders += other.orders;
        self.units += other.units;
        self.gross += other.gross;
        self.discounts += other.discounts;
        self.returns += other.returns;
        self.shipping += other.shipping;
        self.tax += other.tax;
    }
}

/// A sales report: the window's totals and one entry per bucket, empty ones included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesReport {
    pub totals: SalesFigures,
    /// Each bucket's start and figures.
    pub series: Vec<(DateTime<Utc>, SalesFigures)>,
}

fn day_of(row: &QueryResult) -> Result<NaiveDate, DbErr> {
    let text: String = row.try_get("", "day")?;
    NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|e| DbErr::Type(format!("a report day {text}: {e}")))
}

fn window_values(currency: Option<Currency>, window: &Window) -> Vec<Value> {
    let mut values: Vec<Value> = currency.map(|c| Value::from(c.code())).into_iter().collect();
    values.extend([window.from.into(), window.to.into()]);
    values
}

/// Sales in `currency` over `window`, in `interval` buckets.
pub async fn sales<C: ConnectionTrait>(
    db: &C,
    currency: Currency,
    window: &Window,
    interval: Interval,
) -> Result<SalesReport, DbErr> {
    let backend = db.get_database_backend();
    let mut days: HashMap<NaiveDate, SalesFigures> = HashMap::new();
    let placed = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT {day} AS day, COUNT(*) AS orders, \
                 CAST(SUM((SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = o.id)) AS BIGINT) AS units, \
                 CAST(SUM({GROSS}) AS BIGINT) AS gross, CAST(SUM(o.discount_total) AS BIGINT) AS discounts, \
                 CAST(SUM({SHIPPING}) AS BIGINT) AS shipping, CAST(SUM(o.tax_total) AS BIGINT) AS tax \
                 FROM orders o WHERE o.currency = ? AND o.created_at >= ? AND o.created_at < ? GROUP BY day",
                day = utc_day(backend, "o.created_at"),
            ),
            window_values(Some(currency), window),
        ))
        .await?;
    for row in &placed {
        let figures = days.entry(day_of(row)?).or_default();
        figures.orders += row.try_get::<i64>("", "orders")?;
        figures.units += row.try_get::<Option<i64>>("", "units")?.unwrap_or(0);
        figures.gross += row.try_get::<i64>("", "gross")?;
        figures.discounts += row.try_get::<i64>("", "discounts")?;
        figures.shipping += row.try_get::<i64>("", "shipping")?;
        figures.tax += row.try_get::<i64>("", "tax")?;
    }
    let refunded = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT {day} AS day, CAST(SUM(r.amount) AS BIGINT) AS returns \
                 FROM payment_refunds r JOIN payments p ON p.id = r.payment_id \
                 WHERE r.status = 'done' AND p.currency = ? AND r.settled_at >= ? AND r.settled_at < ? GROUP BY day",
                day = utc_day(backend, "r.settled_at"),
            ),
            window_values(Some(currency), window),
        ))
        .await?;
    for row in &refunded {
        days.entry(day_of(row)?).or_default().returns += row.try_get::<i64>("", "returns")?;
    }

    let starts = interval.buckets(window);
    let mut series: Vec<(DateTime<Utc>, SalesFigures)> =
        starts.iter().map(|start| (*start, SalesFigures::default())).collect();
    let mut totals = SalesFigures::default();
    for (day, figures) in &days {
        let at = Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN));
        let start = interval.start_of(at);
        if let Ok(slot) = series.binary_search_by(|(s, _)| s.cmp(&start)) {
            series[slot].1.add(figures);
        }
        totals.add(figures);
    }
    Ok(SalesReport { totals, series })
}

/// How carts created in a window went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conversion {
    pub carts_created: i64,
    /// Carts holding an item (an ordered cart keeps its items; a guest cart merged into a
    /// customer's at sign-in gave them away).
    pub carts_with_items: i64,
    /// Carts a checkout began on, whether or not it went through.
    pub checkouts_started: i64,
    pub orders_placed: i64,
    /// Carts with items, never ordered, unchanged since before `idle_since`.
    pub abandoned_carts: i64,
}

/// Conversion over the carts created in `window` (in `currency` only, when given); a cart is
/// abandoned once unchanged since before `idle_since` (now less the abandonment delay).
pub async fn conversion<C: ConnectionTrait>(
    db: &C,
    window: &Window,
    currency: Option<Currency>,
    idle_since: DateTime<Utc>,
) -> Result<Conversion, DbErr> {
    let with_items = "EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = c.id)";
    let mut values: Vec<Value> = vec![idle_since.into()];
    values.extend(window_values(None, window));
    let in_currency = match currency {
        Some(currency) => {
            values.push(currency.code().into());
            " AND c.currency = ?"
        }
        None => "",
    };
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT COUNT(*) AS created, \
                 CAST(COALESCE(SUM(CASE WHEN {with_items} THEN 1 ELSE 0 END), 0) AS BIGINT) AS with_items, \
                 CAST(COALESCE(SUM(CASE WHEN c.checkout_started_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS checkouts, \
                 CAST(COALESCE(SUM(CASE WHEN c.status = 'ordered' THEN 1 ELSE 0 END), 0) AS BIGINT) AS ordered, \
                 CAST(COALESCE(SUM(CASE WHEN c.status IN ('open', 'checking_out') AND c.updated_at < ? AND {with_items} \
                 THEN 1 ELSE 0 END), 0) AS BIGINT) AS abandoned \
                 FROM carts c WHERE c.created_at >= ? AND c.created_at < ?{in_currency}"
            ),
            values,
        ))
        .await?;
    let Some(row) = row else { return Ok(Conversion::default()) };
    Ok(Conversion {
        carts_created: row.try_get("", "created")?,
        carts_with_items: row.try_get("", "with_items")?,
        checkouts_started: row.try_get("", "checkouts")?,
        orders_placed: row.try_get("", "ordered")?,
        abandoned_carts: row.try_get("", "abandoned")?,
    })
}

/// Who bought, in one currency. Buyers are customers, and guests by their email; orders are
/// those not cancelled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customers {
    /// Buyers with an order in the window.
    pub buyers: i64,
    /// Buyers whose first order ever is in the window.
    pub new_buyers: i64,
    /// Orders in the window.
    pub orders: i64,
    /// Buyers with an order before `to`.
    pub buyers_ever: i64,
    /// Of them, those with two orders or more before `to`.
    pub repeat_buyers: i64,
    /// Net sales of every order before `to`, less refunds issued before `to`.
    pub net_sales_ever: i64,
    /// Up to 10 buyers of the window, most net sales first.
    pub top: Vec<TopBuyer>,
}

/// One of the window's best buyers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopBuyer {
    pub customer_id: Option<String>,
    pub email: String,
    /// Their orders in the window.
    pub orders: i64,
    /// Net sales of those orders, less their refunds issued before `to`.
    pub net_sales: i64,
}

/// How many buyers the customers report lists at most.
pub const TOP_BUYERS: u64 = 10;

/// Buyers over `window` in `currency`.
pub async fn customers<C: ConnectionTrait>(db: &C, currency: Currency, window: &Window) -> Result<Customers, DbErr> {
    let backend = db.get_database_backend();
    let kept = "o.currency = ? AND o.status <> 'cancelled'";
    let window_row = db
        .query_one_raw(statement(
            backend,
            &format!(
                "SELECT COUNT(*) AS orders, COUNT(DISTINCT {BUYER}) AS buyers FROM orders o \
                 WHERE {kept} AND o.created_at >= ? AND o.created_at < ?"
            ),
            window_values(Some(currency), window),
        ))
        .await?;
    let ever = db
        .query_one_raw(statement(
            backend,
            &format!(
                "SELECT COUNT(*) AS buyers, \
                 CAST(COALESCE(SUM(CASE WHEN placed >= 2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS repeat_buyers, \
                 CAST(COALESCE(SUM(CASE WHEN first_at >= ? THEN 1 ELSE 0 END), 0) AS BIGINT) AS new_buyers \
                 FROM (SELECT {BUYER} AS buyer, MIN(o.created_at) AS first_at, COUNT(*) AS placed FROM orders o \
                 WHERE {kept} AND o.created_at < ? GROUP BY {BUYER}) b"
            ),
            [window.from.into(), currency.code().into(), window.to.into()],
        ))
        .await?;
    let refunds_before = "COALESCE((SELECT SUM(r.amount) FROM payment_refunds r JOIN payments p ON p.id = r.payment_id \
         WHERE p.order_id = o.id AND r.status = 'done' AND r.settled_at < ?), 0)";
    let net = format!("{GROSS} - o.discount_total - {refunds_before}");
    let value = db
        .query_one_raw(statement(
            backend,
            &format!(
                "SELECT CAST(COALESCE(SUM({net}), 0) AS BIGINT) AS net FROM orders o WHERE {kept} AND o.created_at < ?"
            ),
            [window.to.into(), currency.code().into(), window.to.into()],
        ))
        .await?;
    let top = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT o.customer_id, MAX(o.email) AS email, COUNT(*) AS orders, CAST(SUM({net}) AS BIGINT) AS net \
                 FROM orders o WHERE {kept} AND o.created_at >= ? AND o.created_at < ? \
                 GROUP BY {BUYER}, o.customer_id ORDER BY net DESC, orders DESC, {email} ASC LIMIT ?",
                email = bytewise(backend, "MAX(o.email)"),
            ),
            [
                window.to.into(),
                currency.code().into(),
                window.from.into(),
                window.to.into(),
                (TOP_BUYERS as i64).into(),
            ],
        ))
        .await?;
    let get = |row: &Option<QueryResult>, column: &str| -> Result<i64, DbErr> {
        row.as_ref().map(|r| r.try_get::<i64>("", column)).transpose().map(Option::unwrap_or_default)
    };
    Ok(Customers {
        buyers: get(&window_row, "buyers")?,
        orders: get(&window_row, "orders")?,
        buyers_ever: get(&ever, "buyers")?,
        repeat_buyers: get(&ever, "repeat_buyers")?,
        new_buyers: get(&ever, "new_buyers")?,
        net_sales_ever: get(&value, "net")?,
        top: top
            .iter()
            .map(|row| {
                Ok(TopBuyer {
                    customer_id: row.try_get("", "customer_id")?,
                    email: row.try_get("", "email")?,
                    orders: row.try_get("", "orders")?,
                    net_sales: row.try_get("", "net")?,
                })
            })
            .collect::<Result<_, DbErr>>()?,
    })
}

/// How best sellers are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    Units,
    Revenue,
}

/// A best-selling SKU of a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestSeller {
    pub sku: String,
    pub product_id: String,
    /// Its title as ordered (the greatest, if it changed between orders).
    pub title: String,
    pub units: i64,
    /// Its lines' totals less their discounts (and less the tax tax-inclusive prices contain).
    pub revenue: i64,
    /// Units of it customers sent back (returns received, whose refunds follow).
    pub refunded_units: i64,
}

/// The best-selling SKUs of orders placed in `window` in `currency` (not cancelled).
pub async fn best_sellers<C: ConnectionTrait>(
    db: &C,
    currency: Currency,
    window: &Window,
    sort: ProductSort,
    limit: u64,
) -> Result<Vec<BestSeller>, DbErr> {
    let order = match sort {
        ProductSort::Units => "units DESC, revenue DESC",
        ProductSort::Revenue => "revenue DESC, units DESC",
    };
    let mut values = window_values(Some(currency), window);
    values.push((limit as i64).into());
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT l.sku, MAX(l.product_id) AS product_id, MAX(l.title) AS title, \
                 CAST(SUM(l.quantity) AS BIGINT) AS units, \
                 CAST(SUM(l.line_total - l.discount - CASE WHEN o.prices_include_tax THEN l.tax ELSE 0 END) AS BIGINT) AS revenue, \
                 CAST(SUM(l.returned_quantity) AS BIGINT) AS refunded_units \
                 FROM orders o JOIN order_lines l ON l.order_id = o.id \
                 WHERE o.currency = ? AND o.status <> 'cancelled' AND o.created_at >= ? AND o.created_at < ? \
                 GROUP BY l.sku ORDER BY {order}, {sku} ASC LIMIT ?",
                sku = bytewise(db.get_database_backend(), "l.sku"),
            ),
            values,
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(BestSeller {
                sku: row.try_get("", "sku")?,
                product_id: row.try_get("", "product_id")?,
                title: row.try_get("", "title")?,
                units: row.try_get("", "units")?,
                revenue: row.try_get("", "revenue")?,
                refunded_units: row.try_get("", "refunded_units")?,
            })
        })
        .collect()
}
