//! Orders: what was bought, at which price, kept as placed (later catalog changes do not
//! change it), with a status machine and a history every change appends to.

use chrono::{DateTime, Utc};
use emporium_core::db::{now, statement};
use emporium_core::{Currency, Money, id};
use emporium_customers::Address;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};

use crate::OrderError;
use crate::carts::{Caller, CartView, address_from_json, address_json};

/// An order's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Paid,
    PartiallyFulfilled,
    Fulfilled,
    Delivered,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 7] = [
        Self::Paid,
        Self::PartiallyFulfilled,
        Self::Fulfilled,
        Self::Delivered,
        Self::Cancelled,
        Self::PartiallyRefunded,
        Self::Refunded,
    ];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::Fulfilled => "fulfilled",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    /// Parses a status name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether units can still be shipped from an order in this status.
    pub fn can_ship(self) -> bool {
        matches!(self, Self::Paid | Self::PartiallyFulfilled | Self::PartiallyRefunded)
    }

    /// Reads a stored status.
    fn stored(text: &str) -> Result<Self, sea_orm::DbErr> {
        Self::parse(text).ok_or_else(|| sea_orm::DbErr::Type(format!("unknown order status {text}")))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line as bought.
#[derive(Debug, Clone)]
pub struct OrderLine {
    /// Its place in the order (lines are addressed by SKU; one line per SKU).
    pub position: i32,
    pub variant_id: String,
    pub sku: String,
    pub product_id: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
    /// Its share of the order's discount.
    pub discount: Money,
    pub tax: Money,
    pub fulfilled_quantity: i64,
    pub returned_quantity: i64,
    /// Units sold ahead of stock, still owed from it.
    pub backordered: i64,
}

impl OrderLine {
    /// What the shopper paid for the line: after its discount share, with its tax when prices
    /// exclude tax (contained otherwise).
    pub fn paid(&self, prices_include_tax: bool) -> Result<Money, emporium_core::MoneyError> {
        let net = self.line_total.checked_sub(self.discount)?;
        if prices_include_tax { Ok(net) } else { net.checked_add(self.tax) }
    }

    /// The share of [`OrderLine::paid`] that `units` of the line carry (largest remainder, so
    /// the shares of all units sum to what was paid).
    pub fn share(&self, units: i64, prices_include_tax: bool) -> Result<Money, emporium_core::MoneyError> {
        let paid = self.paid(prices_include_tax)?;
        if units >= self.quantity {
            return Ok(paid);
        }
        Ok(paid.allocate(&[units, self.quantity - units])?[0])
    }
}

/// A shipment of some of an order's units.
#[derive(Debug, Clone)]
pub struct Fulfillment {
    pub id: String,
    /// SKU and units.
    pub items: Vec<(String, i64)>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the carrier delivered it, once someone said so.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A return of some of an order's units.
#[derive(Debug, Clone)]
pub struct ReturnRecord {
    pub id: String,
    pub order_id: String,
    /// `requested`, `received` or `refunded`.
    pub status: String,
    /// SKU and units.
    pub items: Vec<(String, i64)>,
    pub reason: Option<String>,
    pub refunded: Option<Money>,
    pub created_at: DateTime<Utc>,
}

/// The shipping method as chosen at checkout.
#[derive(Debug, Clone)]
pub struct ShippingChoice {
    pub id: String,
    pub name: String,
    pub price: Money,
}

/// One entry of an order's history.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// The status the order moved to, if it moved.
    pub status: Option<Status>,
    /// What happened, when it was not a status move (`payment_captured`, `fulfillment_created`).
    pub event: Option<String>,
    /// Who did it: a staff member, an API key, a customer; none for the shopper at checkout.
    pub actor: Option<String>,
    pub note: Option<String>,
}

/// An order.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub number: i64,
    pub status: Status,
    pub currency: Currency,
    pub email: String,
    pub customer_id: Option<String>,
    pub lines: Vec<OrderLine>,
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
    pub shipping_method: Option<ShippingChoice>,
    pub discount_codes: Vec<String>,
    pub prices_include_tax: bool,
    pub subtotal: Money,
    pub discount_total: Money,
    pub shipping_total: Money,
    pub tax_total: Money,
    pub total: Money,
    pub captured: Money,
    pub refunded: Money,
    pub fulfillments: Vec<Fulfillment>,
    pub returns: Vec<ReturnRecord>,
    pub history: Vec<HistoryEntry>,
    pub created_at: DateTime<Utc>,
}

impl Order {
    /// The line of a SKU.
    pub fn line(&self, sku: &str) -> Option<&OrderLine> {
        self.lines.iter().find(|l| l.sku == sku)
    }
}

/// A new order id: random, since a guest reaches their order by its id alone.
pub fn new_order_id() -> String {
    format!("ord_{}", uuid::Uuid::new_v4().simple())
}

/// Places the order a priced cart describes, paid `captured`: the order, its lines, its
/// first history entry and its `order.placed` and `order.paid` events, in the caller's
/// transaction (the one that commits the stock).
pub async fn place<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
    view: &CartView,
    email: &str,
    captured: Money,
    backordered: &[emporium_inventory::Backordered],
) -> Result<Order, OrderError> {
    let backend = db.get_database_backend();
    let number = match backend {
        DbBackend::Postgres => "nextval('order_numbers')",
        // One writer at a time: the next number is taken under the write lock.
        _ => "(SELECT COALESCE(MAX(number), 1000) + 1 FROM orders)",
    };
    let t = &view.totals;
    let at = now();
    let method = view.shipping_method.as_ref().map(|m| {
        serde_json::json!({"id": m.id, "name": m.name, "amount": t.shipping_total.amount(), "list_price": m.price.amount()})
            .to_string()
    });
    let codes: Vec<String> = view.applied.iter().map(|d| d.code.clone()).collect();
    let order_sql = format!(
        "INSERT INTO orders (id, number, cart_id, status, currency, email, customer_id, shipping_address, \
         billing_address, shipping_method, discount_codes, prices_include_tax, subtotal, discount_total, \
         shipping_total, shipping_tax, tax_total, total, captured, refunded, created_at, updated_at) \
         VALUES (?, {number}, ?, 'paid', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING number"
    );
    let order_values: Vec<sea_orm::Value> = vec![
        order_id.into(),
        view.cart.id.clone().into(),
        view.cart.currency.code().into(),
        email.into(),
        view.cart.customer_id.clone().into(),
        view.cart.shipping_address.as_ref().map(|a| address_json(a).to_string()).unwrap_or_default().into(),
        view.cart.billing_address.as_ref().map(|a| address_json(a).to_string()).into(),
        method.into(),
        serde_json::json!(codes).to_string().into(),
        view.prices_include_tax.into(),
        t.subtotal.amount().into(),
        t.discount_total.amount().into(),
        t.shipping_total.amount().into(),
        t.shipping_tax.amount().into(),
        t.tax_total.amount().into(),
        t.total.amount().into(),
        captured.amount().into(),
        at.into(),
        at.into(),
    ];
    // The answer is built from what was written: nothing is read back.
    let lines: Vec<OrderLine> = view
        .items
        .iter()
        .zip(&t.lines)
        .enumerate()
        .map(|(position, (item, line))| OrderLine {
            position: position as i32,
            variant_id: item.variant_id.clone(),
            sku: item.sku.clone(),
            product_id: item.product_id.clone(),
            title: item.title.clone(),
            quantity: item.quantity,
            unit_price: item.unit_price,
            line_total: line.line_total,
            discount: line.discount,
            tax: line.tax,
            fulfilled_quantity: 0,
            returned_quantity: 0,
            backordered: backordered.iter().filter(|b| b.variant_id == item.variant_id).map(|b| b.quantity).sum(),
        })
        .collect();
    // The lines in one statement.
    let mut lines_sql = String::from(
        "INSERT INTO order_lines (order_id, position, variant_id, sku, product_id, title, quantity, unit_price, \
         line_total, discount, tax, backordered) VALUES ",
    );
    let mut line_values: Vec<sea_orm::Value> = Vec::with_capacity(lines.len() * 12);
    for (i, line) in lines.iter().enumerate() {
        lines_sql.push_str(if i == 0 {
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        });
        line_values.extend([
            order_id.into(),
            line.position.into(),
            line.variant_id.clone().into(),
            line.sku.clone().into(),
            line.product_id.clone().into(),
            line.title.clone().into(),
            line.quantity.into(),
            line.unit_price.amount().into(),
            line.line_total.amount().into(),
            line.discount.amount().into(),
            line.tax.amount().into(),
            line.backordered.into(),
        ]);
    }
    let (history_sql, history_values) = history_row(order_id, Some(Status::Paid), None, None, None, at);
    let paid_at = at;
    let placed = if backend == DbBackend::Postgres && !lines.is_empty() {
        // Order, lines and history in one statement (the lines' and history's references to
        // the order are checked at its end).
        let sql = format!(
            "WITH placed AS ({order_sql}), placed_lines AS ({lines_sql}), placed_history AS ({history_sql}) \
             SELECT number FROM placed"
        );
        let values = order_values.into_iter().chain(line_values).chain(history_values);
        db.query_one_raw(statement(backend, &sql, values)).await?.ok_or(OrderError::NotFound("order"))?
    } else {
        let placed = db
            .query_one_raw(statement(backend, &order_sql, order_values))
            .await?
            .ok_or(OrderError::NotFound("order"))?;
        if !lines.is_empty() {
            db.execute_raw(statement(backend, &lines_sql, line_values)).await?;
        }
        db.execute_raw(statement(backend, history_sql, history_values)).await?;
        placed
    };
    crate::sales::add(db, &lines).await?;
    let currency = view.cart.currency;
    Ok(Order {
        id: order_id.to_owned(),
        number: placed.try_get("", "number")?,
        status: Status::Paid,
        currency,
        email: email.to_owned(),
        customer_id: view.cart.customer_id.clone(),
        lines,
        shipping_address: view.cart.shipping_address.clone(),
        billing_address: view.cart.billing_address.clone(),
        shipping_method: view.shipping_method.as_ref().map(|m| ShippingChoice {
            id: m.id.clone(),
            name: m.name.clone(),
            price: t.shipping_total,
        }),
        discount_codes: codes,
        prices_include_tax: view.prices_include_tax,
        subtotal: t.subtotal,
        discount_total: t.discount_total,
        shipping_total: t.shipping_total,
        tax_total: t.tax_total,
        total: t.total,
        captured,
        refunded: Money::zero(currency),
        fulfillments: Vec::new(),
        returns: Vec::new(),
        history: vec![HistoryEntry { at: paid_at, status: Some(Status::Paid), event: None, actor: None, note: None }],
        created_at: at,
    })
}

/// Appends an entry to an order's history; the time it records.
pub async fn append_history<C: ConnectionTrait>(
    db: &C,
    order_id: &str,
    status: Option<Status>,
    event: Option<&str>,
    actor: Option<&str>,
    note: Option<&str>,
) -> Result<DateTime<Utc>, sea_orm::DbErr> {
    let at = now();
    let (sql, values) = history_row(order_id, status, event, actor, note, at);
    db.execute_raw(statement(db.get_database_backend(), sql, values)).await?;
    Ok(at)
}

/// The statement that appends one history entry, and its values.
fn history_row(
    order_id: &str,
    status: Option<Status>,
    event: Option<&str>,
    actor: Option<&str>,
    note: Option<&str>,
    at: DateTime<Utc>,
) -> (&'static str, [sea_orm::Value; 7]) {
    (
        "INSERT INTO order_history (id, order_id, status, event, actor, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            id::new_id("hist").into(),
            order_id.into(),
            status.map(Status::as_str).into(),
            event.into(),
            actor.into(),
            note.into(),
            at.into(),
        ],
    )
}

const ORDER: &str = "SELECT id, number, status, currency, email, customer_id, shipping_address, billing_address, \
                     shipping_method, discount_codes, prices_include_tax, subtotal, discount_total, shipping_total, \
                     tax_total, total, captured, refunded, created_at FROM orders";

fn money(amount: i64, currency: Currency) -> Result<Money, sea_orm::DbErr> {
    Money::new(amount, currency).map_err(|e| sea_orm::DbErr::Type(e.to_string()))
}

fn order_of(row: &QueryResult) -> Result<Order, sea_orm::DbErr> {
    let code: String = row.try_get("", "currency")?;
    let currency = Currency::parse(&code).map_err(|e| sea_orm::DbErr::Type(e.to_string()))?;
    let address = |column: &str| -> Result<Option<Address>, sea_orm::DbErr> {
        Ok(row.try_get::<Option<String>>("", column)?.as_deref().and_then(address_from_json))
    };
    let method: Option<String> = row.try_get("", "shipping_method")?;
    let shipping_method = method.and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok()).and_then(|v| {
        Some(ShippingChoice {
            id: v.get("id")?.as_str()?.to_owned(),
            name: v.get("name")?.as_str()?.to_owned(),
            price: Money::new(v.get("amount")?.as_i64()?, currency).ok()?,
        })
    });
    let codes: String = row.try_get("", "discount_codes")?;
    let at = |column: &str| -> Result<Money, sea_orm::DbErr> { money(row.try_get("", column)?, currency) };
    Ok(Order {
        id: row.try_get("", "id")?,
        number: row.try_get("", "number")?,
        status: Status::stored(&row.try_get::<String>("", "status")?)?,
        currency,
        email: row.try_get("", "email")?,
        customer_id: row.try_get("", "customer_id")?,
        lines: Vec::new(),
        shipping_address: address("shipping_address")?,
        billing_address: address("billing_address")?,
        shipping_method,
        discount_codes: serde_json::from_str(&codes).unwrap_or_default(),
        prices_include_tax: row.try_get("", "prices_include_tax")?,
        subtotal: at("subtotal")?,
        discount_total: at("discount_total")?,
        shipping_total: at("shipping_total")?,
        tax_total: at("tax_total")?,
        total: at("total")?,
        captured: at("captured")?,
        refunded: at("refunded")?,
        fulfillments: Vec::new(),
        returns: Vec::new(),
        history: Vec::new(),
        created_at: row.try_get("", "created_at")?,
    })
}

async fn complete<C: ConnectionTrait>(db: &C, mut order: Order) -> Result<Order, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let lines = db
        .query_all_raw(statement(
            backend,
            "SELECT variant_id, sku, product_id, title, quantity, unit_price, line_total, discount, tax, \
             fulfilled_quantity, returned_quantity, backordered, position FROM order_lines WHERE order_id = ? ORDER BY position",
            [order.id.clone().into()],
        ))
        .await?;
    for row in lines {
        order.lines.push(OrderLine {
            variant_id: row.try_get("", "variant_id")?,
            sku: row.try_get("", "sku")?,
            product_id: row.try_get("", "product_id")?,
            title: row.try_get("", "title")?,
            quantity: row.try_get("", "quantity")?,
            unit_price: money(row.try_get("", "unit_price")?, order.currency)?,
            line_total: money(row.try_get("", "line_total")?, order.currency)?,
            discount: money(row.try_get("", "discount")?, order.currency)?,
            tax: money(row.try_get("", "tax")?, order.currency)?,
            fulfilled_quantity: row.try_get("", "fulfilled_quantity")?,
            returned_quantity: row.try_get("", "returned_quantity")?,
            backordered: row.try_get("", "backordered")?,
            position: row.try_get("", "position")?,
        });
    }
    let sku_at =
        |position: i32| order.lines.iter().find(|l| l.position == position).map(|l| l.sku.clone()).unwrap_or_default();
    let shipped = db
        .query_all_raw(statement(
            backend,
            "SELECT f.id, f.carrier, f.tracking_number, f.created_at, i.position, i.quantity, f.delivered_at FROM fulfillments f \
             JOIN fulfillment_items i ON i.fulfillment_id = f.id WHERE f.order_id = ? ORDER BY f.id, i.position",
            [order.id.clone().into()],
        ))
        .await?;
    for row in shipped {
        let id: String = row.try_get("", "id")?;
        let item = (sku_at(row.try_get("", "position")?), row.try_get::<i64>("", "quantity")?);
        match order.fulfillments.last_mut() {
            Some(last) if last.id == id => last.items.push(item),
            _ => order.fulfillments.push(Fulfillment {
                id,
                items: vec![item],
                carrier: row.try_get("", "carrier")?,
                tracking_number: row.try_get("", "tracking_number")?,
                created_at: row.try_get("", "created_at")?,
                delivered_at: row.try_get("", "delivered_at")?,
            }),
        }
    }
    let returned = db
        .query_all_raw(statement(
            backend,
            "SELECT r.id, r.status, r.reason, r.refunded, r.created_at, i.position, i.quantity FROM returns r \
             JOIN return_items i ON i.return_id = r.id WHERE r.order_id = ? ORDER BY r.id, i.position",
            [order.id.clone().into()],
        ))
        .await?;
    for row in returned {
        let id: String = row.try_get("", "id")?;
        let item = (sku_at(row.try_get("", "position")?), row.try_get::<i64>("", "quantity")?);
        match order.returns.last_mut() {
            Some(last) if last.id == id => last.items.push(item),
            _ => {
                let refunded: Option<i64> = row.try_get("", "refunded")?;
                order.returns.push(ReturnRecord {
                    id,
                    order_id: order.id.clone(),
                    status: row.try_get("", "status")?,
                    items: vec![item],
                    reason: row.try_get("", "reason")?,
                    refunded: refunded.map(|r| money(r, order.currency)).transpose()?,
                    created_at: row.try_get("", "created_at")?,
                })
            }
        }
    }
    let history = db
        .query_all_raw(statement(
            backend,
            "SELECT created_at, status, event, actor, note FROM order_history WHERE order_id = ? ORDER BY id",
            [order.id.clone().into()],
        ))
        .await?;
    for row in history {
        order.history.push(HistoryEntry {
            at: row.try_get("", "created_at")?,
            status: row.try_get::<Option<String>>("", "status")?.as_deref().map(Status::stored).transpose()?,
            event: row.try_get("", "event")?,
            actor: row.try_get("", "actor")?,
            note: row.try_get("", "note")?,
        });
    }
    Ok(order)
}

/// An order by id, whoever asks (callers check access with [`get`]).
pub async fn read<C: ConnectionTrait>(db: &C, order_id: &str) -> Result<Option<Order>, sea_orm::DbErr> {
    let row = db
        .query_one_raw(statement(db.get_database_backend(), &format!("{ORDER} WHERE id = ?"), [order_id.into()]))
        .await?;
    match row.as_ref().map(order_of).transpose()? {
        Some(order) => Ok(Some(complete(db, order).await?)),
        None => Ok(None),
    }
}

/// The order if `caller` may see it: its customer, staff, or (a guest's order) whoever holds
/// its id. Anyone else gets 404.
pub async fn get<C: ConnectionTrait>(db: &C, order_id: &str, caller: &Caller) -> Result<Order, OrderError> {
    if !id::is_id("ord", order_id) {
        return Err(OrderError::NotFound("order"));
    }
    let order = read(db, order_id).await?.ok_or(OrderError::NotFound("order"))?;
    match (&order.customer_id, caller) {
        (_, Caller::Staff) | (None, _) => Ok(order),
        (Some(owner), Caller::Customer(id)) if owner == id => Ok(order),
        _ => Err(OrderError::NotFound("order")),
    }
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub customer_id: Option<String>,
    pub status: Option<Status>,
}

/// Up to `limit` orders, newest first, after the order `before` (a cursor's id).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    filter: &OrderFilter,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<Order>, sea_orm::DbErr> {
    let mut sql = format!("{ORDER} WHERE 1 = 1");
    let mut values: Vec<sea_orm::Value> = Vec::new();
    if let Some(customer) = &filter.customer_id {
        sql.push_str(" AND customer_id = ?");
        values.push(customer.clone().into());
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        values.push(status.as_str().into());
    }
    if let Some(before) = before {
        sql.push_str(" AND number < (SELECT number FROM orders WHERE id = ?)");
        values.push(before.into());
    }
    sql.push_str(" ORDER BY number DESC LIMIT ?");
    values.push((limit as i64).into());
    let rows = db.query_all_raw(statement(db.get_database_backend(), &sql, values)).await?;
    let mut orders = Vec::with_capacity(rows.len());
    for row in &rows {
        orders.push(complete(db, order_of(row)?).await?);
    }
    Ok(orders)
}

/// A customer's orders: how many, and what they spent per currency (captured less refunded),
/// cancelled orders left out of the count.
pub async fn customer_figures<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> Result<(i64, Vec<Money>), sea_orm::DbErr> {
    let rows = db
        .query_all_raw(statement(
            db.get_database_backend(),
            "SELECT currency, CAST(SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE 1 END) AS BIGINT) AS orders, \
             CAST(SUM(captured - refunded) AS BIGINT) AS spent FROM orders WHERE customer_id = ? GROUP BY currency ORDER BY currency",
            [customer_id.into()],
        ))
        .await?;
    let mut count = 0;
    let mut spent = Vec::new();
    for row in rows {
        let code: String = row.try_get("", "currency")?;
        let currency = Currency::parse(&code).map_err(|e| sea_orm::DbErr::Type(e.to_string()))?;
        count += row.try_get::<i64>("", "orders")?;
        spent.push(money(row.try_get("", "spent")?, currency)?);
    }
    Ok((count, spent))
}

/// Whether a customer has a paid order (not cancelled, not wholly refunded) holding a product:
/// what a review needs. Reads the customer's own orders only.
pub async fn has_bought<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
    product_id: &str,
) -> Result<bool, sea_orm::DbErr> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            "SELECT 1 AS found FROM orders o JOIN order_lines l ON l.order_id = o.id \
             WHERE o.customer_id = ? AND l.product_id = ? AND o.status NOT IN ('cancelled', 'refunded') LIMIT 1",
            [customer_id.into(), product_id.into()],
        ))
        .await?;
    Ok(row.is_some())
}
