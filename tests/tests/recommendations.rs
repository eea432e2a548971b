//! Recommendations: products bought together, from the counts the orders keep in their own
//! transactions (a cancellation takes its order back), and a signed-in customer's
//! recommendations; drafts, sold-out products and what the customer bought are never shown;
//! bad limits are refused; GraphQL answers the same.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{cart, checkout};
use crate::common::{Options, Reply, TestResult, TestServer};

/// A published product named `name` (its slug is the name in lower case) with one variant
/// `sku` at 10.00 EUR and `units` in stock, in `categories`: its id.
async fn product(
    server: &TestServer,
    admin: &str,
    name: &str,
    categories: &[&str],
    units: i64,
) -> anyhow::Result<String> {
    let created = server
        .create_product(
            admin,
            json!({
                "name": name,
                "status": "published",
                "category_ids": categories,
                "variants": [{"sku": name.to_uppercase(), "prices": [{"amount": 1000, "currency": "EUR"}]}],
            }),
        )
        .await?;
    server.stock(created["variants"][0]["id"].as_str().unwrap_or_default(), units).await?;
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}

/// A new customer `email` orders one of each of `names`: their token and the order's id.
async fn order(server: &TestServer, email: &str, names: &[&str]) -> anyhow::Result<(String, String)> {
    let (_, token) = server.customer(email).await?;
    let lines: Vec<(String, i64)> = names.iter().map(|n| (n.to_uppercase(), 1)).collect();
    let lines: Vec<(&str, i64)> = lines.iter().map(|(sku, q)| (sku.as_str(), *q)).collect();
    let cart = cart(server, Some(&token), "EUR", &lines).await?;
    let placed = checkout(server, Some(&token), &cart, "tok_ok").await?;
    anyhow::ensure!(placed.status == StatusCode::CREATED, "{}", placed.body);
    Ok((token, placed.str("id")?.to_owned()))
}

/// The slugs of a recommendation list with what ranked each.
fn ranked(reply: &Reply, why: &str) -> Vec<(String, Value)> {
    reply.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| (item["product"]["slug"].as_str().unwrap_or_default().to_owned(), item[why].clone()))
        .collect()
}

fn pairs(expected: &[(&str, Value)]) -> Vec<(String, Value)> {
    expected.iter().map(|(slug, why)| ((*slug).to_owned(), why.clone())).collect()
}

/// Polls `path` until its list is `expected`, for at most a few seconds (a ranking is reused
/// for the server's short freshness here).
async fn eventually(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    why: &str,
    expected: &[(&str, Value)],
) -> anyhow::Result<()> {
    let expected = pairs(expected);
    let mut last = Vec::new();
    for _ in 0..100 {
        let reply = match token {
            Some(token) => server.get_as(path, token).await?,
            None => server.get(path).await?,
        };
        anyhow::ensure!(reply.status == StatusCode::OK, "{path}: {}", reply.body);
        last = ranked(&reply, why);
        if last == expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{path}: {last:?}, not {expected:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_bought_together_follow_paid_orders_and_leave_out_drafts_sold_out_and_cancelled() -> TestResult {
    let options = Options { recommendations_fresh_for: Some(Duration::from_millis(200)), ..Options::default() };
    let server = TestServer::start_with(options).await?;
    let admin = server.admin_token().await?;
    let mug = product(&server, &admin, "Mug", &[], 20).await?;
    for (name, units) in [("Coaster", 20), ("Tea", 20), ("Spoon", 20), ("Kettle", 1), ("Sugar", 20)] {
        product(&server, &admin, name, &[], units).await?;
    }
    order(&server, "ada@example.com", &["Mug", "Coaster"]).await?;
    order(&server, "grace@example.com", &["Mug", "Coaster", "Tea"]).await?;
    // The only kettle sells here: it is out of stock from now on.
    order(&server, "alan@example.com", &["Mug", "Tea", "Kettle"]).await?;
    let (_, cancelled) = order(&server, "barbara@example.com", &["Mug", "Spoon"]).await?;
    order(&server, "dora@example.com", &["Mug", "Sugar"]).await?;

    // Most orders together first, ties by age; the sold-out kettle left out; 4 by default.
    let path = "/v1/products/mug/frequently-bought-together";
    let first = server.get(path).await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        ranked(&first, "orders_together"),
        pairs(&[("coaster", json!(2)), ("tea", json!(2)), ("spoon", json!(1)), ("sugar", json!(1))])
    );
    let product = &first.body["data"][0]["product"];
    assert!(product["variants"][0]["available"].as_i64().is_some_and(|n| n > 0), "a whole product read: {product}");
    assert_eq!(product["rating"]["count"], 0);
    let one = server.get(&format!("/v1/products/{mug}/frequently-bought-together?limit=1")).await?;
    assert_eq!(ranked(&one, "orders_together"), pairs(&[("coaster", json!(2))]));

    // A cancellation takes its order back; a product made a draft is no longer shown.
    let cancel = server.post(&format!("/v1/orders/{cancelled}/cancel"), Some(&admin), json!({})).await?;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    let drafted = server.patch("/v1/products/sugar", Some(&admin), json!({"status": "draft"})).await?;
    assert_eq!(drafted.status, StatusCode::OK, "{}", drafted.body);
    eventually(&server, path, None, "orders_together", &[("coaster", json!(2)), ("tea", json!(2))]).await?;

    // The counters hold exactly what the orders do: 4 orders of one mug each are left.
    let counted = server
        .graphql(
            None,
            r#"{ frequentlyBoughtTogether(idOrSlug: "mug", limit: 1) { product { slug rating { count } } ordersTogether } }"#,
            json!({}),
        )
        .await?;
    assert_eq!(
        counted.body["data"]["frequentlyBoughtTogether"],
        json!([{"product": {"slug": "coaster", "rating": {"count": 0}}, "ordersTogether": 2}]),
        "{}",
        counted.body
    );
    let (orders, units) = sales_of(&server, &mug).await?;
    assert_eq!((orders, units), (4, 4));

    // A draft is not found by shoppers; bad limits are refused.
    assert_eq!(server.get("/v1/products/sugar/frequently-bought-together").await?.status, StatusCode::NOT_FOUND);
    for limit in ["0", "21", "x"] {
        let refused = server.get(&format!("{path}?limit={limit}")).await?;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{limit}: {}", refused.body);
        assert_eq!(refused.error_fields().first().map(|(f, _)| f.as_str()), Some("limit"));
    }
    let bad = server
        .graphql(None, r#"{ frequentlyBoughtTogether(idOrSlug: "mug", limit: 50) { ordersTogether } }"#, json!({}))
        .await?;
    assert_eq!(bad.body["errors"][0]["extensions"]["code"], "validation_failed", "{}", bad.body);
    Ok(())
}

/// A product's counters as the orders keep them: (orders, units).
async fn sales_of(server: &TestServer, product_id: &str) -> anyhow::Result<(i64, i64)> {
    let of = |column: &str| format!("SELECT {column} AS n FROM product_sales WHERE product_id = ?");
    let orders = server.scalar(&of("orders"), vec![product_id.into()]).await?;
    Ok((orders, server.scalar(&of("units"), vec![product_id.into()]).await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_is_recommended_what_others_bought_with_theirs_and_their_categories_best_sellers() -> TestResult {
    let options = Options { recommendations_fresh_for: Some(Duration::from_millis(200)), ..Options::default() };
    let server = TestServer::start_with(options).await?;
    let admin = server.admin_token().await?;
    let kitchen = server.post("/v1/categories", Some(&admin), json!({"name": "Kitchen"})).await?;
    assert_eq!(kitchen.status, StatusCode::CREATED, "{}", kitchen.body);
    let kitchen = kitchen.str("id")?.to_owned();
    for name in ["Mug", "Bowl", "Plate"] {
        product(&server, &admin, name, &[kitchen.as_str()], 20).await?;
    }
    for (name, units) in [("Coaster", 20), ("Tea", 20), ("Kettle", 1)] {
        product(&server, &admin, name, &[], units).await?;
    }
    let path = "/v1/customers/me/recommendations";
    let (ada, _) = order(&server, "ada@example.com", &["Mug"]).await?;
    order(&server, "grace@example.com", &["Mug", "Coaster", "Tea"]).await?;
    order(&server, "alan@example.com", &["Coaster", "Mug", "Kettle"]).await?;
    order(&server, "barbara@example.com", &["Bowl", "Plate"]).await?;
    order(&server, "dora@example.com", &["Bowl"]).await?;

    // Bought with the mug: the coaster (2 orders), the tea (1); the kettle is sold out. Then the
    // kitchen's best sellers: the bowl (2 units), the plate (1); never the mug again.
    let bought_together = json!("bought_together");
    let best_seller = json!("category_best_seller");
    let mine = server.get_as(&format!("{path}?limit=10"), &ada).await?;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(
        ranked(&mine, "reason"),
        pairs(&[
            ("coaster", bought_together.clone()),
            ("tea", bought_together.clone()),
            ("bowl", best_seller.clone()),
            ("plate", best_seller.clone())
        ])
    );
    assert_eq!(ranked(&server.get_as(path, &ada).await?, "reason").len(), 4, "4 by default");

    // Once she buys the coaster it is never recommended to her, at once.
    let coaster = cart(&server, Some(&ada), "EUR", &[("COASTER", 1)]).await?;
    assert_eq!(checkout(&server, Some(&ada), &coaster, "tok_ok").await?.status, StatusCode::CREATED);
    let after = server.get_as(&format!("{path}?limit=10"), &ada).await?;
    assert!(!ranked(&after, "reason").iter().any(|(slug, _)| slug == "coaster"), "{}", after.body);

    // A new customer has none yet; only customers ask; GraphQL answers the same.
    let (_, newcomer) = server.customer("newcomer@example.com").await?;
    assert_eq!(server.get_as(path, &newcomer).await?.body, json!({"data": []}));
    assert_eq!(server.get(path).await?.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.get_as(path, &admin).await?.status, StatusCode::FORBIDDEN);
    let read =
        server.graphql(Some(&ada), "{ myRecommendations(limit: 2) { product { slug } reason } }", json!({})).await?;
    assert_eq!(
        read.body["data"]["myRecommendations"],
        json!([
            {"product": {"slug": "tea"}, "reason": "BOUGHT_TOGETHER"},
            {"product": {"slug": "bowl"}, "reason": "CATEGORY_BEST_SELLER"}
        ]),
        "{}",
        read.body
    );
    Ok(())
}
