//! Carts: a guest's (reachable only by its unguessable id) or a customer's (theirs alone).
//! Lines are by SKU, one line per variant; prices always come from the catalog in the cart's
//! currency, and totals are computed afresh on every read ([`CartView`]).
//!
//! Every change first touches the cart row with `WHERE status = 'open'`: that row is what a
//! checkout also takes first, so a change and a checkout of one cart never interleave.

use chrono::{DateTime, Utc};
use emporium_catalog as catalog;
use emporium_core::db::{now, statement};
use emporium_core::{Currency, Money, Patch, ValidationErrors};
use emporium_customers::{Address, AddressInput, Email};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

use crate::pricing::{self, PricingInput, Reduction, ShippingPrice, Totals};
use crate::setup::{self, Discount, DiscountValue, PricingSettings, ShippingMethod};
use crate::{DiscountRefusal, OrderError};

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
                "UPDATE carts SET status = 'checking_out', checkout_id = ?, checkout_expires_at = ?, updated_at = ? \
                 WHERE id = ? AND (customer_id IS NULL OR customer_id = ?) \
                 AND (status = 'open' OR (status = 'checking_out' AND (checkout_id = ? OR checkout_expires_at < ?))) \
                 RETURNING {CART_COLUMNS}"
            ),
            [
                checkout_id.into(),
                until.into(),
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

/// Units of a cart line: a whole number from 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    /// The quantity, or the field error `quantity` / `out_of_range`.
    pub fn parse(quantity: i64) -> Result<Self, ValidationErrors> {
        if (1..=MAX_QUANTITY).contains(&quantity) {
            Ok(Self(quantity))
        } else {
            Err(ValidationErrors::single(
                "quantity",
                "out_of_range",
                format!("must be a whole number from 1 to {MAX_QUANTITY}"),
            ))
        }
    }

    /// The number of units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Adds `quantity` units of a SKU (to its line if the cart has one); also the variant as read,
/// priced in the cart's currency (for [`view_knowing`]).
pub async fn add_item<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    sku: &str,
    quantity: Quantity,
) -> Result<(Cart, catalog::Purchasable), OrderError> {
    let quantity = quantity.get();
    let cart = open_for_change(db, cart_id, caller).await?;
    let found = match emporium_core::Sku::parse(sku) {
        Some(sku) => catalog::purchasable_by_sku(db, &sku, cart.currency).await?,
        None => None,
    };
    let variant = found.ok_or_else(|| OrderError::UnknownSku { sku: sku.to_owned() })?;
    if !variant.purchasable {
        return Err(OrderError::NotPurchasable { sku: variant.sku });
    }
    if variant.price.is_none() {
        return Err(OrderError::NoPrice { sku: variant.sku, currency: cart.currency.code().to_owned() });
    }
    let backend = db.get_database_backend();
    // One guarded statement: a new line only while the cart has room for one, an existing
    // line only up to the most a line holds. The cart's lock keeps the count still.
    let added = db
        .execute_raw(statement(
            backend,
            "INSERT INTO cart_items (id, cart_id, variant_id, quantity, created_at) SELECT ?, ?, ?, ?, ? \
             WHERE (SELECT COUNT(*) FROM cart_items WHERE cart_id = ?) < ? \
             OR EXISTS (SELECT 1 FROM cart_items WHERE cart_id = ? AND variant_id = ?) \
             ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = cart_items.quantity + excluded.quantity \
             WHERE cart_items.quantity + excluded.quantity <= ?",
            [
                emporium_core::id::new_id("item").into(),
                cart_id.into(),
                variant.variant_id.clone().into(),
                quantity.into(),
                now().into(),
                cart_id.into(),
                (MAX_ITEMS as i64).into(),
                cart_id.into(),
                variant.variant_id.clone().into(),
                MAX_QUANTITY.into(),
            ],
        ))
        .await?;
    if added.rows_affected() == 0 {
        let has = db
            .query_one_raw(statement(
                backend,
                "SELECT 1 AS has FROM cart_items WHERE cart_id = ? AND variant_id = ?",
                [cart_id.into(), variant.variant_id.into()],
            ))
            .await?;
        return Err(if has.is_some() {
            ValidationErrors::single(
                "quantity",
                "out_of_range",
                format!("the line would hold more than {MAX_QUANTITY} units"),
            )
        } else {
            ValidationErrors::single("sku", "too_many_items", format!("a cart holds at most {MAX_ITEMS} lines"))
        }
        .into());
    }
    Ok((cart, variant))
}

/// Sets a line's quantity.
pub async fn set_quantity<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    item_id: &str,
    quantity: Quantity,
) -> Result<Cart, OrderError> {
    let quantity = quantity.get();
    let cart = open_for_change(db, cart_id, caller).await?;
    if !emporium_core::id::is_id("item", item_id) {
        return Err(OrderError::NotFound("cart item"));
    }
    let changed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE cart_items SET quantity = ? WHERE id = ? AND cart_id = ?",
            [quantity.into(), item_id.into(), cart_id.into()],
        ))
        .await?;
    if changed.rows_affected() == 0 {
        return Err(OrderError::NotFound("cart item"));
    }
    Ok(cart)
}

/// Removes a line.
pub async fn remove_item<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    item_id: &str,
) -> Result<Cart, OrderError> {
    let cart = open_for_change(db, cart_id, caller).await?;
    if !emporium_core::id::is_id("item", item_id) {
        return Err(OrderError::NotFound("cart item"));
    }
    let removed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM cart_items WHERE id = ? AND cart_id = ?",
            [item_id.into(), cart_id.into()],
        ))
        .await?;
    if removed.rows_affected() == 0 {
        return Err(OrderError::NotFound("cart item"));
    }
    Ok(cart)
}

/// What `PUT /v1/carts/{id}` changes: each field left out, cleared or set.
#[derive(Debug, Clone, Default)]
pub struct CartChange {
    pub email: Patch<String>,
    pub shipping_address: Patch<AddressInput>,
    pub billing_address: Patch<AddressInput>,
    pub shipping_method: Patch<String>,
}

/// Changes a cart's email, addresses or shipping method. A method must ship to the cart's
/// address (as changed) in its currency.
pub async fn update_cart<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    change: &CartChange,
) -> Result<Cart, OrderError> {
    let mut errors = ValidationErrors::new();
    let email = match &change.email {
        Patch::Value(e) => match Email::parse(e, "email") {
            Ok(email) => Patch::Value(email.as_str().to_owned()),
            Err(e) => {
                errors.extend(e);
                Patch::Missing
            }
        },
        Patch::Null => Patch::Null,
        Patch::Missing => Patch::Missing,
    };
    let address = |errors: &mut ValidationErrors, patch: &Patch<AddressInput>, prefix: &str| match patch {
        Patch::Value(a) => match a.check(prefix) {
            Ok(a) => Patch::Value(a),
            Err(e) => {
                errors.extend(e);
                Patch::Missing
            }
        },
        Patch::Null => Patch::Null,
        Patch::Missing => Patch::Missing,
    };
    let shipping = address(&mut errors, &change.shipping_address, "shipping_address.");
    let billing = address(&mut errors, &change.billing_address, "billing_address.");
    errors.finish(())?;
    if !emporium_core::id::is_id("cart", cart_id) {
        return Err(OrderError::NotFound("cart"));
    }
    // Locked, changed and read in one statement: each field is set when the change names it.
    // A method that does not ship to the result is refused after, and the caller's unit of
    // work rolls the change back.
    let (set_email, email) = sql_patch(email);
    let (set_shipping, shipping) = sql_patch(shipping.map(|a| address_json(&a).to_string()));
    let (set_billing, billing) = sql_patch(billing.map(|a| address_json(&a).to_string()));
    let (set_method, method) = sql_patch(change.shipping_method.clone());
    let changed = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "UPDATE carts SET email = CASE WHEN ? THEN ? ELSE email END, \
                 shipping_address = CASE WHEN ? THEN ? ELSE shipping_address END, \
                 billing_address = CASE WHEN ? THEN ? ELSE billing_address END, \
                 shipping_method_id = CASE WHEN ? THEN ? ELSE shipping_method_id END, updated_at = ? \
                 WHERE id = ? AND status = 'open' AND (customer_id IS NULL OR customer_id = ?) \
                 RETURNING {CART_COLUMNS}"
            ),
            [
                set_email.into(),
                email.into(),
                set_shipping.into(),
                shipping.into(),
                set_billing.into(),
                billing.into(),
                set_method.into(),
                method.into(),
                now().into(),
                cart_id.into(),
                caller.customer_id().into(),
            ],
        ))
        .await?;
    let cart = match changed {
        Some(row) => cart_of(&row)?,
        // Not the caller's (404), or not open: say which.
        None => return Err(refused_change(&find(db, cart_id, caller).await?.status)),
    };
    if let Patch::Value(id) = &change.shipping_method {
        let ships = match &cart.shipping_address {
            Some(a) => setup::methods_for(db, a.country.as_str(), cart.currency).await?.iter().any(|m| m.id == *id),
            None => false,
        };
        if !ships {
            return Err(ValidationErrors::single(
                "shipping_method",
                "unknown_shipping_method",
                "must be one of the cart's shipping methods (set the shipping address first)",
            )
            .into());
        }
    }
    Ok(cart)
}

/// A patch as two bound values: whether to set the column, and to what.
fn sql_patch<T>(patch: Patch<T>) -> (bool, Option<T>) {
    match patch {
        Patch::Missing => (false, None),
        Patch::Null => (true, None),
        Patch::Value(v) => (true, Some(v)),
    }
}

/// The key per-customer limits count under: the customer, else the cart's email.
pub fn customer_key(cart: &Cart) -> Option<String> {
    cart.customer_id.clone().or_else(|| cart.email.as_ref().map(|e| e.to_lowercase()))
}

/// Applies a discount code (422 `discount_invalid` with the reason when it cannot apply).
pub async fn apply_discount<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    code: &str,
) -> Result<Cart, OrderError> {
    let cart = open_for_change(db, cart_id, caller).await?;
    let found = if emporium_core::db::lookupable(code) { setup::discount_by_code(db, code).await? } else { None };
    let discount = found.ok_or(OrderError::DiscountInvalid(DiscountRefusal::Unknown))?;
    let view = view_of(db, cart).await?;
    if view.discount_codes.iter().any(|c| c == &discount.code) {
        return Ok(view.cart);
    }
    if view.discount_codes.len() >= MAX_CODES {
        return Err(ValidationErrors::single(
            "code",
            "too_many_codes",
            format!("a cart holds at most {MAX_CODES} codes"),
        )
        .into());
    }
    if let Some(reason) = setup::refusal(&discount, view.totals.subtotal, now()) {
        return Err(OrderError::DiscountInvalid(reason));
    }
    if let (Some(limit), Some(key)) = (discount.usage_limit_per_customer, customer_key(&view.cart))
        && setup::uses_by(db, &discount.id, &key).await? >= limit
    {
        return Err(OrderError::DiscountInvalid(DiscountRefusal::UsageLimitReached));
    }
    db.execute_raw(statement(
        db.get_database_backend(),
        "INSERT INTO cart_discounts (cart_id, discount_id, added_at) VALUES (?, ?, ?)",
        [cart_id.into(), discount.id.into(), now().into()],
    ))
    .await?;
    Ok(view.cart)
}

/// Removes a code from the cart (404 if the cart does not hold it).
pub async fn remove_discount<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
    code: &str,
) -> Result<Cart, OrderError> {
    let cart = open_for_change(db, cart_id, caller).await?;
    if !emporium_core::db::lookupable(code) {
        return Err(OrderError::NotFound("discount code on this cart"));
    }
    let removed = db
        .execute_raw(statement(
            db.get_database_backend(),
            "DELETE FROM cart_discounts WHERE cart_id = ? AND discount_id IN (SELECT id FROM discounts WHERE code_key = ?)",
            [cart_id.into(), setup::code_key(code).into()],
        ))
        .await?;
    if removed.rows_affected() == 0 {
        return Err(OrderError::NotFound("discount code on this cart"));
    }
    Ok(cart)
}

/// Makes a guest cart the customer's, merging it into their open cart in the same currency if
/// they have one (quantities added, up to the line limit). Returns the customer's cart id.
pub async fn claim<C: ConnectionTrait>(db: &C, cart_id: &str, customer_id: &str) -> Result<String, OrderError> {
    let caller = Caller::Customer(customer_id.to_owned());
    let cart = find(db, cart_id, &caller).await?;
    if cart.customer_id.is_some() {
        return Ok(cart.id);
    }
    // Under the lock: a concurrent claim by another customer makes this one 404.
    let cart = open_for_change(db, cart_id, &caller).await?;
    if cart.customer_id.is_some() {
        return Ok(cart.id);
    }
    let backend = db.get_database_backend();
    let existing = db
        .query_one_raw(statement(
            backend,
            "SELECT id FROM carts WHERE customer_id = ? AND status = 'open' AND currency = ? AND id <> ? \
             ORDER BY updated_at DESC, id DESC LIMIT 1",
            [customer_id.into(), cart.currency.code().into(), cart_id.into()],
        ))
        .await?;
    let Some(existing) = existing else {
        db.execute_raw(statement(
            backend,
            "UPDATE carts SET customer_id = ?, updated_at = ? WHERE id = ?",
            [customer_id.into(), now().into(), cart_id.into()],
        ))
        .await?;
        return Ok(cart.id);
    };
    let target: String = existing.try_get("", "id")?;
    open_for_change(db, &target, &caller).await?;
    let guest_items = db
        .query_all_raw(statement(
            backend,
            "SELECT variant_id, quantity FROM cart_items WHERE cart_id = ? ORDER BY created_at, id",
            [cart_id.into()],
        ))
        .await?;
    for row in guest_items {
        let (variant_id, quantity): (String, i64) = (row.try_get("", "variant_id")?, row.try_get("", "quantity")?);
        db.execute_raw(statement(
            backend,
            "INSERT INTO cart_items (id, cart_id, variant_id, quantity, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = \
             CASE WHEN cart_items.quantity + excluded.quantity > ? THEN ? ELSE cart_items.quantity + excluded.quantity END",
            [
                emporium_core::id::new_id("item").into(),
                target.clone().into(),
                variant_id.into(),
                quantity.into(),
                now().into(),
                MAX_QUANTITY.into(),
                MAX_QUANTITY.into(),
            ],
        ))
        .await?;
    }
    db.execute_raw(statement(
        backend,
        "INSERT INTO cart_discounts (cart_id, discount_id, added_at) SELECT ?, discount_id, added_at FROM cart_discounts \
         WHERE cart_id = ? AND discount_id NOT IN (SELECT discount_id FROM cart_discounts WHERE cart_id = ?)",
        [target.clone().into(), cart_id.into(), target.clone().into()],
    ))
    .await?;
    db.execute_raw(statement(backend, "DELETE FROM cart_items WHERE cart_id = ?", [cart_id.into()])).await?;
    db.execute_raw(statement(backend, "DELETE FROM cart_discounts WHERE cart_id = ?", [cart_id.into()])).await?;
    db.execute_raw(statement(
        backend,
        "UPDATE carts SET status = 'merged', customer_id = ?, updated_at = ? WHERE id = ?",
        [customer_id.into(), now().into(), cart_id.into()],
    ))
    .await?;
    Ok(target)
}

/// The cart as `caller` sees it, priced now.
pub async fn view<C: ConnectionTrait>(db: &C, cart_id: &str, caller: &Caller) -> Result<CartView, OrderError> {
    let cart = find(db, cart_id, caller).await?;
    view_of(db, cart).await
}

/// The methods that ship to the cart's address in its currency (none without an address).
pub async fn shipping_methods<C: ConnectionTrait>(
    db: &C,
    cart_id: &str,
    caller: &Caller,
) -> Result<Vec<ShippingMethod>, OrderError> {
    let cart = find(db, cart_id, caller).await?;
    Ok(match &cart.shipping_address {
        Some(a) => setup::methods_for(db, a.country.as_str(), cart.currency).await?,
        None => Vec::new(),
    })
}

/// The view of a cart just opened ([`create_cart`]): no lines, codes or address to read.
fn new_view(cart: Cart, settings: PricingSettings) -> Result<CartView, OrderError> {
    let prices_include_tax = settings.prices_include_tax;
    let totals = pricing::totals(&PricingInput {
        currency: cart.currency,
        prices_include_tax,
        lines: Vec::new(),
        reductions: Vec::new(),
        shipping: None,
        tax_rate_bp: 0,
    })?;
    Ok(CartView {
        discount_codes: Vec::new(),
        cart,
        items: Vec::new(),
        applied: Vec::new(),
        refused: Vec::new(),
        shipping_method: None,
        prices_include_tax,
        tax_rate_bp: 0,
        ships_by_zones: settings.ships_by_zones,
        totals,
    })
}

/// Prices a cart: lines from the catalog (lines whose product can no longer be bought, or has
/// no price in the currency, are left out), codes that apply now, the chosen method if it
/// still ships to the address, and the address's tax rate.
pub async fn view_of<C: ConnectionTrait>(db: &C, cart: Cart) -> Result<CartView, OrderError> {
    view_knowing(db, cart, Vec::new()).await
}

/// [`view_of`], given variants already read in this transaction in the cart's currency (the
/// one just added): the catalog is asked only for the others.
pub async fn view_knowing<C: ConnectionTrait>(
    db: &C,
    cart: Cart,
    known: Vec<catalog::Purchasable>,
) -> Result<CartView, OrderError> {
    let backend = db.get_database_backend();
    // Lines, codes and the settings that price them in one statement: kind 0 a line (id,
    // variant, quantity), 1 a code, 2 the settings (typed NULLs elsewhere, for PostgreSQL's
    // UNION).
    let address = cart.shipping_address.as_ref().map(|a| (a.country.as_str(), a.region.as_deref()));
    let (columns, settings) = setup::pricing_columns(cart.currency, address);
    let values: [Value; 2] = [cart.id.clone().into(), cart.id.clone().into()];
    let rows = db
        .query_all_raw(statement(
            backend,
            &format!(
                "SELECT 0 AS kind, id, variant_id, quantity, created_at AS at, CAST(NULL AS BOOLEAN) AS prices_include_tax, \
                 CAST(NULL AS BIGINT) AS rate_bp, CAST(NULL AS INTEGER) AS zones FROM cart_items WHERE cart_id = ? \
                 UNION ALL SELECT 1 AS kind, discount_id, NULL, 0, added_at, NULL, NULL, NULL FROM cart_discounts \
                 WHERE cart_id = ? UNION ALL SELECT 2 AS kind, NULL, NULL, 0, NULL, {columns} ORDER BY kind, at, id"
            ),
            values.into_iter().chain(settings),
        ))
        .await?;
    let mut stored = Vec::with_capacity(rows.len());
    let mut discount_ids = Vec::new();
    let mut read_settings = None;
    for row in &rows {
        match row.try_get::<i32>("", "kind")? {
            0 => stored.push((
                row.try_get::<String>("", "id")?,
                row.try_get::<String>("", "variant_id")?,
                row.try_get::<i64>("", "quantity")?,
            )),
            1 => discount_ids.push(row.try_get::<String>("", "id")?),
            _ => read_settings = Some(PricingSettings::of(row, address.is_some())?),
        }
    }
    let settings = read_settings.ok_or_else(|| DbErr::RecordNotFound("the cart's pricing settings".to_owned()))?;
    let ids: Vec<String> =
        stored.iter().map(|(_, v, _)| v.clone()).filter(|v| !known.iter().any(|k| &k.variant_id == v)).collect();
    let mut priced = known;
    priced.extend(catalog::purchasables(db, &ids, cart.currency.code()).await?);
    let mut items = Vec::with_capacity(stored.len());
    for (id, variant_id, quantity) in stored {
        let Some(p) = priced.iter().find(|p| p.variant_id == variant_id && p.purchasable) else { continue };
        let Some(price) = p.price else { continue };
        let unit_price = Money::new(price, cart.currency)?;
        items.push(Item {
            id,
            variant_id,
            sku: p.sku.clone(),
            product_id: p.product_id.clone(),
            title: p.title.clone(),
            quantity,
            unit_price,
            line_total: unit_price.checked_mul(quantity).unwrap_or(Money::zero(cart.currency)),
            over_limit: unit_price.checked_mul(quantity).is_err(),
        });
    }
    let mut discounts = Vec::new();
    for id in &discount_ids {
        if let Some(d) = setup::get_discount(db, id).await? {
            discounts.push(d);
        }
    }
    let subtotal = Money::sum(cart.currency, items.iter().filter(|i| !i.over_limit).map(|i| i.line_total))
        .unwrap_or(Money::zero(cart.currency));
    let at = now();
    let mut applied = Vec::new();
    let mut refused = Vec::new();
    for discount in &discounts {
        match setup::refusal(discount, subtotal, at) {
            None => applied.push(discount.clone()),
            Some(reason) => refused.push((discount.code.clone(), reason)),
        }
    }
    let shipping_method = match (&cart.shipping_address, &cart.shipping_method_id) {
        (Some(address), Some(id)) => {
            setup::methods_for(db, address.country.as_str(), cart.currency).await?.into_iter().find(|m| &m.id == id)
        }
        _ => None,
    };
    let (prices_include_tax, tax_rate_bp) = (settings.prices_include_tax, settings.tax_rate_bp);
    // Lines that would take a total past the money bound are left out of the totals, last
    // first, so the cart still reads and the shopper can lower them (checkout refuses it).
    let totals = loop {
        let priced = pricing::totals(&PricingInput {
            currency: cart.currency,
            prices_include_tax,
            lines: items.iter().filter(|i| !i.over_limit).map(|i| (i.unit_price, i.quantity)).collect(),
            reductions: applied
                .iter()
                .map(|d| match d.value {
                    DiscountValue::Percentage(bp) => Reduction::Percentage(bp),
                    DiscountValue::Fixed(m) => Reduction::Fixed(m),
                    DiscountValue::FreeShipping => Reduction::FreeShipping,
                })
                .collect(),
            shipping: shipping_method.as_ref().map(|m| ShippingPrice { price: m.price, free_over: m.free_over }),
            tax_rate_bp,
        });
        match priced {
            Ok(totals) => break totals,
            Err(err) => match items.iter_mut().rev().find(|i| !i.over_limit) {
                Some(line) => line.over_limit = true,
                None => return Err(err.into()),
            },
        }
    };
    Ok(CartView {
        discount_codes: discounts.into_iter().map(|d| d.code).collect(),
        cart,
        items,
        applied,
        refused,
        shipping_method,
        prices_include_tax,
        tax_rate_bp,
        ships_by_zones: settings.ships_by_zones,
        totals,
    })
}
