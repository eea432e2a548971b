//! What carts and orders look like on the wire: DTOs and their conversions from the domain.

use async_graphql::{InputObject, SimpleObject};

use super::*;

/// A postal address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject, InputObject)]
#[schema(as = Address)]
#[graphql(name = "Address", input_name = "AddressInput")]
#[serde(deny_unknown_fields)]
pub struct AddressDto {
    #[schema(min_length = 1, max_length = 100)]
    pub first_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub last_name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "FR", min_length = 2, max_length = 2)]
    pub country: String,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
}

impl From<&Address> for AddressDto {
    fn from(a: &Address) -> Self {
        Self {
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.as_str().to_owned(),
            phone: a.phone.clone(),
        }
    }
}

impl From<AddressDto> for AddressInput {
    fn from(a: AddressDto) -> Self {
        Self {
            first_name: a.first_name,
            last_name: a.last_name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
        }
    }
}

/// A way to ship.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = ShippingMethod)]
#[graphql(name = "ShippingMethod")]
pub struct ShippingMethodDto {
    pub id: String,
    pub name: String,
    pub price: AmountDto,
    /// Free when the subtotal after discounts reaches this.
    pub free_over: Option<AmountDto>,
}

impl From<&ShippingMethod> for ShippingMethodDto {
    fn from(m: &ShippingMethod) -> Self {
        Self {
            id: m.id.clone(),
            name: m.name.clone(),
            price: m.price.into(),
            free_over: m.free_over.map(AmountDto::from),
        }
    }
}

/// One line of a cart, priced from the catalog.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = CartItem)]
#[graphql(name = "CartItem")]
pub struct CartItemDto {
    pub id: String,
    pub sku: String,
    pub product_id: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: AmountDto,
    pub line_total: AmountDto,
    /// Present and true when the line would take the cart's total past what an amount can
    /// hold (a price rose): it counts for nothing until its quantity is lowered, and checkout
    /// is refused (422 `cart_over_limit`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub over_limit: bool,
}

/// A cart with its totals. `total = subtotal − discount_total + shipping_total + tax_total`
/// (with tax-inclusive prices the tax is contained: `total = subtotal − discount_total +
/// shipping_total`). Tax is computed per line after its share of the discount, and on
/// shipping, rounded half to even in minor units: `net × rate_bp / 10000`, or contained
/// `gross × rate_bp / (10000 + rate_bp)`. Discounts are spread over lines by largest remainder.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = Cart)]
#[graphql(name = "Cart")]
pub struct CartDto {
    pub id: String,
    #[schema(example = "EUR")]
    pub currency: String,
    pub email: Option<String>,
    pub shipping_address: Option<AddressDto>,
    pub billing_address: Option<AddressDto>,
    /// The chosen method, while it ships to the address.
    pub shipping_method: Option<ShippingMethodDto>,
    /// Every code on the cart (a code that does not apply now adds nothing).
    pub discount_codes: Vec<String>,
    pub items: Vec<CartItemDto>,
    pub subtotal: AmountDto,
    pub discount_total: AmountDto,
    pub shipping_total: AmountDto,
    pub tax_total: AmountDto,
    pub total: AmountDto,
    pub prices_include_tax: bool,
    /// `open`, `checking_out`, `ordered` or `merged`.
    pub status: String,
    /// The order this cart became.
    pub order_id: Option<String>,
}

impl From<CartView> for CartDto {
    fn from(v: CartView) -> Self {
        let t = &v.totals;
        Self {
            id: v.cart.id.clone(),
            currency: v.cart.currency.code().to_owned(),
            email: v.cart.email.clone(),
            shipping_address: v.cart.shipping_address.as_ref().map(AddressDto::from),
            billing_address: v.cart.billing_address.as_ref().map(AddressDto::from),
            shipping_method: v.shipping_method.as_ref().map(ShippingMethodDto::from),
            discount_codes: v.discount_codes.clone(),
            items: v
                .items
                .iter()
                .map(|i| CartItemDto {
                    id: i.id.clone(),
                    sku: i.sku.clone(),
                    product_id: i.product_id.clone(),
                    title: i.title.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price.into(),
                    line_total: i.line_total.into(),
                    over_limit: i.over_limit,
                })
                .collect(),
            subtotal: t.subtotal.into(),
            discount_total: t.discount_total.into(),
            shipping_total: t.shipping_total.into(),
            tax_total: t.tax_total.into(),
            total: t.total.into(),
            prices_include_tax: v.prices_include_tax,
            status: v.cart.status.clone(),
            order_id: v.cart.order_id.clone(),
        }
    }
}

/// One line of an order, as bought.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = OrderLine)]
#[graphql(name = "OrderLine")]
pub struct OrderLineDto {
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: AmountDto,
    pub line_total: AmountDto,
    /// The line's share of the order's discount.
    pub discount: AmountDto,
    pub tax: AmountDto,
    pub fulfilled_quantity: i64,
    /// Units returned and received.
    pub returned_quantity: i64,
}

/// The shipping method as chosen, at the price charged.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = OrderShippingMethod)]
#[graphql(name = "OrderShippingMethod")]
pub struct OrderShippingDto {
    pub id: String,
    pub name: String,
    pub price: AmountDto,
}

/// One entry of an order's history: a status move or an event.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = OrderHistoryEntry)]
#[graphql(name = "OrderHistoryEntry")]
pub struct HistoryDto {
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Who did it (a staff member's, API key's or customer's id); null for the shopper at checkout.
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A shipment of some of an order's units.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = Fulfillment)]
#[graphql(name = "Fulfillment")]
pub struct FulfillmentDto {
    pub id: String,
    pub items: Vec<SkuQuantityDto>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was delivered, once marked.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Units of a SKU.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, SimpleObject, InputObject)]
#[schema(as = SkuQuantity)]
#[graphql(name = "SkuQuantity", input_name = "SkuQuantityInput")]
#[serde(deny_unknown_fields)]
pub struct SkuQuantityDto {
    #[schema(min_length = 1, max_length = 64)]
    pub sku: String,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// A return of some of an order's units.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = Return)]
#[graphql(name = "Return")]
pub struct ReturnDto {
    pub id: String,
    pub order_id: String,
    /// `requested`, `received` or `refunded`.
    pub status: String,
    pub items: Vec<SkuQuantityDto>,
    pub reason: Option<String>,
    /// What was refunded for it, once refunded.
    pub refunded: Option<AmountDto>,
}

impl From<ReturnRecord> for ReturnDto {
    fn from(r: ReturnRecord) -> Self {
        Self {
            id: r.id,
            order_id: r.order_id,
            status: r.status,
            items: r.items.into_iter().map(|(sku, quantity)| SkuQuantityDto { sku, quantity }).collect(),
            reason: r.reason,
            refunded: r.refunded.map(AmountDto::from),
        }
    }
}

/// An order: a copy of what was bought and at which price.
#[derive(Debug, Clone, Serialize, ToSchema, SimpleObject)]
#[schema(as = Order)]
#[graphql(name = "Order")]
pub struct OrderDto {
    pub id: String,
    /// Human-readable and increasing: 1001, 1002, ...
    #[schema(example = 1001)]
    pub number: i64,
    /// `paid`, `partially_fulfilled`, `fulfilled`, `delivered`, `cancelled`,
    /// `partially_refunded` or `refunded`.
    pub status: String,
    pub currency: String,
    pub email: String,
    pub customer_id: Option<String>,
    pub lines: Vec<OrderLineDto>,
    pub shipping_address: Option<AddressDto>,
    pub billing_address: Option<AddressDto>,
    pub shipping_method: Option<OrderShippingDto>,
    pub discount_codes: Vec<String>,
    pub subtotal: AmountDto,
    pub discount_total: AmountDto,
    pub shipping_total: AmountDto,
    pub tax_total: AmountDto,
    pub total: AmountDto,
    pub prices_include_tax: bool,
    pub captured: AmountDto,
    pub refunded: AmountDto,
    pub fulfillments: Vec<FulfillmentDto>,
    pub returns: Vec<ReturnDto>,
    pub history: Vec<HistoryDto>,
    pub created_at: DateTime<Utc>,
}

impl From<Order> for OrderDto {
    fn from(o: Order) -> Self {
        Self {
            id: o.id,
            number: o.number,
            status: o.status.to_string(),
            currency: o.currency.code().to_owned(),
            email: o.email,
            customer_id: o.customer_id,
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLineDto {
                    sku: l.sku,
                    title: l.title,
                    quantity: l.quantity,
                    unit_price: l.unit_price.into(),
                    line_total: l.line_total.into(),
                    discount: l.discount.into(),
                    tax: l.tax.into(),
                    fulfilled_quantity: l.fulfilled_quantity,
                    returned_quantity: l.returned_quantity,
                })
                .collect(),
            shipping_address: o.shipping_address.as_ref().map(AddressDto::from),
            billing_address: o.billing_address.as_ref().map(AddressDto::from),
            shipping_method: o.shipping_method.map(|m| OrderShippingDto {
                id: m.id,
                name: m.name,
                price: m.price.into(),
            }),
            discount_codes: o.discount_codes,
            subtotal: o.subtotal.into(),
            discount_total: o.discount_total.into(),
            shipping_total: o.shipping_total.into(),
            tax_total: o.tax_total.into(),
            total: o.total.into(),
            prices_include_tax: o.prices_include_tax,
            captured: o.captured.into(),
            refunded: o.refunded.into(),
            fulfillments: o
                .fulfillments
                .into_iter()
                .map(|f| FulfillmentDto {
                    id: f.id,
                    items: f.items.into_iter().map(|(sku, quantity)| SkuQuantityDto { sku, quantity }).collect(),
                    carrier: f.carrier,
                    tracking_number: f.tracking_number,
                    created_at: f.created_at,
                    delivered_at: f.delivered_at,
                })
                .collect(),
            returns: o.returns.into_iter().map(ReturnDto::from).collect(),
            history: o
                .history
                .into_iter()
                .map(|h| HistoryDto {
                    at: h.at,
                    status: h.status.map(|s| s.to_string()),
                    event: h.event,
                    actor: h.actor,
                    note: h.note,
                })
                .collect(),
            created_at: o.created_at,
        }
    }
}
