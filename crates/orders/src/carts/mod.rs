//! Carts: a guest's (reachable only by its unguessable id) or a customer's (theirs alone).
//! Lines are by SKU, one line per variant; prices always come from the catalog in the cart's
//! currency, and totals are computed afresh on every read ([`CartView`]).
//!
//! Every change first touches the cart row with `WHERE status = 'open'`: that row is what a
//! checkout also takes first, so a change and a checkout of one cart never interleave.

use chrono::{DateTime, Utc};
use emporium_core::db::{now, statement};
use emporium_core::{Currency, Money, ValidationErrors};
use emporium_customers::{Address, AddressInput};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

use crate::pricing::Totals;
use crate::setup::{self, Discount, PricingSettings, ShippingMethod};
use crate::{DiscountRefusal, OrderError};

mod claim;
mod details;
mod items;
mod view;

pub use claim::*;
pub use details::*;
pub use items::*;
pub use view::*;

/// Most units of one line.
pub const MAX_QUANTITY: i64 = 10_000;
/// Most lines one cart holds.
pub const MAX_ITEMS: usize = 100;
/// Most discount codes one cart holds.
pub const MAX_CODES: usize = 5;

/// Who is asking: carts and orders answer 404 to anyone but their owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No account: reaches guest carts by their id.
    Guest,
    /// A signed-in customer.
    Customer(String),
    /// Staff (orders: any; carts: like a guest).
    Staff,
}

impl Caller {
    fn customer_id(&self) -> Option<&str> {
        match self {
            Self::Customer(id) => Some(id),
            _ => None,
        }
    }
}

/// A cart's stored state.
#[derive(Debug, Clone)]
pub struct Cart {
    pub id: String,
    pub currency: Currency,
    pub customer_id: Option<String>,
    pub status: String,
    pub email: Option<String>,
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
    pub shipping_method_id: Option<String>,
    pub checkout_id: Option<String>,
    pub checkout_expires_at: Option<DateTime<Utc>>,
    pub order_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One line as the cart shows it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub variant_id: String,
    pub sku: String,
    pub product_id: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
    /// The line would take the cart's total past what money can hold (±(2^53 − 1) minor
    /// units), after a price rise say: it counts for nothing (its `line_total` is zero when
    /// it alone is too large) until its quantity is lowered, and checkout refuses the cart.
    pub over_limit: bool,
}

/// A cart with its lines priced and its totals.
#[derive(Debug, Clone)]
pub struct CartView {
    pub cart: Cart,
    pub items: Vec<Item>,
    /// Every code on the cart, applying or not.
    pub discount_codes: Vec<String>,
    /// The codes that apply to the totals now.
    pub applied: Vec<Discount>,
    /// The codes on the cart that do not apply now, and why (checkout refuses them).
    pub refused: Vec<(String, DiscountRefusal)>,
    /// The chosen method, if it still ships to the address in the cart's currency.
    pub shipping_method: Option<ShippingMethod>,
    pub prices_include_tax: bool,
    pub tax_rate_bp: i64,
    /// Whether the shop ships by zones (checkout then needs a method).
    pub ships_by_zones: bool,
    pub totals: Totals,
}

/// An address as JSON, as carts and orders store it.
pub fn address_json(a: &Address) -> serde_json::Value {
    serde_json::json!({
        "first_name": a.first_name, "last_name": a.last_name, "line1": a.line1, "line2": a.line2,
        "city": a.city, "region": a.region, "postal_code": a.postal_code, "country": a.country.as_str(),
        "phone": a.phone,
    })
}

/// An address read back from its JSON.
pub fn address_from_json(text: &str) -> Option<Address> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    AddressInput {
        first_name: s("first_name")?,
        last_name: s("last_name")?,
        line1: s("line1")?,
        line2: s("line2"),
        city: s("city")?,
        region: s("region"),
        postal_code: s("postal_code")?,
        country: s("country")?,
        phone: s("phone"),
    }
    .check("")
    .ok()
}

const CART_COLUMNS: &str = "id, currency, customer_id, status, email, shipping_address, billing_address, \
                            shipping_method_id, checkout_id, checkout_expires_at, order_id, created_at";
const CART: &str = "SELECT id, currency, customer_id, status, email, shipping_address, billing_address, \
                    shipping_method_id, checkout_id, checkout_expires_at, order_id, created_at FROM carts";

fn cart_of(row: &QueryResult) -> Result<Cart, sea_orm::DbErr> {
    let currency: String = row.try_get("", "currency")?;
    let address = |column: &str| -> Result<Option<Address>, sea_orm::DbErr> {
        Ok(row.try_get::<Option<String>>("", column)?.as_deref().and_then(address_from_json))
    };
    Ok(Cart {
        id: row.try_get("", "id")?,
        currency: Currency::parse(&currency).map_err(|e| sea_orm::DbErr::Type(e.to_string()))?,
        customer_id: row.try_get("", "customer_id")?,
        status: row.try_get("", "status")?,
        email: row.try_get("", "email")?,
        shipping_address: address("shipping_address")?,
        billing_address: address("billing_address")?,
        shipping_method_id: row.try_get("", "shipping_method_id")?,
        checkout_id: row.try_get("", "checkout_id")?,
        checkout_expires_at: row.try_get("", "checkout_expires_at")?,
        order_id: row.try_get("", "order_id")?,
        created_at: row.try_get("", "created_at")?,
    })
}

/// A new cart id: 122 random bits, since the id is all a guest needs to reach the cart.
fn new_cart_id() -> String {
    format!("cart_{}", uuid::Uuid::new_v4().simple())
}

/// Opens a cart in `currency` (the customer's if one is signed in, else a guest's), priced:
/// written and its settings read in one statement.
pub async fn create_cart<C: ConnectionTrait>(db: &C, caller: &Caller, currency: &str) -> Result<CartView, OrderError> {
    let currency = Currency::parse(currency)
        .map_err(|_| ValidationErrors::single("currency", "invalid_currency", "must be an upper-case ISO 4217 code"))?;
    let cart_id = new_cart_id();
    let at = now();
    let (columns, settings) = setup::pricing_columns(currency, None);
    let values: [Value; 5] =
        [cart_id.clone().into(), currency.code().into(), caller.customer_id().into(), at.into(), at.into()];
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "INSERT INTO carts (id, currency, customer_id, status, created_at, updated_at) \
                 VALUES (?, ?, ?, 'open', ?, ?) RETURNING {columns}"
            ),
            values.into_iter().chain(settings),
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    let cart = Cart {
        id: cart_id,
        currency,
        customer_id: caller.customer_id().map(str::to_owned),
        status: "open".to_owned(),
        email: None,
        shipping_address: None,
        billing_address: None,
        shipping_method_id: None,
        checkout_id: None,
        checkout_expires_at: None,
        order_id: None,
        created_at: at,
    };
    new_view(cart, PricingSettings::of(&row, false)?)
}

/// The cart if `caller` may reach it (404 otherwise, whether it exists or not).
pub async fn find<C: ConnectionTrait>(db: &C, cart_id: &str, caller: &Caller) -> Result<Cart, OrderError> {
    if !emporium_core::id::is_id("cart", cart_id) {
        return Err(OrderError::NotFound("cart"));
    }
    let row = db
        .query_one_raw(statement(db.get_database_backend(), &format!("{CART} WHERE id = ?"), [cart_id.into()]))
        .await?;
    let cart = row.as_ref().map(cart_of).transpose()?.ok_or(OrderError::NotFound("cart"))?;
    match &cart.customer_id {
        Some(owner) if caller.customer_id() != Some(owner.as_str()) => Err(OrderError::NotFound("cart")),
        _ => Ok(cart),
    }
}

fn refused_change(status: &str) -> OrderError {
    if status == "checking_out" { OrderError::CheckoutInProgress } else { OrderError::CartAlreadyCheckedOut }
}

/// The cart, locked for a change and read under that lock (so a change committed meanwhile is
/// seen, on PostgreSQL too): only an open cart of the caller's may change.
async fn open_for_change<C: ConnectionTrait>(db: &C, cart_id: &str, caller: &Caller) -> Result<Cart, OrderError> {
    if !emporium_core::id::is_id("cart", cart_id) {
        return Err(OrderError::NotFound("cart"));
    }
    let touched = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE carts SET updated_at = ? WHERE id = ? AND status = 'open' \
                 AND (customer_id IS NULL OR customer_id = ?) RETURNING {CART_COLUMNS}"
            ),
            [now().into(), cart_id.into(), caller.customer_id().into()],
        ))
        .await?;
    match touched {
        Some(row) => Ok(cart_of(&row)?),
        // Not the caller's (404), or not open: say which.
        None => Err(refused_change(&find(db, cart_id, caller).await?.status)),
    }
}

/// Takes the cart for a checkout named `checkout_id` until `until`, and reads it in the same
/// statement (so a change committed meanwhile is seen): only the caller's cart, open, or held
/// by this same checkout, or by one whose hold ran out. 409 otherwise.
pub async fn take_for_checkout<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    checkout_id: &str,
    at: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<Cart, OrderError> {
    let taken = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE carts SET status = 'checking_out', checkout_id = ?, checkout_expires_at = ?, updated_at = ?, \
                 checkout_started_at = COALESCE(checkout_started_at, ?) \
                 WHERE id = ? AND (customer_id IS NULL OR customer_id = ?) \
                 AND (status = 'open' OR (status = 'checking_out' AND (checkout_id = ? OR checkout_expires_at < ?))) \
                 RETURNING {CART_COLUMNS}"
            ),
            [
                checkout_id.into(),
                until.into(),
                at.into(),
                at.into(),
                cart_id.into(),
                caller.customer_id().into(),
                checkout_id.into(),
                at.into(),
            ],
        ))
        .await?;
    if let Some(row) = taken {
        return Ok(cart_of(&row)?);
    }
    let cart = find(db, cart_id, caller).await?;
    Err(if cart.status == "checking_out" { OrderError::CheckoutInProgress } else { OrderError::CartAlreadyCheckedOut })
}
