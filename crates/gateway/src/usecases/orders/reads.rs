//! Orders read by their owner or by staff.

use super::*;

/// An order, for its owner or staff.
pub async fn order(state: &AppState, order_id: &str, caller: &Caller) -> Result<OrderDto, ApiError> {
    Ok(order_store::get(&state.db, order_id, caller).await?.into())
}

/// A page of orders, newest first: a signed-in customer's own, or (staff with `orders:read`)
/// any, optionally one customer's; `status` is one of the order statuses.
pub async fn list_orders(
    state: &AppState,
    principal: &Principal,
    status: Option<&str>,
    customer: Option<String>,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(Vec<OrderDto>, Option<String>), ApiError> {
    let customer_id = match principal {
        Principal::Customer { id } => Some(id.clone()),
        Principal::Anonymous => return Err(ApiError::unauthorized("Sign in to list orders.")),
        staff => {
            staff.require(emporium_customers::Permission::OrdersRead)?;
            let customer = customer.filter(|c| !c.is_empty());
            if customer.as_deref().is_some_and(|c| !emporium_core::db::lookupable(c)) {
                return Err(ApiError::validation(emporium_core::ValidationErrors::single(
                    "customer",
                    "invalid",
                    "must be a customer id",
                )));
            }
            customer
        }
    };
    let status = match status.filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(emporium_orders::orders::Status::parse(text).ok_or_else(|| {
            ApiError::validation(emporium_core::ValidationErrors::single(
                "status",
                "invalid_value",
                "must be paid, partially_fulfilled, fulfilled, delivered, cancelled, partially_refunded or refunded",
            ))
        })?),
    };
    let limit = crate::usecases::products::page_size(limit, "limit")?;
    let before = crate::usecases::products::cursor_id(state, "orders", cursor)?;
    let filter = OrderFilter { customer_id, status };
    let mut found = order_store::list(&state.db, &filter, before.as_deref(), limit.get() + 1).await?;
    let more = found.len() as u64 > limit.get();
    found.truncate(limit.get() as usize);
    let next = if more { found.last().map(|o| order_cursor(state, &o.id)) } else { None };
    Ok((found.into_iter().map(OrderDto::from).collect(), next))
}

/// The cursor that continues a list after this order.
pub fn order_cursor(state: &AppState, order_id: &str) -> String {
    state.cursors.encode(&("orders", order_id))
}
