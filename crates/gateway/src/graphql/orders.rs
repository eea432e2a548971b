//! The storefront's purchase flow and the staff's order operations over GraphQL: the same use
//! cases as `/v1/carts`, `/v1/orders` and `/v1/returns`, with the same rules and codes.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use emporium_customers::Permission;
use emporium_orders::carts::{CartChange, Quantity};

use crate::dto::MoneyDto;
use crate::error::ApiError;
use crate::graphql::catalog::{PageInfo, patch};
use crate::graphql::money::MoneyInput;
use crate::usecases::orders::{
    self, AddressDto, CartDto, CartOp, OrderDto, ReturnDto, ShippingMethodDto, SkuQuantityDto, caller_of,
};

/// An order in a connection.
#[derive(SimpleObject)]
pub struct OrderEdge {
    pub cursor: String,
    pub node: OrderDto,
}

/// A page of orders, newest first.
#[derive(SimpleObject)]
pub struct OrderConnection {
    pub edges: Vec<OrderEdge>,
    pub nodes: Vec<OrderDto>,
    pub page_info: PageInfo,
}

/// Carts and orders, as their owners and staff read them.
#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// A cart, priced now: a guest's by its id, a customer's by its owner only.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 5 + child_complexity")]
    async fn cart(&self, ctx: &Context<'_>, id: String) -> Result<CartDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        Ok(orders::cart(state, &id, &caller_of(principal)).await?)
    }

    /// The methods that ship to a cart's address in its currency, cheapest first.
    #[graphql(complexity = "crate::graphql::LIST_COST + 20 * child_complexity")]
    async fn cart_shipping_methods(&self, ctx: &Context<'_>, cart_id: String) -> Result<Vec<ShippingMethodDto>> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        Ok(orders::cart_shipping_methods(state, &cart_id, &caller_of(principal)).await?)
    }

    /// An order: its customer, the guest holding its id, or staff with `orders:read`.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 5 + child_complexity")]
    async fn order(&self, ctx: &Context<'_>, id: String) -> Result<OrderDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        Ok(orders::order(state, &id, &caller_of(principal)).await?)
    }

    /// Orders, newest first: a customer's own, or (staff with `orders:read`) any.
    #[graphql(complexity = "crate::graphql::LIST_COST + first.clamp(0, 100) as usize * child_complexity")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
        status: Option<String>,
        customer: Option<String>,
    ) -> Result<OrderConnection> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let had_after = after.is_some();
        let (nodes, next) =
            orders::list_orders(state, principal, status.as_deref(), customer, Some(first), after.as_deref()).await?;
        let edges: Vec<OrderEdge> =
            nodes.iter().map(|o| OrderEdge { cursor: orders::order_cursor(state, &o.id), node: o.clone() }).collect();
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor.as_str()).collect();
        let page_info = PageInfo::of(&cursors, next.is_some(), had_after);
        Ok(OrderConnection { page_info, edges, nodes })
    }
}

/// What `updateCart` changes: fields left out stay, `null` clears.
#[derive(InputObject, Default)]
pub struct CartUpdateInput {
    pub email: MaybeUndefined<String>,
    pub shipping_address: MaybeUndefined<AddressDto>,
    pub billing_address: MaybeUndefined<AddressDto>,
    /// An id from `cartShippingMethods`.
    pub shipping_method: MaybeUndefined<String>,
}

/// A payment provider and its token: never a card number or CVV.
#[derive(InputObject)]
pub struct PaymentInput {
    pub provider: String,
    pub token: String,
}

/// The storefront's cart and checkout mutations, and the staff's order operations.
#[derive(Default)]
pub struct OrderMutation;

async fn change(ctx: &Context<'_>, cart_id: String, op: CartOp) -> Result<CartDto> {
    let (state, principal) = crate::graphql::state_and_principal(ctx)?;
    Ok(orders::change_cart(state, &crate::graphql::claim(ctx), &cart_id, &caller_of(principal), op).await?.value)
}

#[Object]
impl OrderMutation {
    /// Opens a cart: the signed-in customer's, or a guest's (reachable only by its id).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn create_cart(&self, ctx: &Context<'_>, currency: String) -> Result<CartDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        Ok(orders::create_cart(state, &crate::graphql::claim(ctx), &caller_of(principal), &currency).await?.value)
    }

    /// Adds units of a SKU (to its line, if the cart has one).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn add_cart_item(&self, ctx: &Context<'_>, cart_id: String, sku: String, quantity: i64) -> Result<CartDto> {
        let quantity = Quantity::parse(quantity).map_err(ApiError::validation)?;
        change(ctx, cart_id, CartOp::AddItem { sku, quantity }).await
    }

    /// Changes a line's quantity.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_cart_item(
        &self,
        ctx: &Context<'_>,
        cart_id: String,
        item_id: String,
        quantity: i64,
    ) -> Result<CartDto> {
        let quantity = Quantity::parse(quantity).map_err(ApiError::validation)?;
        change(ctx, cart_id, CartOp::SetQuantity { item_id, quantity }).await
    }

    /// Removes a line.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn remove_cart_item(&self, ctx: &Context<'_>, cart_id: String, item_id: String) -> Result<CartDto> {
        change(ctx, cart_id, CartOp::RemoveItem { item_id }).await
    }

    /// Sets the cart's email, addresses or shipping method.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn update_cart(&self, ctx: &Context<'_>, cart_id: String, input: CartUpdateInput) -> Result<CartDto> {
        let change = CartChange {
            email: patch(input.email),
            shipping_address: patch(input.shipping_address).map(Into::into),
            billing_address: patch(input.billing_address).map(Into::into),
            shipping_method: patch(input.shipping_method),
        };
        self::change(ctx, cart_id, CartOp::Update(Box::new(change))).await
    }

    /// Applies a discount code (`discount_invalid` with `extensions.reason` when it cannot).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn apply_discount(&self, ctx: &Context<'_>, cart_id: String, code: String) -> Result<CartDto> {
        change(ctx, cart_id, CartOp::ApplyDiscount { code }).await
    }

    /// Removes a discount code.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn remove_discount(&self, ctx: &Context<'_>, cart_id: String, code: String) -> Result<CartDto> {
        change(ctx, cart_id, CartOp::RemoveDiscount { code }).await
    }

    /// Makes a guest cart the signed-in customer's, merging it into their open cart.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 10 + child_complexity")]
    async fn claim_cart(&self, ctx: &Context<'_>, cart_id: String) -> Result<CartDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let customer = principal.customer_id()?;
        Ok(orders::claim_cart(state, &crate::graphql::claim(ctx), &cart_id, customer).await?.value)
    }

    /// Places the order: reserve, pay, place, all or nothing (the codes of REST checkout).
    #[graphql(complexity = "crate::graphql::LOGIN_COST + child_complexity")]
    async fn checkout(&self, ctx: &Context<'_>, cart_id: String, payment: PaymentInput) -> Result<OrderDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let caller = caller_of(principal);
        let none = crate::graphql::claim(ctx);
        let done = orders::checkout_cart(state, &none, &cart_id, caller, payment.provider, payment.token);
        Ok(done.await?.value)
    }

    /// Ships units of an order (staff with `orders:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 20 + child_complexity")]
    async fn fulfil_order(
        &self,
        ctx: &Context<'_>,
        order_id: String,
        items: Vec<SkuQuantityDto>,
        carrier: Option<String>,
        tracking_number: Option<String>,
    ) -> Result<OrderDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::OrdersWrite)?;
        let none = crate::graphql::claim(ctx);
        let done = orders::fulfil(
            state,
            &none,
            principal.actor_id(),
            &order_id,
            items,
            carrier.as_deref(),
            tracking_number.as_deref(),
        );
        Ok(done.await?.value)
    }

    /// Marks one fulfilment delivered (staff, or a key, with `orders:write`); once every unit
    /// is shipped and every fulfilment delivered, the order is `DELIVERED`.
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 20 + child_complexity")]
    async fn mark_fulfillment_delivered(
        &self,
        ctx: &Context<'_>,
        order_id: String,
        fulfillment_id: String,
        delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<OrderDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::OrdersWrite)?;
        let claim = crate::graphql::claim(ctx);
        let done = orders::deliver(state, &claim, principal.actor_id(), &order_id, &fulfillment_id, delivered_at);
        Ok(done.await?.value)
    }

    /// Cancels an order nothing of which shipped (staff, or its customer).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 20 + child_complexity")]
    async fn cancel_order(&self, ctx: &Context<'_>, order_id: String, reason: Option<String>) -> Result<OrderDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        if matches!(principal, crate::auth::Principal::Anonymous) {
            return Err(crate::error::ApiError::unauthorized("Sign in to cancel an order.").into());
        }
        Ok(orders::cancel(state, &crate::graphql::claim(ctx), principal, &order_id, reason.as_deref()).await?.value)
    }

    /// Refunds part or all of an order (staff with `orders:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 20 + child_complexity")]
    async fn refund_order(
        &self,
        ctx: &Context<'_>,
        order_id: String,
        amount: MoneyInput,
        reason: Option<String>,
    ) -> Result<OrderDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::OrdersWrite)?;
        let amount = MoneyDto { amount: amount.amount.0, currency: amount.currency };
        let none = crate::graphql::claim(ctx);
        let done = orders::refund(state, &none, principal.actor_id(), &order_id, amount, reason.as_deref());
        Ok(done.await?.value)
    }

    /// Opens a return of shipped units (the order's owner or staff).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 20 + child_complexity")]
    async fn request_return(
        &self,
        ctx: &Context<'_>,
        order_id: String,
        items: Vec<SkuQuantityDto>,
        reason: Option<String>,
    ) -> Result<ReturnDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        let none = crate::graphql::claim(ctx);
        let done = orders::request_return(state, &none, principal, &order_id, items, reason.as_deref());
        Ok(done.await?.value)
    }

    /// Marks a return received, restocking its units if asked (staff with `orders:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 20 + child_complexity")]
    async fn receive_return(&self, ctx: &Context<'_>, return_id: String, restock: bool) -> Result<ReturnDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::OrdersWrite)?;
        let none = crate::graphql::claim(ctx);
        let done = orders::receive_return(state, &none, principal.actor_id(), &return_id, restock);
        Ok(done.await?.value)
    }

    /// Refunds a received return's share, tax included (staff with `orders:write`).
    #[graphql(complexity = "crate::graphql::LOOKUP_COST * 20 + child_complexity")]
    async fn refund_return(&self, ctx: &Context<'_>, return_id: String) -> Result<ReturnDto> {
        let (state, principal) = crate::graphql::state_and_principal(ctx)?;
        principal.require(Permission::OrdersWrite)?;
        Ok(orders::refund_return(state, &crate::graphql::claim(ctx), principal.actor_id(), &return_id).await?.value)
    }
}
