//! What the review of the purchase flow found in checkout and after the sale, each held by a
//! test: the reservation TTL, per-customer limits before payment, racing return refunds, what
//! a failed payment left behind, refunds that back off and give up, and delivery.

use std::sync::Arc;
use std::time::Duration;

use emporium_payments::Call;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{amount, cart, checkout, product, stock_of};
use crate::common::{Options, TestResult, TestServer};

fn charges(server: &TestServer) -> usize {
    server.state.test_payments.calls().iter().filter(|c| matches!(c, Call::Authorize { .. })).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_that_dies_after_charging_gives_back_its_units_and_payment_after_the_reservation_ttl() -> TestResult
{
    let server = TestServer::start_with(Options {
        reservation_ttl: Some(Duration::from_secs(2)),
        request_timeout: Some(Duration::from_millis(500)),
        ..Options::default()
    })
    .await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "TTL-1", &[(1500, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 2)]).await?;
    server.state.test_payments.stall_after_charging(true);
    // The request is dropped mid-call, as a crash would leave it: charged, units held.
    let dropped = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(dropped.status, StatusCode::SERVICE_UNAVAILABLE, "{}", dropped.body);
    server.state.test_payments.stall_after_charging(false);
    assert_eq!(stock_of(&server, &admin, &sku).await?, (3, 2), "held while the checkout may still finish");
    let calls = server.state.test_payments.calls();
    let Some(Call::Authorize { payment_ref, .. }) = calls.first() else { anyhow::bail!("no charge: {calls:?}") };
    // Within the TTL plus a sweep, both come back without anyone asking.
    let mut back = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let units = stock_of(&server, &admin, &sku).await?;
        let money = server.state.test_payments.payment(payment_ref);
        if units == (3, 0) && money == Some((3000, 3000, false)) {
            back = true;
            break;
        }
    }
    assert!(back, "units {:?}, payment {:?}", stock_of(&server, &admin, &sku).await?, {
        server.state.test_payments.payment(payment_ref)
    });
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "the cart can be bought again: {}", placed.body);
    Ok(())
}

#[tokio::test]
async fn a_code_the_customer_used_up_on_another_cart_is_refused_before_any_charge() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "ONCE-1", &[(1000, "EUR")], 10).await?;
    let code = json!({"code": "ONCE", "kind": "percentage", "value": 1000, "usage_limit_per_customer": 1});
    assert_eq!(server.post("/v1/discounts", Some(&admin), code).await?.status, StatusCode::CREATED);
    let (_, ada) = server.customer("ada@example.com").await?;
    let first = cart(&server, Some(&ada), "EUR", &[(&sku, 1)]).await?;
    let applied = server.post(&format!("/v1/carts/{first}/discounts"), Some(&ada), json!({"code": "ONCE"})).await?;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    // A second cart of hers (a guest cart she fills in with her email) carries the code too.
    let second = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let also = server.post(&format!("/v1/carts/{second}/discounts"), None, json!({"code": "ONCE"})).await?;
    assert_eq!(also.status, StatusCode::OK, "{}", also.body);
    let placed = checkout(&server, Some(&ada), &first, "tok_ok").await?;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let placed_guest = checkout(&server, None, &second, "tok_ok").await?;
    assert_eq!(placed_guest.status, StatusCode::CREATED, "a guest is counted by email: {}", placed_guest.body);

    // The same guest email again: refused when applied, and at checkout before the provider.
    let third = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let refused = server.post(&format!("/v1/carts/{third}/discounts"), None, json!({"code": "ONCE"})).await?;
    assert_eq!(refused.problem_code(), "discount_invalid", "{}", refused.body);
    assert_eq!(refused.body["reason"], "usage_limit_reached");
    let fourth = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let put = server
        .send(reqwest::Method::PUT, &format!("/v1/carts/{fourth}"), None, Some(json!({"email": "other@example.com"})))
        .await?;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let applied = server.post(&format!("/v1/carts/{fourth}/discounts"), None, json!({"code": "ONCE"})).await?;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let back = server
        .send(reqwest::Method::PUT, &format!("/v1/carts/{fourth}"), None, Some(json!({"email": "ada@example.com"})))
        .await?;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    let before = charges(&server);
    let late = checkout(&server, None, &fourth, "tok_ok").await?;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", late.body);
    assert_eq!(late.body["reason"], "usage_limit_reached", "{}", late.body);
    assert_eq!(charges(&server), before, "nothing was charged");
    Ok(())
}

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_return_refunds_racing_on_one_line_pay_back_exactly_what_it_paid() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "RACE-RET", &[(1000, "EUR")], 5).await?;
    let cent = json!({"code": "CENT", "kind": "fixed", "value": {"amount": 1, "currency": "EUR"}});
    assert_eq!(server.post("/v1/discounts", Some(&admin), cent).await?.status, StatusCode::CREATED);
    let cart = cart(&server, None, "EUR", &[(&sku, 3)]).await?;
    let applied = server.post(&format!("/v1/carts/{cart}/discounts"), None, json!({"code": "CENT"})).await?;
    // 2999 over three units: one unit's share rounds up to 1000, so three racing shares of
    // "the first unit" would pay back 3000.
    assert_eq!(amount(&applied.body["total"]), 2999, "{}", applied.body);
    let order = checkout(&server, None, &cart, "tok_ok").await?;
    let order_id = order.str("id")?.to_owned();
    let ship = json!({"items": [{"sku": sku, "quantity": 3}]});
    let shipped = server.post(&format!("/v1/orders/{order_id}/fulfillments"), Some(&admin), ship).await?;
    assert_eq!(shipped.status, StatusCode::CREATED, "{}", shipped.body);
    let mut returns = Vec::new();
    for _ in 0..3 {
        let body = json!({"items": [{"sku": sku, "quantity": 1}], "reason": "too small"});
        let opened = server.post(&format!("/v1/orders/{order_id}/returns"), None, body).await?;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
        let return_id = id(&opened.body);
        let received =
            server.post(&format!("/v1/returns/{return_id}/receive"), Some(&admin), json!({"restock": false})).await?;
        assert_eq!(received.status, StatusCode::OK, "{}", received.body);
        returns.push(return_id);
    }
    let tasks: Vec<_> = returns
        .into_iter()
        .map(|return_id| {
            let (server, admin) = (Arc::clone(&server), admin.clone());
            tokio::spawn(async move {
                server.post(&format!("/v1/returns/{return_id}/refund"), Some(&admin), json!({})).await
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        let reply = task.await??;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        total += amount(&reply.body["refunded"]);
    }
    assert_eq!(total, 2999, "the line's shares sum to what it paid");
    let seen = server.get_as(&format!("/v1/orders/{order_id}"), &admin).await?;
    assert_eq!(amount(&seen.body["refunded"]), 2999, "{}", seen.body);
    assert_eq!(seen.body["status"], "refunded");
    Ok(())
}

#[tokio::test]
async fn a_failed_payment_says_whether_money_may_have_moved() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "STATE-1", &[(700, "EUR")], 3).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
    let failed = checkout(&server, None, &cart, "tok_error").await?;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    assert_eq!(failed.problem_code(), "payment_provider_error");
    assert_eq!(failed.body["payment_state"], "none", "the provider holds nothing: {}", failed.body);
    let lost = checkout(&server, None, &cart, "tok_timeout").await?;
    assert_eq!(lost.status, StatusCode::BAD_GATEWAY, "{}", lost.body);
    assert_eq!(lost.body["payment_state"], "unknown", "the answer was lost: {}", lost.body);
    let pay = "mutation($cart: String!) { checkout(cartId: $cart, payment: {provider: \"test\", token: \"tok_timeout\"}) { id } }";
    let over_graphql = server.graphql(None, pay, json!({"cart": cart})).await?;
    assert_eq!(over_graphql.body["errors"][0]["extensions"]["payment_state"], "unknown", "{}", over_graphql.body);
    Ok(())
}

#[tokio::test]
async fn an_order_is_delivered_once_every_unit_shipped_is_delivered() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "DELIVER-1", &[(500, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 3)]).await?;
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    let order = placed.str("id")?.to_owned();
    let ship = |units: i64| json!({"items": [{"sku": sku, "quantity": units}], "carrier": "UPS"});
    let first = server.post(&format!("/v1/orders/{order}/fulfillments"), Some(&admin), ship(1)).await?;
    let first_id = id(&first.body["fulfillments"][0]);
    let path = |f: &str| format!("/v1/orders/{order}/fulfillments/{f}/delivered");
    let (_, ada) = server.customer("ada@example.com").await?;
    assert_eq!(server.post(&path(&first_id), Some(&ada), json!({})).await?.status, StatusCode::FORBIDDEN);
    let future = json!({"delivered_at": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339()});
    let refused = server.post(&path(&first_id), Some(&admin), future).await?;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let delivered = server.post(&path(&first_id), Some(&admin), json!({})).await?;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    assert_eq!(delivered.body["status"], "partially_fulfilled", "units are still to ship");
    assert!(delivered.body["fulfillments"][0]["delivered_at"].is_string(), "{}", delivered.body);
    let again = server.post(&path(&first_id), Some(&admin), json!({})).await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_code(), "already_delivered");

    let second = server.post(&format!("/v1/orders/{order}/fulfillments"), Some(&admin), ship(2)).await?;
    assert_eq!(second.body["status"], "fulfilled", "{}", second.body);
    let second_id = id(&second.body["fulfillments"][1]);
    let (_, carrier) = server.api_key(&admin, &["orders:write"]).await?;
    let mark = "mutation($o: String!, $f: String!) { markFulfillmentDelivered(orderId: $o, fulfillmentId: $f) { status fulfillments { deliveredAt } } }";
    let done = server.graphql(Some(&carrier), mark, json!({"o": order, "f": second_id})).await?;
    assert_eq!(done.body["data"]["markFulfillmentDelivered"]["status"], "delivered", "{}", done.body);
    let kinds = crate::common::event_kinds(&server, &admin, &["order.delivered"]).await?;
    assert_eq!(kinds.iter().filter(|k| *k == "order.delivered").count(), 1, "{kinds:?}");
    Ok(())
}

#[tokio::test]
async fn refunds_a_provider_keeps_failing_back_off_and_give_up_without_holding_back_newer_ones() -> TestResult {
    use sea_orm::ConnectionTrait as _;
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "RETRY-1", &[(400, "EUR")], 100).await?;
    // Twenty-two cancelled orders whose refunds the provider did not make: twenty it refuses
    // for good, one it keeps failing, and the newest it will make.
    let mut payments = Vec::new();
    let mut orders = Vec::new();
    for _ in 0..22 {
        let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
        let placed = checkout(&server, None, &cart, "tok_ok").await?;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        orders.push(placed.str("id")?.to_owned());
        let calls = server.state.test_payments.calls();
        let Some(Call::Authorize { payment_ref, .. }) = calls.last() else { anyhow::bail!("no charge") };
        payments.push(payment_ref.clone());
    }
    for (i, (order, payment)) in orders.iter().zip(&payments).enumerate() {
        server.state.test_payments.fail_refunds_of(payment, Some(i < 20));
        let cancelled = server.post(&format!("/v1/orders/{order}/cancel"), Some(&admin), json!({})).await?;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    }
    server.state.test_payments.fail_refunds_of(&payments[21], None);
    // All due, the refused ones oldest.
    let backend = server.app_db.get_database_backend();
    let age = |minutes: i64| chrono::Utc::now() - chrono::Duration::minutes(minutes);
    for (i, order) in orders.iter().enumerate() {
        let minutes = if i == 20 { 4 * 24 * 60 } else { 100 - i as i64 };
        server
            .app_db
            .execute_raw(emporium_core::db::statement(
                backend,
                "UPDATE payment_refunds SET created_at = ? WHERE order_id = ?",
                [age(minutes).into(), order.clone().into()],
            ))
            .await?;
    }
    let retry = || emporium_orders::after_sale::retry_pending_refunds(&server.state.writer, &server.state.payments);
    let mut settled = 0;
    for _ in 0..2 {
        settled += retry().await?;
    }
    assert_eq!(settled, 1, "the newest refund is made despite twenty older failures");
    let newest = server.get_as(&format!("/v1/orders/{}", orders[21]), &admin).await?;
    assert_eq!(amount(&newest.body["refunded"]), 400, "{}", newest.body);
    // Refused for good, and failing for over three days: given up, visible on the order.
    for order in [&orders[0], &orders[20]] {
        let seen = server.get_as(&format!("/v1/orders/{order}"), &admin).await?;
        let events: Vec<&str> = seen.body["history"]
            .as_array()
            .map(|h| h.iter().filter_map(|e| e["event"].as_str()).collect())
            .unwrap_or_default();
        assert!(events.contains(&"refund_failed"), "{}", seen.body);
        assert_eq!(amount(&seen.body["refunded"]), 0, "the hold is released: {}", seen.body);
    }
    let kinds = crate::common::event_kinds(&server, &admin, &["order.refund_failed"]).await?;
    assert!(kinds.iter().any(|k| k == "order.refund_failed"), "{kinds:?}");
    // One that keeps failing within its time waits longer after each attempt.
    server.state.test_payments.fail_refunds_of(&payments[21], Some(false));
    let recent = {
        let cart = cart(&server, None, "EUR", &[(&sku, 1)]).await?;
        let placed = checkout(&server, None, &cart, "tok_ok").await?;
        let calls = server.state.test_payments.calls();
        let Some(Call::Authorize { payment_ref, .. }) = calls.last() else { anyhow::bail!("no charge") };
        server.state.test_payments.fail_refunds_of(payment_ref, Some(false));
        let order = placed.str("id")?.to_owned();
        server.post(&format!("/v1/orders/{order}/cancel"), Some(&admin), json!({})).await?;
        order
    };
    server
        .app_db
        .execute_raw(emporium_core::db::statement(
            backend,
            "UPDATE payment_refunds SET created_at = ? WHERE order_id = ?",
            [age(5).into(), recent.clone().into()],
        ))
        .await?;
    retry().await?;
    let row = server
        .app_db
        .query_one_raw(emporium_core::db::statement(
            backend,
            "SELECT attempts, next_attempt_at, status FROM payment_refunds WHERE order_id = ?",
            [recent.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no refund"))?;
    let attempts: i32 = row.try_get("", "attempts")?;
    let next: chrono::DateTime<chrono::Utc> = row.try_get("", "next_attempt_at")?;
    let status: String = row.try_get("", "status")?;
    assert_eq!((attempts, status.as_str()), (1, "pending"));
    assert!(next > chrono::Utc::now() + chrono::Duration::seconds(90), "backs off: next at {next}");
    Ok(())
}

#[tokio::test]
async fn a_cart_a_price_rise_takes_past_the_money_bound_still_reads_and_refuses_checkout() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let body = json!({"name": "Jet", "status": "published",
        "variants": [{"sku": "JET-1", "prices": [{"amount": 1_000_000_000_000i64, "currency": "EUR"}]}]});
    let created = server.create_product(&admin, body).await?;
    let (product, variant) = (id(&created), id(&created["variants"][0]));
    crate::checkout::product(&server, &admin, "CHEAP-1", &[(100, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[("CHEAP-1", 1), ("JET-1", 9_000)]).await?;
    let before = server.get(&format!("/v1/carts/{cart}")).await?;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    let rise = json!({"prices": [{"amount": 2_000_000_000_000i64, "currency": "EUR"}]});
    let patched = server.patch(&format!("/v1/products/{product}/variants/{variant}"), Some(&admin), rise).await?;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let after = server.get(&format!("/v1/carts/{cart}")).await?;
    assert_eq!(after.status, StatusCode::OK, "the shopper can still read it: {}", after.body);
    let jet = after.body["items"].as_array().and_then(|i| i.iter().find(|i| i["sku"] == "JET-1").cloned());
    assert_eq!(jet.as_ref().map(|j| j["over_limit"].clone()), Some(json!(true)), "{}", after.body);
    assert_eq!(amount(&after.body["total"]), 100, "only what can be counted: {}", after.body);
    let refused = checkout(&server, None, &cart, "tok_ok").await?;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.problem_code(), "cart_over_limit");
    assert_eq!(refused.body["skus"], json!(["JET-1"]));
    // Adding more is refused; lowering the line makes the cart whole again.
    let more = server.post(&format!("/v1/carts/{cart}/items"), None, json!({"sku": "JET-1", "quantity": 1})).await?;
    assert_eq!(more.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", more.body);
    let item = jet.map(|j| id(&j)).unwrap_or_default();
    let lowered = server.patch(&format!("/v1/carts/{cart}/items/{item}"), None, json!({"quantity": 1})).await?;
    assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.body);
    assert!(lowered.body["items"].as_array().is_some_and(|i| i.iter().all(|i| i.get("over_limit").is_none())));
    assert_eq!(amount(&lowered.body["total"]), 2_000_000_000_100, "{}", lowered.body);
    Ok(())
}

#[tokio::test]
async fn a_return_whose_refund_was_given_up_can_be_refunded_again_and_is_counted() -> TestResult {
    use sea_orm::ConnectionTrait as _;
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "AGAIN-1", &[(1000, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 2)]).await?;
    let placed = checkout(&server, None, &cart, "tok_ok").await?;
    let order = placed.str("id")?.to_owned();
    let calls = server.state.test_payments.calls();
    let Some(Call::Authorize { payment_ref, .. }) = calls.last() else { anyhow::bail!("no charge") };
    let payment_ref = payment_ref.clone();
    let ship = json!({"items": [{"sku": sku, "quantity": 2}]});
    assert_eq!(
        server.post(&format!("/v1/orders/{order}/fulfillments"), Some(&admin), ship).await?.status,
        StatusCode::CREATED
    );
    let body = json!({"items": [{"sku": sku, "quantity": 1}], "reason": "broken"});
    let opened = server.post(&format!("/v1/orders/{order}/returns"), None, body).await?;
    let return_id = id(&opened.body);
    server.post(&format!("/v1/returns/{return_id}/receive"), Some(&admin), json!({"restock": false})).await?;
    server.state.test_payments.fail_refunds_of(&payment_ref, Some(false));
    let lost = server.post(&format!("/v1/returns/{return_id}/refund"), Some(&admin), json!({})).await?;
    assert_eq!(lost.status, StatusCode::BAD_GATEWAY, "{}", lost.body);
    // Three days of failures later, it is given up.
    server
        .app_db
        .execute_raw(emporium_core::db::statement(
            server.app_db.get_database_backend(),
            "UPDATE payment_refunds SET created_at = ? WHERE order_id = ?",
            [(chrono::Utc::now() - chrono::Duration::days(4)).into(), order.clone().into()],
        ))
        .await?;
    emporium_orders::after_sale::retry_pending_refunds(&server.state.writer, &server.state.payments).await?;
    let seen = server.get_as(&format!("/v1/orders/{order}"), &admin).await?;
    assert_eq!(amount(&seen.body["refunded"]), 0, "{}", seen.body);
    // The provider works again: the return is refunded anew, and the order counts it.
    server.state.test_payments.fail_refunds_of(&payment_ref, None);
    let again = server.post(&format!("/v1/returns/{return_id}/refund"), Some(&admin), json!({})).await?;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(amount(&again.body["refunded"]), 1000);
    let seen = server.get_as(&format!("/v1/orders/{order}"), &admin).await?;
    assert_eq!(amount(&seen.body["refunded"]), 1000, "the new refund is held and counted: {}", seen.body);
    assert_eq!(server.state.test_payments.payment(&payment_ref), Some((2000, 1000, false)));
    Ok(())
}
