//! Private GraphQL reads are never answered from the shared cache: an anonymous caller's cart,
//! order and shipping methods are read fresh each time, so a change is seen at once.

use reqwest::StatusCode;
use serde_json::json;

use crate::checkout::{cart, product};
use crate::common::{TestResult, TestServer};

const READ_CART: &str = "query($id: String!) { cart(id: $id) { email items { quantity } } }";

#[tokio::test]
async fn an_anonymous_graphql_cart_read_sees_every_change_at_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "PRIV-CART", &[(1000, "EUR")], 10).await?;
    let created = server.graphql(None, r#"mutation { createCart(currency: "EUR") { id } }"#, json!({})).await?;
    let id = created.body["data"]["createCart"]["id"].as_str().unwrap_or_default().to_owned();
    let add =
        "mutation($id: String!, $sku: String!, $q: Int!) { addCartItem(cartId: $id, sku: $sku, quantity: $q) { id } }";
    let added = server.graphql(None, add, json!({"id": id, "sku": sku, "q": 1})).await?;
    assert!(added.body["errors"].is_null(), "{}", added.body);
    let first = server.graphql(None, READ_CART, json!({"id": id})).await?;
    assert_eq!(first.body["data"]["cart"]["items"][0]["quantity"], 1, "{}", first.body);
    let more = server.graphql(None, add, json!({"id": id, "sku": sku, "q": 2})).await?;
    assert!(more.body["errors"].is_null(), "{}", more.body);
    let second = server.graphql(None, READ_CART, json!({"id": id})).await?;
    assert_eq!(second.body["data"]["cart"]["items"][0]["quantity"], 3, "{}", second.body);
    let rest = server.get(&format!("/v1/carts/{id}")).await?;
    assert_eq!(rest.body["items"][0]["quantity"], 3);

    // Once a customer claims it, the anonymous read no longer finds it.
    let (_, ada) = server.customer("ada@example.com").await?;
    let claimed = server.post(&format!("/v1/carts/{id}/claim"), Some(&ada), json!({})).await?;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let after = server.graphql(None, READ_CART, json!({"id": id})).await?;
    assert!(after.body["data"]["cart"].is_null(), "a claimed cart stays readable: {}", after.body);
    assert_eq!(after.body["errors"][0]["extensions"]["code"], "not_found", "{}", after.body);
    Ok(())
}

#[tokio::test]
async fn an_anonymous_graphql_order_read_sees_its_cancellation_at_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "PRIV-ORDER", &[(1000, "EUR")], 10).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let placed = crate::checkout::checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let order = placed.str("id")?.to_owned();
    let read = "query($id: String!) { order(id: $id) { status } }";
    let before = server.graphql(None, read, json!({"id": order})).await?;
    assert_eq!(before.body["data"]["order"]["status"], "paid", "{}", before.body);
    let cancelled = server.post(&format!("/v1/orders/{order}/cancel"), Some(&admin), json!({})).await?;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let after = server.graphql(None, read, json!({"id": order})).await?;
    assert_eq!(after.body["data"]["order"]["status"], "cancelled", "{}", after.body);
    Ok(())
}

#[tokio::test]
async fn anonymous_graphql_shipping_methods_follow_the_shops_setup_at_once() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "PRIV-SHIP", &[(1000, "EUR")], 10).await?;
    let zone = json!({"name": "France", "countries": ["FR"], "methods": [
        {"name": "Standard", "price": {"amount": 495, "currency": "EUR"}}
    ]});
    let created = server.post("/v1/shipping-zones", Some(&admin), zone).await?;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let read = "query($id: String!) { cartShippingMethods(cartId: $id) { name } }";
    let before = server.graphql(None, read, json!({"id": cart})).await?;
    assert_eq!(before.body["data"]["cartShippingMethods"].as_array().map(Vec::len), Some(1), "{}", before.body);
    let express = json!({"name": "France express", "countries": ["FR"], "methods": [
        {"name": "Express", "price": {"amount": 1500, "currency": "EUR"}}
    ]});
    let more = server.post("/v1/shipping-zones", Some(&admin), express).await?;
    assert_eq!(more.status, StatusCode::CREATED, "{}", more.body);
    let after = server.graphql(None, read, json!({"id": cart})).await?;
    assert_eq!(after.body["data"]["cartShippingMethods"].as_array().map(Vec::len), Some(2), "{}", after.body);
    Ok(())
}
