//! After the sale: fulfilments with tracking, cancellation that restocks and refunds, refunds
//! that never pass what was captured, and returns refunded by their share, tax included.

use std::sync::Arc;

use emporium_customers::Role;
use emporium_payments::Call;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{amount, cart, checkout, product, stock_of};
use crate::common::{TestResult, TestServer};

/// A placed guest order of 2 × `MUG` (19.99) and 1 × `TEE` (5.05) in EUR at 20% tax, 10% off.
async fn placed(server: &TestServer, admin: &str, prefix: &str) -> anyhow::Result<Value> {
    let mug = product(server, admin, &format!("{prefix}-MUG"), &[(1999, "EUR")], 10).await?;
    let tee = product(server, admin, &format!("{prefix}-TEE"), &[(505, "EUR")], 10).await?;
    let rate =
        server.post("/v1/tax-rates", Some(admin), json!({"country": "FR", "name": "TVA", "rate_bp": 2000})).await?;
    anyhow::ensure!(rate.status.is_success() || rate.status == StatusCode::CONFLICT, "{}", rate.body);
    let code = format!("{prefix}10");
    let discount =
        server.post("/v1/discounts", Some(admin), json!({"code": code, "kind": "percentage", "value": 1000})).await?;
    anyhow::ensure!(discount.status == StatusCode::CREATED, "{}", discount.body);
    let cart = cart(server, None, "EUR", &[(&mug, 2), (&tee, 1)]).await?;
    let applied = server.post(&format!("/v1/carts/{cart}/discounts"), None, json!({"code": code})).await?;
    anyhow::ensure!(applied.status == StatusCode::OK, "{}", applied.body);
    let order = checkout(server, None, &cart, "tok_ok").await?;
    anyhow::ensure!(order.status == StatusCode::CREATED, "{}", order.body);
    Ok(order.body)
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn fulfil_return_and_refund_move_the_order_through_its_states() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let order = placed(&server, &admin, "AS").await?;
    let order_id = id(&order);
    assert_eq!(amount(&order["total"]), 4503 - 450 + 720 + 91);
    let ship = format!("/v1/orders/{order_id}/fulfillments");

    let partial = server
        .post(
            &ship,
            Some(&admin),
            json!({"items": [{"sku": "AS-MUG", "quantity": 1}], "carrier": "UPS", "tracking_number": "1Z999"}),
        )
        .await?;
    assert_eq!(partial.status, StatusCode::CREATED, "{}", partial.body);
    assert_eq!(partial.body["status"], "partially_fulfilled");
    assert_eq!(partial.body["fulfillments"][0]["tracking_number"], "1Z999");
    assert_eq!(partial.body["lines"][0]["fulfilled_quantity"], 1);
    let too_many = server.post(&ship, Some(&admin), json!({"items": [{"sku": "AS-MUG", "quantity": 2}]})).await?;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_many.body);
    assert_eq!(too_many.error_fields(), vec![("items[0].quantity".to_owned(), "exceeds_ordered".to_owned())]);
    let stranger = server.post(&ship, Some(&admin), json!({"items": [{"sku": "NOT-HERE", "quantity": 1}]})).await?;
    assert_eq!(stranger.error_fields(), vec![("items[0].sku".to_owned(), "not_in_order".to_owned())]);
    let rest = server
        .post(
            &ship,
            Some(&admin),
            json!({"items": [{"sku": "AS-MUG", "quantity": 1}, {"sku": "AS-TEE", "quantity": 1}]}),
        )
        .await?;
    assert_eq!(rest.body["status"], "fulfilled", "{}", rest.body);
    assert_eq!(rest.body["fulfillments"].as_array().map(Vec::len), Some(2));

    // A return of one mug: requested by the guest holding the order's id, received, refunded.
    let opened = server
        .post(
            &format!("/v1/orders/{order_id}/returns"),
            None,
            json!({"items": [{"sku": "AS-MUG", "quantity": 1}], "reason": "chipped"}),
        )
        .await?;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    assert_eq!(opened.body["status"], "requested");
    let return_id = id(&opened.body);
    let twice = server
        .post(&format!("/v1/orders/{order_id}/returns"), None, json!({"items": [{"sku": "AS-MUG", "quantity": 2}]}))
        .await?;
    assert_eq!(twice.error_fields(), vec![("items[0].quantity".to_owned(), "exceeds_fulfilled".to_owned())]);
    let early = server.post(&format!("/v1/returns/{return_id}/refund"), Some(&admin), json!({})).await?;
    assert_eq!(early.problem_code(), "invalid_transition", "not received yet");
    let before = stock_of(&server, &admin, "AS-MUG").await?;
    let received =
        server.post(&format!("/v1/returns/{return_id}/receive"), Some(&admin), json!({"restock": true})).await?;
    assert_eq!(received.status, StatusCode::OK, "{}", received.body);
    assert_eq!(received.body["status"], "received");
    assert_eq!(stock_of(&server, &admin, "AS-MUG").await?.0, before.0 + 1, "restocked through the ledger");
    let refunded = server.post(&format!("/v1/returns/{return_id}/refund"), Some(&admin), json!({})).await?;
    assert_eq!(refunded.status, StatusCode::OK, "{}", refunded.body);
    // The mug line paid 39.98 − 4.00 + 7.20 = 43.18; one of two mugs carries 21.59.
    assert_eq!(amount(&refunded.body["refunded"]), 2159);
    let again = server.post(&format!("/v1/returns/{return_id}/refund"), Some(&admin), json!({})).await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_code(), "already_refunded");

    let seen = server.get_as(&format!("/v1/orders/{order_id}"), &admin).await?.body;
    assert_eq!(seen["status"], "partially_refunded");
    assert_eq!(amount(&seen["refunded"]), 2159);
    assert_eq!(seen["lines"][0]["returned_quantity"], 1);
    assert_eq!(seen["returns"][0]["status"], "refunded");

    let refunds = format!("/v1/orders/{order_id}/refunds");
    let left = amount(&seen["captured"]) - 2159;
    let over = server.post(&refunds, Some(&admin), json!({"amount": {"amount": left + 1, "currency": "EUR"}})).await?;
    assert_eq!(over.problem_code(), "refund_exceeds_captured", "{}", over.body);
    let other = server.post(&refunds, Some(&admin), json!({"amount": {"amount": 1, "currency": "USD"}})).await?;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.error_fields(), vec![("amount.currency".to_owned(), "currency_mismatch".to_owned())]);
    let rest = server
        .post(&refunds, Some(&admin), json!({"amount": {"amount": left, "currency": "EUR"}, "reason": "goodwill"}))
        .await?;
    assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.body);
    assert_eq!(rest.body["status"], "refunded");
    assert_eq!(rest.body["refunded"], rest.body["captured"]);
    let cancel = server.post(&format!("/v1/orders/{order_id}/cancel"), Some(&admin), json!({})).await?;
    assert_eq!(cancel.problem_code(), "invalid_transition");

    let wanted =
        ["order.placed", "order.paid", "order.fulfilled", "return.requested", "return.received", "order.refunded"];
    let kinds = crate::common::event_kinds(&server, &admin, &wanted).await?;
    for kind in wanted {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let history: Vec<String> = seen["history"].as_array().into_iter().flatten().map(|h| h.to_string()).collect();
    assert!(history.len() >= 5, "every change appends: {history:?}");
    Ok(())
}

#[tokio::test]
async fn cancelling_restocks_refunds_and_only_the_owner_or_fulfilment_staff_may() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "CX-1", &[(1000, "EUR")], 5).await?;
    let (ada_id, ada) = server.customer("ada@example.com").await?;
    let (_, bob) = server.customer("bob@example.com").await?;
    let theirs = cart(&server, Some(&ada), "EUR", &[(&sku, 2)]).await?;
    let order = checkout(&server, Some(&ada), &theirs, "tok_ok").await?;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let order_id = order.str("id")?.to_owned();
    assert_eq!(stock_of(&server, &admin, &sku).await?, (3, 0));

    let support = server.staff_token("support@shop.test", Role::Support).await?;
    let ship = format!("/v1/orders/{order_id}/fulfillments");
    let body = json!({"items": [{"sku": sku, "quantity": 1}]});
    assert_eq!(server.post(&ship, Some(&support), body.clone()).await?.status, StatusCode::FORBIDDEN);
    assert_eq!(server.post(&ship, Some(&ada), body.clone()).await?.status, StatusCode::FORBIDDEN);
    let cancel = format!("/v1/orders/{order_id}/cancel");
    assert_eq!(server.post(&cancel, Some(&bob), json!({})).await?.status, StatusCode::NOT_FOUND);
    assert_eq!(server.post(&cancel, None, json!({})).await?.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.post(&cancel, Some(&support), json!({})).await?.status, StatusCode::FORBIDDEN);

    let cancelled = server.post(&cancel, Some(&ada), json!({"reason": "changed my mind"})).await?;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["refunded"], cancelled.body["captured"]);
    assert_eq!(stock_of(&server, &admin, &sku).await?, (5, 0), "the units are back on hand");
    let refunds = server.state.test_payments.calls().iter().filter(|c| matches!(c, Call::Refund { .. })).count();
    assert_eq!(refunds, 1);
    let again = server.post(&cancel, Some(&admin), json!({})).await?;
    assert_eq!(again.problem_code(), "invalid_transition");
    let ship_cancelled = server.post(&ship, Some(&admin), body).await?;
    assert_eq!(ship_cancelled.problem_code(), "invalid_transition");
    let moves = server.get_as(&format!("/v1/inventory/{sku}/movements"), &admin).await?;
    let reasons: Vec<&str> =
        moves.body["data"].as_array().into_iter().flatten().filter_map(|m| m["reason"].as_str()).collect();
    assert_eq!(reasons[..2], ["cancellation", "sale"], "the ledger shows the sale and its reversal");

    // Something shipped: no cancellation.
    let second = cart(&server, Some(&ada), "EUR", &[(&sku, 1)]).await?;
    let order = checkout(&server, Some(&ada), &second, "tok_ok").await?;
    let order_id = order.str("id")?.to_owned();
    let shipped = server
        .post(
            &format!("/v1/orders/{order_id}/fulfillments"),
            Some(&admin),
            json!({"items": [{"sku": sku, "quantity": 1}]}),
        )
        .await?;
    assert_eq!(shipped.status, StatusCode::CREATED);
    let refused = server.post(&format!("/v1/orders/{order_id}/cancel"), Some(&ada), json!({})).await?;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.problem_code(), "invalid_transition");

    // The staff's view of the customer counts the order kept and what it paid.
    let figures = server.get_as(&format!("/v1/customers/{ada_id}"), &admin).await?;
    assert_eq!(figures.body["orders_count"], 1, "{}", figures.body);
    assert_eq!(figures.body["total_spent"], json!([{"amount": 1000, "currency": "EUR"}]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refunds_never_pass_what_was_captured() -> TestResult {
    let server = Arc::new(TestServer::start().await?);
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "RF-1", &[(1000, "EUR")], 5).await?;
    let cart = cart(&server, None, "EUR", &[(&sku, 4)]).await?;
    let order = checkout(&server, None, &cart, "tok_ok").await?;
    let order_id = order.str("id")?.to_owned();
    assert_eq!(amount(&order.body["captured"]), 4000);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (server, admin, order_id) = (Arc::clone(&server), admin.clone(), order_id.clone());
        tasks.push(tokio::spawn(async move {
            server
                .post(
                    &format!("/v1/orders/{order_id}/refunds"),
                    Some(&admin),
                    json!({"amount": {"amount": 1000, "currency": "EUR"}}),
                )
                .await
                .map(|r| (r.status, r.problem_code()))
        }));
    }
    let mut refunded = 0;
    for task in tasks {
        match task.await?? {
            (StatusCode::CREATED, _) => refunded += 1,
            (StatusCode::UNPROCESSABLE_ENTITY, code) => assert_eq!(code, "refund_exceeds_captured"),
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(refunded, 4, "exactly what was captured is refunded");
    let seen = server.get_as(&format!("/v1/orders/{order_id}"), &admin).await?;
    assert_eq!(amount(&seen.body["refunded"]), 4000);
    assert_eq!(seen.body["status"], "refunded");
    let moved: i64 = server
        .state
        .test_payments
        .calls()
        .iter()
        .filter_map(|c| if let Call::Refund { amount, .. } = c { Some(amount.amount()) } else { None })
        .sum();
    assert_eq!(moved, 4000, "the provider moved exactly that");
    Ok(())
}

#[tokio::test]
async fn returns_one_unit_at_a_time_refund_exactly_what_the_line_paid() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let sku = product(&server, &admin, "ODD-1", &[(1001, "EUR")], 5).await?;
    let code = server
        .post(
            "/v1/discounts",
            Some(&admin),
            json!({"code": "CENT", "kind": "fixed", "value": {"amount": 1, "currency": "EUR"}}),
        )
        .await?;
    assert_eq!(code.status, StatusCode::CREATED, "{}", code.body);
    let cart = cart(&server, None, "EUR", &[(&sku, 2)]).await?;
    let applied = server.post(&format!("/v1/carts/{cart}/discounts"), None, json!({"code": "CENT"})).await?;
    assert_eq!(amount(&applied.body["total"]), 2001, "{}", applied.body);
    let order = checkout(&server, None, &cart, "tok_ok").await?;
    let order_id = order.str("id")?.to_owned();
    let shipped = server
        .post(
            &format!("/v1/orders/{order_id}/fulfillments"),
            Some(&admin),
            json!({"items": [{"sku": sku, "quantity": 2}]}),
        )
        .await?;
    assert_eq!(shipped.status, StatusCode::CREATED, "{}", shipped.body);
    let mut refunded = Vec::new();
    for _ in 0..2 {
        let opened = server
            .post(&format!("/v1/orders/{order_id}/returns"), None, json!({"items": [{"sku": sku, "quantity": 1}]}))
            .await?;
        let return_id = id(&opened.body);
        let received =
            server.post(&format!("/v1/returns/{return_id}/receive"), Some(&admin), json!({"restock": false})).await?;
        assert_eq!(received.status, StatusCode::OK, "{}", received.body);
        let paid_back = server.post(&format!("/v1/returns/{return_id}/refund"), Some(&admin), json!({})).await?;
        assert_eq!(paid_back.status, StatusCode::OK, "{}", paid_back.body);
        refunded.push(amount(&paid_back.body["refunded"]));
    }
    assert_eq!(refunded, vec![1001, 1000], "the units' shares sum to what the line paid");
    let seen = server.get_as(&format!("/v1/orders/{order_id}"), &admin).await?;
    assert_eq!(seen.body["status"], "refunded");
    assert_eq!(amount(&seen.body["refunded"]), 2001);
    Ok(())
}
