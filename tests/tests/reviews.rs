//! Reviews: only a buyer (a paid order holding the product) reviews, once; a review waits for
//! moderation by staff with `reviews:write`; anyone reads the approved ones, sorted and
//! filtered; bad ratings and moderation by a customer are refused; `review.submitted` is written.

use emporium_customers::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::checkout::{cart, checkout, product};
use crate::common::{TestResult, TestServer};

/// A product and a customer who bought it: the product id and the customer's token.
async fn bought(server: &TestServer, admin: &str, sku: &str, email: &str) -> anyhow::Result<(String, String)> {
    let (_, token) = server.customer(email).await?;
    let cart = cart(server, Some(&token), "EUR", &[(sku, 1)]).await?;
    let order = checkout(server, Some(&token), &cart, "tok_ok").await?;
    anyhow::ensure!(order.status == StatusCode::CREATED, "{}", order.body);
    let product = server.get_as(&format!("/v1/products/product-{}", sku.to_lowercase()), admin).await?;
    Ok((product.str("id")?.to_owned(), token))
}

#[tokio::test]
async fn only_buyers_review_once_staff_moderate_and_anyone_reads_the_approved() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    product(&server, &admin, "REV-MUG", &[(1999, "EUR")], 10).await?;
    let (product_id, ada) = bought(&server, &admin, "REV-MUG", "ada@example.com").await?;
    let (_, grace) = bought(&server, &admin, "REV-MUG", "grace@example.com").await?;
    let (_, stranger) = server.customer("stranger@example.com").await?;
    let path = format!("/v1/products/{product_id}/reviews");
    let review = |rating: serde_json::Value| json!({"rating": rating, "title": "Good mug", "body": "Holds coffee."});

    // Without a purchase, or with a bad rating: refused, nothing stored.
    let refused = server.post(&path, Some(&stranger), review(json!(5))).await?;
    assert_eq!((refused.status, refused.problem_code()), (StatusCode::FORBIDDEN, "purchase_required".to_owned()));
    for bad in [json!(0), json!(6), json!(4.5)] {
        let refused = server.post(&path, Some(&ada), review(bad.clone())).await?;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", refused.body);
    }
    let anonymous = server.post(&path, None, review(json!(5))).await?;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // A buyer reviews once; the review waits.
    let first = server.post(&path, Some(&ada), review(json!(5))).await?;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        (first.body["status"].as_str(), first.body["verified_purchase"].as_bool(), first.body["author"].as_str()),
        (Some("pending"), Some(true), Some("Ada L."))
    );
    let again = server.post(&path, Some(&ada), review(json!(4))).await?;
    assert_eq!((again.status, again.problem_code()), (StatusCode::CONFLICT, "already_reviewed".to_owned()));
    let second = server.post(&path, Some(&grace), review(json!(2))).await?;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(server.get(&path).await?.body["data"], json!([]), "nothing is listed before approval");

    // Moderation: staff with reviews:write (marketing), never a customer.
    let marketing = server.staff_token("marketing@shop.test", Role::Marketing).await?;
    let first_id = first.str("id")?.to_owned();
    let by_customer = server.post(&format!("/v1/reviews/{first_id}/approve"), Some(&ada), json!({})).await?;
    assert_eq!(by_customer.status, StatusCode::FORBIDDEN);
    let pending = server.get_as("/v1/reviews?status=pending", &marketing).await?;
    assert_eq!(pending.body["data"].as_array().map(Vec::len), Some(2), "{}", pending.body);
    for id in [first_id.as_str(), second.str("id")?] {
        let approved = server.post(&format!("/v1/reviews/{id}/approve"), Some(&marketing), json!({})).await?;
        assert_eq!(approved.body["status"], "approved", "{}", approved.body);
    }
    let listed = server.get(&format!("{path}?sort=rating_asc")).await?;
    let ratings: Vec<i64> =
        listed.body["data"].as_array().into_iter().flatten().filter_map(|r| r["rating"].as_i64()).collect();
    assert_eq!(ratings, vec![2, 5]);
    let fives = server.get(&format!("{path}?rating=5")).await?;
    assert_eq!(fives.body["data"].as_array().map(Vec::len), Some(1));
    let paged = server.get(&format!("{path}?sort=rating_desc&limit=1")).await?;
    assert_eq!(paged.body["data"][0]["rating"], 5);
    let cursor = paged.str("next_cursor")?.to_owned();
    let rest = server.get(&format!("{path}?sort=rating_desc&limit=1&cursor={cursor}")).await?;
    assert_eq!((rest.body["data"][0]["rating"].as_i64(), rest.body["next_cursor"].is_null()), (Some(2), true));
    let mismatched = server.get(&format!("{path}?sort=newest&limit=1&cursor={cursor}")).await?;
    assert_eq!(mismatched.problem_code(), "invalid_cursor");
    let rejected = server.post(&format!("/v1/reviews/{first_id}/reject"), Some(&marketing), json!({})).await?;
    assert_eq!(rejected.body["status"], "rejected");
    let left: Vec<i64> = server.get(&path).await?.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["rating"].as_i64())
        .collect();
    assert_eq!(left, vec![2], "a rejected review is not listed");
    let unknown = server.get(&format!("{path}?sort=best")).await?;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The product's rating follows moderation (one approved review of 2 left).
    let ratings = emporium_reviews::ratings(&server.app_db, std::slice::from_ref(&product_id)).await?;
    assert_eq!((ratings[0].count, ratings[0].average(), ratings[0].histogram), (1, "2.00".to_owned(), [0, 1, 0, 0, 0]));

    // The event, and GraphQL on the same use cases.
    let kinds = crate::common::event_kinds(&server, &admin, &["review.submitted"]).await?;
    assert_eq!(kinds.iter().filter(|k| *k == "review.submitted").count(), 2, "{kinds:?}");
    let read = server
        .graphql(
            None,
            "query($id: String!) { productReviews(idOrSlug: $id) { nodes { rating author } } }",
            json!({"id": product_id}),
        )
        .await?;
    assert_eq!(
        read.body["data"]["productReviews"]["nodes"],
        json!([{"rating": 2, "author": "Ada L."}]),
        "{}",
        read.body
    );
    let again = server
        .graphql(
            Some(&grace),
            r#"mutation($id: String!) { createReview(idOrSlug: $id, rating: 3, title: "t", body: "b") { id } }"#,
            json!({"id": product_id}),
        )
        .await?;
    assert_eq!(again.body["errors"][0]["extensions"]["code"], "already_reviewed", "{}", again.body);
    Ok(())
}

#[tokio::test]
async fn a_products_rating_follows_moderation_at_once_and_orders_rating_lists() -> TestResult {
    let server = TestServer::start().await?;
    let admin = server.admin_token().await?;
    let marketing = server.staff_token("marketing@shop.test", Role::Marketing).await?;
    for sku in ["RATE-A", "RATE-B", "RATE-C"] {
        product(&server, &admin, sku, &[(1000, "EUR")], 10).await?;
    }
    let (a, ada) = bought(&server, &admin, "RATE-A", "ada@example.com").await?;
    let (_, grace) = bought(&server, &admin, "RATE-A", "grace@example.com").await?;
    let (b, alan) = bought(&server, &admin, "RATE-B", "alan@example.com").await?;
    let (c, _) = bought(&server, &admin, "RATE-C", "barbara@example.com").await?;
    let slug = "/v1/products/product-rate-a";

    // Read (and cached) before any review: zeros, every bucket listed.
    let before = server.get(slug).await?;
    let zeros = json!({"average": "0.00", "count": 0, "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}});
    assert_eq!(before.body["rating"], zeros, "{}", before.body);
    let etag = before.headers.get("etag").cloned();

    let review = |rating: i64| json!({"rating": rating, "title": "Fine", "body": "It does the job."});
    let mut ids = Vec::new();
    for (product_id, token, rating) in [(&a, &ada, 4), (&a, &grace, 5), (&b, &alan, 5)] {
        let made = server.post(&format!("/v1/products/{product_id}/reviews"), Some(token), review(rating)).await?;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        ids.push(made.str("id")?.to_owned());
    }
    assert_eq!(server.get(slug).await?.body["rating"], zeros, "a pending review does not count");
    for id in &ids {
        let approved = server.post(&format!("/v1/reviews/{id}/approve"), Some(&marketing), json!({})).await?;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    }

    // At once, by slug and by id, on the cached document: the ETag moves with it.
    let after = server.get(slug).await?;
    assert_eq!(
        after.body["rating"],
        json!({"average": "4.50", "count": 2, "histogram": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}})
    );
    assert_ne!(after.headers.get("etag").cloned(), etag, "the document changed, so does its tag");
    assert_eq!(server.get(&format!("/v1/products/{a}")).await?.body["rating"]["average"], "4.50");

    // sort=rating: best average first, unrated last (newest first), from the database and from
    // the search index (a stock filter sends the list there), page by page alike.
    let order = |reply: &crate::common::Reply| -> Vec<String> {
        reply.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect()
    };
    let expected = vec![b.clone(), a.clone(), c.clone()];
    for query in ["sort=rating", "sort=rating&in_stock=true"] {
        assert_eq!(order(&server.get(&format!("/v1/products?{query}")).await?), expected, "{query}");
        let mut paged = Vec::new();
        let mut next = format!("/v1/products?{query}&limit=1");
        loop {
            let page = server.get(&next).await?;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            paged.extend(order(&page));
            match page.body["next_cursor"].as_str() {
                Some(cursor) => next = format!("/v1/products?{query}&limit=1&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(paged, expected, "{query}, one per page");
    }

    // Rejecting moves the rating and the order at once: B is unrated again, and older than C.
    let rejected = server.post(&format!("/v1/reviews/{}/reject", ids[2]), Some(&marketing), json!({})).await?;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(server.get("/v1/products/product-rate-b").await?.body["rating"], zeros);
    for query in ["sort=rating", "sort=rating&in_stock=true"] {
        assert_eq!(
            order(&server.get(&format!("/v1/products?{query}")).await?),
            [a.as_str(), c.as_str(), b.as_str()],
            "{query}"
        );
    }

    // GraphQL reads the same rating and sorts the same way.
    let read = server
        .graphql(
            None,
            r#"query($id: String!) {
                product(idOrSlug: $id) { rating { average count histogram { stars count } } }
                products(sort: RATING, first: 3) { nodes { id } }
            }"#,
            json!({"id": a}),
        )
        .await?;
    assert!(read.body["errors"].is_null(), "{}", read.body);
    let rating = &read.body["data"]["product"]["rating"];
    assert_eq!((rating["average"].as_str(), rating["count"].as_i64()), (Some("4.50"), Some(2)));
    assert_eq!(rating["histogram"][4], json!({"stars": 5, "count": 1}));
    let nodes: Vec<&str> = read.body["data"]["products"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(nodes, [a.as_str(), c.as_str(), b.as_str()]);
    Ok(())
}
