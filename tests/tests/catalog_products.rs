//! The catalog's happy paths and state rules: products, variants and categories through the
//! REST API, as API.md's "Conventions" and "Catalog" sections promise them.

use std::collections::HashSet;

use anyhow::Context as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Reply, TestResult, TestServer, tee};

/// A string field of a JSON value, or an error naming it.
fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field].as_str().map(str::to_owned).with_context(|| format!("no string '{field}' in {value}"))
}

/// The ids of a list page's products, in order.
fn ids(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|row| row["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The names of a list page's products, in order.
fn names(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|row| row["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// `GET path` with query parameters, properly encoded, optionally with a bearer token.
async fn get_query(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    query: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    let mut request = server.client.get(server.url(path)).query(query);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::from(request.send().await?).await
}

/// Follows `next_cursor` from the first page to the last; returns every page's reply.
async fn all_pages(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    query: &[(&str, &str)],
) -> anyhow::Result<Vec<Reply>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params: Vec<(&str, &str)> = query.to_vec();
        if let Some(cursor) = cursor.as_deref() {
            params.push(("cursor", cursor));
        }
        let page = get_query(server, path, token, &params).await?;
        anyhow::ensure!(page.status == StatusCode::OK, "page {} failed: {} {}", pages.len(), page.status, page.body);
        let next = page.body["next_cursor"].clone();
        pages.push(page);
        match next {
            Value::Null => return Ok(pages),
            Value::String(next) => cursor = Some(next),
            other => anyhow::bail!("next_cursor is neither a string nor null: {other}"),
        }
        anyhow::ensure!(pages.len() <= 50, "more than 50 pages: the cursor never ends");
    }
}

/// Whether `value` is an RFC 3339 timestamp in UTC (`Z` or `+00:00`).
fn is_rfc3339_utc(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    let head = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !head {
        return false;
    }
    let mut rest = &value[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    rest == "Z" || rest == "+00:00"
}

/// A published product with one variant without options.
fn simple(name: &str, sku: &str, prices: Value) -> Value {
    json!({"name": name, "status": "published", "variants": [{"sku": sku, "prices": prices}]})
}

async fn create_category(server: &TestServer, token: &str, body: Value) -> anyhow::Result<Value> {
    let reply = server.post("/v1/categories", Some(token), body).await?;
    anyhow::ensure!(reply.status == StatusCode::CREATED, "category create failed: {} {}", reply.status, reply.body);
    Ok(reply.body)
}

// ---------------------------------------------------------------------------------------------
// Creating and reading products
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creating_a_product_answers_201_with_the_whole_product() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let reply = server
        .post(
            "/v1/products",
            Some(&token),
            json!({
                "name": "Organic Cotton Tee",
                "description": "Soft organic cotton.",
                "status": "published",
                "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Color", "values": ["Red", "Blue"]}],
                "variants": [
                    {"sku": "OCT-M-BLUE", "options": {"Size": "M", "Color": "Blue"},
                     "prices": [{"amount": 2600, "currency": "EUR"}]},
                    {"sku": "OCT-S-RED", "title": "Small red", "options": {"Size": "S", "Color": "Red"},
                     "prices": [{"amount": 2500, "currency": "EUR"}, {"amount": 2700, "currency": "USD"}]},
                    {"sku": "OCT-S-BLUE", "options": {"Size": "S", "Color": "Blue"},
                     "prices": [{"amount": 2500, "currency": "EUR"}]}
                ]
            }),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let media = reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(media.starts_with("application/json"), "content-type {media:?}");
    let product = &reply.body;

    assert!(!text(product, "id")?.is_empty());
    assert_eq!(product["slug"], "organic-cotton-tee");
    assert_eq!(product["name"], "Organic Cotton Tee");
    assert_eq!(product["description"], "Soft organic cotton.");
    assert_eq!(product["status"], "published");
    assert_eq!(product["seo_title"], Value::Null);
    assert_eq!(product["seo_description"], Value::Null);
    assert!(product.get("seo_title").is_some() && product.get("seo_description").is_some(), "seo fields missing");
    assert_eq!(product["category_ids"], json!([]));
    assert_eq!(
        product["options"],
        json!([{"name": "Size", "values": ["S", "M"]}, {"name": "Color", "values": ["Red", "Blue"]}])
    );
    for field in ["created_at", "updated_at"] {
        let at = text(product, field)?;
        assert!(is_rfc3339_utc(&at), "{field} is not RFC 3339 UTC: {at:?}");
    }

    let variants = product["variants"].as_array().context("no variants array")?;
    assert_eq!(variants.len(), 3);
    let skus: Vec<&str> = variants.iter().filter_map(|v| v["sku"].as_str()).collect();
    assert_eq!(skus, ["OCT-M-BLUE", "OCT-S-RED", "OCT-S-BLUE"], "variants not in the order given");
    let titles: Vec<&str> = variants.iter().filter_map(|v| v["title"].as_str()).collect();
    assert_eq!(titles, ["M / Blue", "Small red", "S / Blue"]);
    assert_eq!(variants[0]["options"], json!({"Size": "M", "Color": "Blue"}));
    assert_eq!(variants[1]["options"], json!({"Size": "S", "Color": "Red"}));
    assert_eq!(variants[0]["prices"], json!([{"amount": 2600, "currency": "EUR"}]));
    assert_eq!(
        variants[1]["prices"],
        json!([{"amount": 2500, "currency": "EUR"}, {"amount": 2700, "currency": "USD"}])
    );
    let variant_ids: HashSet<&str> = variants.iter().filter_map(|v| v["id"].as_str()).collect();
    assert_eq!(variant_ids.len(), 3, "variant ids missing or not distinct: {variants:?}");
    for variant in variants {
        assert_eq!(variant["available"], 0, "nothing is stocked yet: {variant}");
    }
    Ok(())
}

#[tokio::test]
async fn a_variant_without_options_or_title_is_titled_default() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server
        .create_product(&token, simple("Gift Card", "GIFT-1", json!([{"amount": 5000, "currency": "EUR"}])))
        .await?;
    assert_eq!(product["options"], json!([]));
    assert_eq!(product["variants"][0]["title"], "Default");
    assert_eq!(product["variants"][0]["options"], json!({}));
    assert_eq!(product["variants"][0]["sku"], "GIFT-1");
    Ok(())
}

#[tokio::test]
async fn a_slug_is_made_from_the_name_with_a_suffix_when_taken() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let first = server.create_product(&token, tee("Linen Shirt", "LIN1")).await?;
    let second = server.create_product(&token, tee("Linen Shirt", "LIN2")).await?;
    let third = server.create_product(&token, tee("Linen Shirt", "LIN3")).await?;
    assert_eq!(first["slug"], "linen-shirt");
    assert_eq!(second["slug"], "linen-shirt-2");
    assert_eq!(third["slug"], "linen-shirt-3");
    assert_ne!(first["id"], second["id"]);

    let mut given = tee("Whatever Name", "GIVEN");
    given["slug"] = json!("my-own-slug");
    assert_eq!(server.create_product(&token, given).await?["slug"], "my-own-slug");

    let mut taken = tee("Another", "TAKEN");
    taken["slug"] = json!("linen-shirt");
    let reply = server.post("/v1/products", Some(&token), taken).await?;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.problem_code(), "slug_taken");
    Ok(())
}

#[tokio::test]
async fn reading_by_id_and_by_slug_returns_the_same_product() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let created = server.create_product(&token, tee("Wool Socks", "SOCK")).await?;
    let id = text(&created, "id")?;

    let by_id = server.get(&format!("/v1/products/{id}")).await?;
    let by_slug = server.get("/v1/products/wool-socks").await?;
    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.body);
    assert_eq!(by_slug.status, StatusCode::OK, "{}", by_slug.body);
    assert_eq!(by_id.body, by_slug.body);
    assert_eq!(by_id.body, created, "a read differs from what the create answered");
    Ok(())
}

#[tokio::test]
async fn an_unknown_id_or_slug_is_404_not_found() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("Real Tee", "REAL")).await?;
    for path in ["/v1/products/no-such-product", "/v1/products/prod_00000000000000000000000000000000"] {
        let reply = server.get(path).await?;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.body);
        assert_eq!(reply.problem_code(), "not_found", "{path}");
        let staff = server.get_as(path, &token).await?;
        assert_eq!(staff.status, StatusCode::NOT_FOUND, "{path} as staff: {}", staff.body);
        assert_eq!(staff.problem_code(), "not_found", "{path} as staff");
    }
    Ok(())
}

#[tokio::test]
async fn available_reflects_the_units_in_stock() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let created = server.create_product(&token, tee("Stocked Tee", "STOCK")).await?;
    let id = text(&created, "id")?;
    let first_variant = text(&created["variants"][0], "id")?;
    // The product has not been read yet, so no cached copy predates the stock.
    server.stock(&first_variant, 7).await?;

    let read = server.get(&format!("/v1/products/{id}")).await?;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["variants"][0]["id"], json!(first_variant));
    assert_eq!(read.body["variants"][0]["available"], 7);
    assert_eq!(read.body["variants"][1]["available"], 0);
    let by_slug = server.get("/v1/products/stocked-tee").await?;
    assert_eq!(by_slug.body["variants"][0]["available"], 7);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Drafts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_draft_is_404_to_anonymous_callers_and_readable_by_staff() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut body = tee("Secret Tee", "SECRET");
    body["status"] = json!("draft");
    let draft = server.create_product(&token, body).await?;
    assert_eq!(draft["status"], "draft");
    let id = text(&draft, "id")?;

    for path in [format!("/v1/products/{id}"), "/v1/products/secret-tee".to_owned()] {
        let anonymous = server.get(&path).await?;
        assert_eq!(anonymous.status, StatusCode::NOT_FOUND, "{path}: {}", anonymous.body);
        assert_eq!(anonymous.problem_code(), "not_found");
        let staff = server.get_as(&path, &token).await?;
        assert_eq!(staff.status, StatusCode::OK, "{path} as staff: {}", staff.body);
        assert_eq!(staff.body["id"], json!(id));
        assert_eq!(staff.body["status"], "draft");
    }
    Ok(())
}

#[tokio::test]
async fn drafts_are_listed_only_for_staff_who_ask_for_them() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let published = server.create_product(&token, tee("Public Tee", "PUB")).await?;
    let mut body = tee("Draft Tee", "DRAFT");
    body["status"] = json!("draft");
    let draft = server.create_product(&token, body).await?;
    let (published, draft) = (text(&published, "id")?, text(&draft, "id")?);

    let anonymous = server.get("/v1/products").await?;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(ids(&anonymous), std::slice::from_ref(&published));
    let staff_default = server.get_as("/v1/products", &token).await?;
    assert_eq!(ids(&staff_default), std::slice::from_ref(&published), "the default list is published products only");

    let drafts = server.get_as("/v1/products?status=draft", &token).await?;
    assert_eq!(drafts.status, StatusCode::OK, "{}", drafts.body);
    assert_eq!(ids(&drafts), std::slice::from_ref(&draft));
    let every = server.get_as("/v1/products?status=all", &token).await?;
    assert_eq!(every.status, StatusCode::OK, "{}", every.body);
    assert_eq!(ids(&every), [draft.clone(), published.clone()]);
    let only_published = server.get_as("/v1/products?status=published", &token).await?;
    assert_eq!(ids(&only_published), [published]);

    for status in ["draft", "all"] {
        let reply = server.get(&format!("/v1/products?status={status}")).await?;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "anonymous status={status}: {}", reply.body);
        assert_eq!(reply.problem_code(), "unauthorized");
    }
    Ok(())
}

#[tokio::test]
async fn publishing_a_draft_makes_it_readable_and_listed() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut body = tee("Soon Tee", "SOON");
    body["status"] = json!("draft");
    let draft = server.create_product(&token, body).await?;
    let id = text(&draft, "id")?;
    assert_eq!(server.get("/v1/products/soon-tee").await?.status, StatusCode::NOT_FOUND);

    let patched = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"status": "published"})).await?;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["status"], "published");
    let read = server.get("/v1/products/soon-tee").await?;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["status"], "published");
    assert_eq!(ids(&server.get("/v1/products").await?), [id]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn listing_sorts_newest_first_by_default_and_respects_limit() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut created = Vec::new();
    for (i, name) in ["First Tee", "Second Tee", "Third Tee"].into_iter().enumerate() {
        created.push(text(&server.create_product(&token, tee(name, &format!("NEW{i}"))).await?, "id")?);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let list = server.get("/v1/products").await?;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(ids(&list), newest_first);
    assert_eq!(list.body["next_cursor"], Value::Null);
    assert_eq!(ids(&server.get("/v1/products?sort=newest").await?), newest_first);

    let limited = server.get("/v1/products?limit=2").await?;
    assert_eq!(limited.status, StatusCode::OK, "{}", limited.body);
    assert_eq!(ids(&limited), newest_first[..2]);
    assert!(limited.body["next_cursor"].is_string(), "a further page exists: {}", limited.body);

    // Products in lists read exactly as they do alone.
    let alone = server.get(&format!("/v1/products/{}", created[2])).await?;
    assert_eq!(list.body["data"][0], alone.body);
    Ok(())
}

#[tokio::test]
async fn listing_pages_through_every_product_once() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut created = Vec::new();
    for i in 0..7 {
        created
            .push(text(&server.create_product(&token, tee(&format!("Page Tee {i}"), &format!("PG{i}"))).await?, "id")?);
    }
    let expected: Vec<String> = created.iter().rev().cloned().collect();

    let pages = all_pages(&server, "/v1/products", None, &[("limit", "3")]).await?;
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, [3, 3, 1]);
    let seen: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(seen, expected, "pages overlap, skip or reorder products");
    assert_eq!(pages.last().map(|p| p.body["next_cursor"].clone()), Some(Value::Null));
    Ok(())
}

#[tokio::test]
async fn paging_by_name_and_by_price_visits_every_product_once_in_order() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let catalog = [
        ("Delta", json!([{"amount": 1500, "currency": "EUR"}])),
        ("Alpha", json!([{"amount": 3000, "currency": "EUR"}])),
        ("Echo", json!([{"amount": 900, "currency": "USD"}])),
        ("Charlie", json!([{"amount": 1500, "currency": "EUR"}])),
        ("Bravo", json!([{"amount": 500, "currency": "EUR"}])),
        ("Foxtrot", json!([{"amount": 700, "currency": "USD"}])),
    ];
    for (i, (name, prices)) in catalog.into_iter().enumerate() {
        server.create_product(&token, simple(name, &format!("PAGED-{i}"), prices)).await?;
    }
    for sort in ["name", "price_asc", "price_desc", "newest"] {
        let query = [("sort", sort), ("currency", "EUR")];
        let whole =
            get_query(&server, "/v1/products", None, &[("sort", sort), ("currency", "EUR"), ("limit", "100")]).await?;
        assert_eq!(whole.status, StatusCode::OK, "sort={sort}: {}", whole.body);
        assert_eq!(ids(&whole).len(), 6, "sort={sort}");
        let mut params = query.to_vec();
        params.push(("limit", "2"));
        let pages = all_pages(&server, "/v1/products", None, &params).await?;
        let seen: Vec<String> = pages.iter().flat_map(ids).collect();
        assert_eq!(seen, ids(&whole), "sort={sort}: paging disagrees with one big page");
        assert_eq!(pages.len(), 3, "sort={sort}");
    }
    Ok(())
}

#[tokio::test]
async fn q_matches_name_description_and_sku_ignoring_case() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let by_name = server.create_product(&token, tee("Linen Shirt", "AAA")).await?;
    let mut body = tee("Plain Jumper", "BBB");
    body["description"] = json!("Knitted from Merino wool.");
    let by_description = server.create_product(&token, body).await?;
    let by_sku = server.create_product(&token, tee("Mystery Item", "ZQX42")).await?;
    let (by_name, by_description, by_sku) = (text(&by_name, "id")?, text(&by_description, "id")?, text(&by_sku, "id")?);

    for (q, expected) in [
        ("linen", vec![by_name.clone()]),
        ("LINEN SH", vec![by_name.clone()]),
        ("merino", vec![by_description.clone()]),
        ("KNITTED FROM", vec![by_description.clone()]),
        ("zqx42-m", vec![by_sku.clone()]),
        ("ZqX4", vec![by_sku.clone()]),
        ("organic cotton", vec![by_sku.clone(), by_name.clone()]),
        ("nothing-like-this", vec![]),
    ] {
        let reply = get_query(&server, "/v1/products", None, &[("q", q)]).await?;
        assert_eq!(reply.status, StatusCode::OK, "q={q}: {}", reply.body);
        assert_eq!(ids(&reply), expected, "q={q}");
    }
    Ok(())
}

#[tokio::test]
async fn percent_and_underscore_in_q_are_plain_text() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let percent = server
        .create_product(&token, simple("50% Off Tee", "PCT-1", json!([{"amount": 100, "currency": "EUR"}])))
        .await?;
    server.create_product(&token, simple("500 Tee", "PCT-2", json!([{"amount": 100, "currency": "EUR"}]))).await?;
    let underscore =
        server.create_product(&token, simple("A_B Tee", "UND-1", json!([{"amount": 100, "currency": "EUR"}]))).await?;
    server.create_product(&token, simple("AxB Tee", "UND-2", json!([{"amount": 100, "currency": "EUR"}]))).await?;

    // Neither is a wildcard: they separate words like any punctuation, and alone match nothing.
    for (q, expected) in [
        ("50% off", vec![text(&percent, "id")?]),
        ("%", vec![]),
        ("a_b", vec![text(&underscore, "id")?]),
        ("_", vec![]),
        ("%_%", vec![]),
    ] {
        let reply = get_query(&server, "/v1/products", None, &[("q", q)]).await?;
        assert_eq!(reply.status, StatusCode::OK, "q={q}: {}", reply.body);
        assert_eq!(ids(&reply), expected, "q={q} must match literally: {:?}", names(&reply));
    }
    Ok(())
}

#[tokio::test]
async fn category_filter_by_id_or_slug_includes_sub_categories() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let apparel = create_category(&server, &token, json!({"name": "Apparel"})).await?;
    let apparel_id = text(&apparel, "id")?;
    let shirts = create_category(&server, &token, json!({"name": "Shirts", "parent_id": apparel_id})).await?;
    let shirts_id = text(&shirts, "id")?;
    let formal = create_category(&server, &token, json!({"name": "Formal", "parent_id": shirts_id})).await?;
    let formal_id = text(&formal, "id")?;
    let tools = create_category(&server, &token, json!({"name": "Tools"})).await?;
    let tools_id = text(&tools, "id")?;

    let mut body = tee("Rain Jacket", "JACKET");
    body["category_ids"] = json!([apparel_id]);
    let jacket = server.create_product(&token, body).await?;
    assert_eq!(jacket["category_ids"], json!([apparel_id]));
    let mut body = tee("Oxford Shirt", "OXFORD");
    body["category_ids"] = json!([shirts_id]);
    let shirt = server.create_product(&token, body).await?;
    let mut body = tee("Hammer", "HAMMER");
    body["category_ids"] = json!([tools_id]);
    let hammer = server.create_product(&token, body).await?;
    // Two levels under Apparel.
    let mut body = tee("Dinner Shirt", "DINNER");
    body["category_ids"] = json!([formal_id]);
    let dinner = server.create_product(&token, body).await?;
    server.create_product(&token, tee("Uncategorised", "LOOSE")).await?;
    let (jacket, shirt, hammer) = (text(&jacket, "id")?, text(&shirt, "id")?, text(&hammer, "id")?);
    let dinner = text(&dinner, "id")?;

    for (category, expected) in [
        (apparel_id.as_str(), vec![dinner.clone(), shirt.clone(), jacket.clone()]),
        ("apparel", vec![dinner.clone(), shirt.clone(), jacket.clone()]),
        (shirts_id.as_str(), vec![dinner.clone(), shirt.clone()]),
        ("shirts", vec![dinner.clone(), shirt.clone()]),
        ("formal", vec![dinner.clone()]),
        ("tools", vec![hammer.clone()]),
    ] {
        let reply = get_query(&server, "/v1/products", None, &[("category", category)]).await?;
        assert_eq!(reply.status, StatusCode::OK, "category={category}: {}", reply.body);
        assert_eq!(ids(&reply), expected, "category={category}");
    }
    Ok(())
}

#[tokio::test]
async fn sort_by_name_orders_a_to_z() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    for (i, name) in ["Cherry Tee", "Apple Tee", "Banana Tee"].into_iter().enumerate() {
        server.create_product(&token, tee(name, &format!("FRUIT{i}"))).await?;
    }
    let reply = server.get("/v1/products?sort=name").await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(names(&reply), ["Apple Tee", "Banana Tee", "Cherry Tee"]);
    Ok(())
}

#[tokio::test]
async fn price_sorts_use_each_products_lowest_price_in_the_currency() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let two_variants = |name: &str, sku: &str, low: i64, high: i64| {
        json!({
            "name": name, "status": "published",
            "options": [{"name": "Size", "values": ["S", "M"]}],
            "variants": [
                {"sku": format!("{sku}-M"), "options": {"Size": "M"}, "prices": [{"amount": high, "currency": "EUR"}]},
                {"sku": format!("{sku}-S"), "options": {"Size": "S"}, "prices": [{"amount": low, "currency": "EUR"}]}
            ]
        })
    };
    // Lowest EUR prices: Cheap 1000 (though 3000 too), Steep 1500 (though 5000 too), Middle 2000,
    // Dollar none at all (only a USD price, lower than every EUR one).
    server.create_product(&token, two_variants("Cheap", "CHEAP", 1000, 3000)).await?;
    server.create_product(&token, simple("Dollar", "DOLLAR", json!([{"amount": 100, "currency": "USD"}]))).await?;
    server.create_product(&token, simple("Middle", "MIDDLE", json!([{"amount": 2000, "currency": "EUR"}]))).await?;
    server.create_product(&token, two_variants("Steep", "STEEP", 1500, 5000)).await?;

    let asc = server.get("/v1/products?sort=price_asc&currency=EUR").await?;
    assert_eq!(asc.status, StatusCode::OK, "{}", asc.body);
    assert_eq!(names(&asc), ["Cheap", "Steep", "Middle", "Dollar"]);
    let desc = server.get("/v1/products?sort=price_desc&currency=EUR").await?;
    assert_eq!(desc.status, StatusCode::OK, "{}", desc.body);
    assert_eq!(names(&desc), ["Middle", "Steep", "Cheap", "Dollar"]);
    Ok(())
}

#[tokio::test]
async fn a_price_sort_without_a_currency_is_422_naming_currency() -> TestResult {
    let server = TestServer::start().await?;
    for sort in ["price_asc", "price_desc"] {
        let reply = server.get(&format!("/v1/products?sort={sort}")).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "sort={sort}: {}", reply.body);
        assert_eq!(reply.problem_code(), "validation_failed");
        let fields: Vec<String> = reply.error_fields().into_iter().map(|(field, _)| field).collect();
        assert_eq!(fields, ["currency"], "sort={sort}: {}", reply.body);
    }
    Ok(())
}

#[tokio::test]
async fn a_cursor_reused_with_another_sort_or_q_is_422_invalid_cursor() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    for i in 0..3 {
        server.create_product(&token, tee(&format!("Cursor Tee {i}"), &format!("CUR{i}"))).await?;
    }
    let first = get_query(&server, "/v1/products", None, &[("limit", "1"), ("q", "cursor")]).await?;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let cursor = text(&first.body, "next_cursor")?;

    let same =
        get_query(&server, "/v1/products", None, &[("limit", "1"), ("q", "cursor"), ("cursor", &cursor)]).await?;
    assert_eq!(same.status, StatusCode::OK, "the cursor works on its own query: {}", same.body);

    for other in [
        vec![("limit", "1"), ("q", "cursor"), ("sort", "name"), ("cursor", cursor.as_str())],
        vec![("limit", "1"), ("q", "tee"), ("cursor", cursor.as_str())],
        vec![("limit", "1"), ("cursor", cursor.as_str())],
    ] {
        let reply = get_query(&server, "/v1/products", None, &other).await?;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{other:?}: {}", reply.body);
        assert_eq!(reply.problem_code(), "invalid_cursor", "{other:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Changing products
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn patching_a_product_keeps_what_it_leaves_out_and_null_clears() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let created = server.create_product(&token, tee("Merge Tee", "MERGE")).await?;
    let id = text(&created, "id")?;

    let renamed = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"name": "Merged Tee"})).await?;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Merged Tee");
    assert_eq!(renamed.body["slug"], "merge-tee", "a rename leaves the slug alone");
    assert_eq!(renamed.body["description"], "Soft organic cotton.");
    assert_eq!(renamed.body["status"], "published");
    assert_eq!(renamed.body["variants"], created["variants"]);
    assert_eq!(renamed.body["options"], created["options"]);
    assert_eq!(renamed.body["created_at"], created["created_at"]);

    // By slug, too.
    let seo = server
        .patch("/v1/products/merge-tee", Some(&token), json!({"seo_title": "Best tee", "seo_description": "Buy it"}))
        .await?;
    assert_eq!(seo.status, StatusCode::OK, "{}", seo.body);
    assert_eq!(seo.body["seo_title"], "Best tee");
    assert_eq!(seo.body["seo_description"], "Buy it");
    assert_eq!(seo.body["name"], "Merged Tee");

    let cleared = server
        .patch(&format!("/v1/products/{id}"), Some(&token), json!({"description": null, "seo_title": null}))
        .await?;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["description"], Value::Null);
    assert_eq!(cleared.body["seo_title"], Value::Null);
    assert_eq!(cleared.body["seo_description"], "Buy it");
    assert_eq!(cleared.body["name"], "Merged Tee");

    let read = server.get(&format!("/v1/products/{id}")).await?;
    assert_eq!(read.body, cleared.body, "a read after the patch differs from its answer");
    let updated_at = text(&read.body, "updated_at")?;
    assert!(is_rfc3339_utc(&updated_at), "{updated_at:?}");
    Ok(())
}

#[tokio::test]
async fn patching_name_to_null_is_422_naming_name() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let created = server.create_product(&token, tee("Named Tee", "NAMED")).await?;
    let id = text(&created, "id")?;
    let reply = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"name": null})).await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.problem_code(), "validation_failed");
    let fields: Vec<String> = reply.error_fields().into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["name"]);
    assert_eq!(server.get(&format!("/v1/products/{id}")).await?.body["name"], "Named Tee");
    Ok(())
}

#[tokio::test]
async fn patching_category_ids_replaces_them() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let a = text(&create_category(&server, &token, json!({"name": "Cat A"})).await?, "id")?;
    let b = text(&create_category(&server, &token, json!({"name": "Cat B"})).await?, "id")?;
    let c = text(&create_category(&server, &token, json!({"name": "Cat C"})).await?, "id")?;
    let mut body = tee("Sorted Tee", "SORTED");
    body["category_ids"] = json!([a, b]);
    let created = server.create_product(&token, body).await?;
    let id = text(&created, "id")?;
    let created_categories: HashSet<String> =
        serde_json::from_value(created["category_ids"].clone()).context("category_ids")?;
    assert_eq!(created_categories, HashSet::from([a.clone(), b.clone()]));

    let patched = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"category_ids": [c]})).await?;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["category_ids"], json!([c]));
    assert_eq!(server.get(&format!("/v1/products/{id}")).await?.body["category_ids"], json!([c]));
    assert_eq!(
        ids(&get_query(&server, "/v1/products", None, &[("category", a.as_str())]).await?),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&get_query(&server, "/v1/products", None, &[("category", c.as_str())]).await?),
        std::slice::from_ref(&id)
    );

    let emptied = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"category_ids": []})).await?;
    assert_eq!(emptied.status, StatusCode::OK, "{}", emptied.body);
    assert_eq!(emptied.body["category_ids"], json!([]));
    Ok(())
}

#[tokio::test]
async fn changing_the_slug_to_a_taken_one_is_409_slug_taken() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("First Slug", "SLUG1")).await?;
    let second = server.create_product(&token, tee("Second Slug", "SLUG2")).await?;
    let id = text(&second, "id")?;

    let reply = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"slug": "first-slug"})).await?;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.problem_code(), "slug_taken");
    assert_eq!(server.get(&format!("/v1/products/{id}")).await?.body["slug"], "second-slug");

    // Its own slug again, or a free one, is fine.
    let same = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"slug": "second-slug"})).await?;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    let free = server.patch(&format!("/v1/products/{id}"), Some(&token), json!({"slug": "brand-new"})).await?;
    assert_eq!(free.status, StatusCode::OK, "{}", free.body);
    assert_eq!(free.body["slug"], "brand-new");
    Ok(())
}

#[tokio::test]
async fn a_deleted_product_reads_404_leaves_lists_and_frees_its_skus_and_slug() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let keeper = server.create_product(&token, tee("Keeper Tee", "KEEP")).await?;
    let doomed = server.create_product(&token, tee("Doomed Tee", "DOOM")).await?;
    let id = text(&doomed, "id")?;
    // Read it first so any cached copy exists.
    assert_eq!(server.get("/v1/products/doomed-tee").await?.status, StatusCode::OK);

    let deleted = server.delete(&format!("/v1/products/{id}"), Some(&token)).await?;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(deleted.body, Value::Null, "204 has no body");

    for path in [format!("/v1/products/{id}"), "/v1/products/doomed-tee".to_owned()] {
        let anonymous = server.get(&path).await?;
        assert_eq!(anonymous.status, StatusCode::NOT_FOUND, "{path}: {}", anonymous.body);
        assert_eq!(anonymous.problem_code(), "not_found");
        assert_eq!(server.get_as(&path, &token).await?.status, StatusCode::NOT_FOUND, "{path} as staff");
    }
    assert_eq!(ids(&server.get("/v1/products").await?), [text(&keeper, "id")?]);
    assert_eq!(ids(&server.get_as("/v1/products?status=all", &token).await?), [text(&keeper, "id")?]);
    assert_eq!(ids(&get_query(&server, "/v1/products", None, &[("q", "doom")]).await?), Vec::<String>::new());

    let again = server.delete(&format!("/v1/products/{id}"), Some(&token)).await?;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);

    let reborn = server.post("/v1/products", Some(&token), tee("Doomed Tee", "DOOM")).await?;
    assert_eq!(reborn.status, StatusCode::CREATED, "{}", reborn.body);
    assert_eq!(reborn.body["slug"], "doomed-tee", "the slug is free again");
    assert_ne!(reborn.body["id"], json!(id));
    let read = server.get("/v1/products/doomed-tee").await?;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["id"], reborn.body["id"]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------------------------

/// A published product with sizes S, M, L and variants S and M.
fn three_sizes(name: &str, sku_prefix: &str) -> Value {
    json!({
        "name": name,
        "status": "published",
        "options": [{"name": "Size", "values": ["S", "M", "L"]}],
        "variants": [
            {"sku": format!("{sku_prefix}-S"), "options": {"Size": "S"}, "prices": [{"amount": 2500, "currency": "EUR"}]},
            {"sku": format!("{sku_prefix}-M"), "options": {"Size": "M"}, "prices": [{"amount": 2600, "currency": "EUR"}]}
        ]
    })
}

#[tokio::test]
async fn adding_a_variant_answers_201_and_lists_it_last() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server.create_product(&token, three_sizes("Grow Tee", "GROW")).await?;
    let id = text(&product, "id")?;

    let reply = server
        .post(
            &format!("/v1/products/{id}/variants"),
            Some(&token),
            json!({"sku": "GROW-L", "options": {"Size": "L"}, "prices": [{"amount": 2700, "currency": "EUR"}]}),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let variant = &reply.body;
    let variant_id = text(variant, "id")?;
    let old_ids: Vec<&Value> =
        product["variants"].as_array().map(|v| v.iter().map(|v| &v["id"]).collect()).unwrap_or_default();
    assert!(!variant_id.is_empty() && !old_ids.contains(&&json!(variant_id)), "the new variant needs its own id");
    assert_eq!(variant["sku"], "GROW-L");
    assert_eq!(variant["title"], "L");
    assert_eq!(variant["options"], json!({"Size": "L"}));
    assert_eq!(variant["prices"], json!([{"amount": 2700, "currency": "EUR"}]));
    assert_eq!(variant["available"], 0);

    let read = server.get(&format!("/v1/products/{id}")).await?;
    let skus: Vec<&str> = read.body["variants"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["sku"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(skus, ["GROW-S", "GROW-M", "GROW-L"]);
    assert_eq!(read.body["variants"][2], *variant);

    Ok(())
}

#[tokio::test]
async fn adding_a_variant_with_a_taken_sku_is_409_sku_taken() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, tee("Other Tee", "OTHER")).await?;
    let product = server.create_product(&token, three_sizes("Mine Tee", "MINE")).await?;
    let id = text(&product, "id")?;
    for (path, sku) in
        [(format!("/v1/products/{id}/variants"), "OTHER-S"), ("/v1/products/mine-tee/variants".to_owned(), "MINE-S")]
    {
        let reply = server
            .post(
                &path,
                Some(&token),
                json!({"sku": sku, "options": {"Size": "L"}, "prices": [{"amount": 100, "currency": "EUR"}]}),
            )
            .await?;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{sku}: {}", reply.body);
        assert_eq!(reply.problem_code(), "sku_taken", "{sku}");
    }
    assert_eq!(server.get(&format!("/v1/products/{id}")).await?.body["variants"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_variant_option_value_outside_the_products_options_is_422() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server.create_product(&token, three_sizes("Fit Tee", "FIT")).await?;
    let id = text(&product, "id")?;
    let reply = server
        .post(
            &format!("/v1/products/{id}/variants"),
            Some(&token),
            json!({"sku": "FIT-XL", "options": {"Size": "XL"}, "prices": [{"amount": 100, "currency": "EUR"}]}),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.problem_code(), "validation_failed");
    let fields: Vec<String> = reply.error_fields().into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["options.Size"], "{}", reply.body);
    assert_eq!(server.get(&format!("/v1/products/{id}")).await?.body["variants"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn patching_a_variant_replaces_its_prices_and_changes_its_sku() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server.create_product(&token, tee("Repriced Tee", "REPR")).await?;
    let id = text(&product, "id")?;
    let variant = text(&product["variants"][0], "id")?;

    let priced = server
        .patch(
            &format!("/v1/products/{id}/variants/{variant}"),
            Some(&token),
            json!({"prices": [{"amount": 1999, "currency": "GBP"}]}),
        )
        .await?;
    assert_eq!(priced.status, StatusCode::OK, "{}", priced.body);
    let read = server.get(&format!("/v1/products/{id}")).await?;
    assert_eq!(read.body["variants"][0]["prices"], json!([{"amount": 1999, "currency": "GBP"}]), "prices not replaced");
    assert_eq!(read.body["variants"][0]["sku"], "REPR-S");
    assert_eq!(read.body["variants"][1], product["variants"][1], "the other variant changed");

    let renamed = server
        .patch(&format!("/v1/products/{id}/variants/{variant}"), Some(&token), json!({"sku": "REPR-SMALL"}))
        .await?;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let read = server.get(&format!("/v1/products/{id}")).await?;
    assert_eq!(read.body["variants"][0]["id"], json!(variant));
    assert_eq!(read.body["variants"][0]["sku"], "REPR-SMALL");
    assert_eq!(read.body["variants"][0]["prices"], json!([{"amount": 1999, "currency": "GBP"}]), "prices lost");
    assert_eq!(
        ids(&get_query(&server, "/v1/products", None, &[("q", "repr-small")]).await?),
        std::slice::from_ref(&id)
    );

    // The old SKU is free again; the other variant's SKU is not.
    let taken =
        server.patch(&format!("/v1/products/{id}/variants/{variant}"), Some(&token), json!({"sku": "REPR-M"})).await?;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(taken.problem_code(), "sku_taken");
    let reuse = server
        .post("/v1/products", Some(&token), simple("Old Sku", "REPR-S", json!([{"amount": 1, "currency": "EUR"}])))
        .await?;
    assert_eq!(reuse.status, StatusCode::CREATED, "{}", reuse.body);
    Ok(())
}

#[tokio::test]
async fn deleting_variants_answers_204_until_the_last_which_is_409_last_variant() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server.create_product(&token, tee("Shrink Tee", "SHRINK")).await?;
    let id = text(&product, "id")?;
    let first = text(&product["variants"][0], "id")?;
    let second = text(&product["variants"][1], "id")?;

    let deleted = server.delete(&format!("/v1/products/{id}/variants/{first}"), Some(&token)).await?;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let read = server.get(&format!("/v1/products/{id}")).await?;
    assert_eq!(read.body["variants"], json!([product["variants"][1]]));

    let last = server.delete(&format!("/v1/products/shrink-tee/variants/{second}"), Some(&token)).await?;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert_eq!(last.problem_code(), "last_variant");
    assert_eq!(server.get(&format!("/v1/products/{id}")).await?.body["variants"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn an_unknown_variant_id_is_404() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let product = server.create_product(&token, tee("Lonely Tee", "LONELY")).await?;
    let other = server.create_product(&token, tee("Stranger Tee", "STRANGER")).await?;
    let id = text(&product, "id")?;
    let foreign = text(&other["variants"][0], "id")?;
    for variant in ["var_00000000000000000000000000000000", foreign.as_str()] {
        let path = format!("/v1/products/{id}/variants/{variant}");
        let patched = server.patch(&path, Some(&token), json!({"sku": "LONELY-X"})).await?;
        assert_eq!(patched.status, StatusCode::NOT_FOUND, "PATCH {path}: {}", patched.body);
        assert_eq!(patched.problem_code(), "not_found");
        let deleted = server.delete(&path, Some(&token)).await?;
        assert_eq!(deleted.status, StatusCode::NOT_FOUND, "DELETE {path}: {}", deleted.body);
        assert_eq!(deleted.problem_code(), "not_found");
    }
    assert_eq!(server.get("/v1/products/stranger-tee").await?.body["variants"], other["variants"]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creating_categories_answers_201_and_they_read_by_id_and_slug() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let parent = server.post("/v1/categories", Some(&token), json!({"name": "Summer Shoes"})).await?;
    assert_eq!(parent.status, StatusCode::CREATED, "{}", parent.body);
    let parent_id = text(&parent.body, "id")?;
    assert_eq!(parent.body["slug"], "summer-shoes");
    assert_eq!(parent.body["name"], "Summer Shoes");
    assert_eq!(parent.body["parent_id"], Value::Null);
    assert!(parent.body.get("parent_id").is_some(), "parent_id missing: {}", parent.body);

    let child = server
        .post("/v1/categories", Some(&token), json!({"name": "Sandals", "slug": "flip-flops", "parent_id": parent_id}))
        .await?;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    assert_eq!(child.body["slug"], "flip-flops");
    assert_eq!(child.body["parent_id"], json!(parent_id));
    let child_id = text(&child.body, "id")?;

    for path in [format!("/v1/categories/{child_id}"), "/v1/categories/flip-flops".to_owned()] {
        let read = server.get(&path).await?;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.body);
        assert_eq!(read.body, child.body, "{path}");
    }
    let unknown = server.get("/v1/categories/no-such-category").await?;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(unknown.problem_code(), "not_found");
    Ok(())
}

#[tokio::test]
async fn the_category_list_pages_with_limit() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let mut created = Vec::new();
    for name in ["Kitchen", "Garden", "Bath", "Office", "Garage"] {
        created.push(create_category(&server, &token, json!({"name": name})).await?);
    }
    let whole = server.get("/v1/categories").await?;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    assert_eq!(whole.body["next_cursor"], Value::Null);
    let listed: HashSet<String> = ids(&whole).into_iter().collect();
    let expected: HashSet<String> = created.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect();
    assert_eq!(listed, expected);
    for category in &created {
        let row = whole.body["data"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["id"] == category["id"]))
            .context("category missing from the list")?;
        assert_eq!(row, category, "a listed category differs from the created one");
    }

    let pages = all_pages(&server, "/v1/categories", None, &[("limit", "2")]).await?;
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let seen: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(seen, ids(&whole), "paging disagrees with the whole list");
    Ok(())
}

#[tokio::test]
async fn a_category_with_an_unknown_parent_is_422_naming_parent_id() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let reply =
        server.post("/v1/categories", Some(&token), json!({"name": "Orphan", "parent_id": "cat_nonexistent"})).await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.problem_code(), "validation_failed");
    let fields: Vec<String> = reply.error_fields().into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["parent_id"]);
    assert_eq!(ids(&server.get("/v1/categories").await?), Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn a_duplicate_category_slug_is_409_slug_taken() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    create_category(&server, &token, json!({"name": "Toys", "slug": "toys"})).await?;
    let reply = server.post("/v1/categories", Some(&token), json!({"name": "Other Toys", "slug": "toys"})).await?;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.problem_code(), "slug_taken");

    // Left out, the slug made from a taken name gets a suffix instead.
    let suffixed = create_category(&server, &token, json!({"name": "Toys"})).await?;
    assert_eq!(suffixed["slug"], "toys-2");
    Ok(())
}

#[tokio::test]
async fn creating_a_category_without_a_token_is_401() -> TestResult {
    let server = TestServer::start().await?;
    let reply = server.post("/v1/categories", None, json!({"name": "Sneaky"})).await?;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.problem_code(), "unauthorized");
    let token = server.admin_token().await?;
    assert_eq!(ids(&server.get_as("/v1/categories", &token).await?), Vec::<String>::new());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// All or nothing, and concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_create_whose_second_sku_is_taken_leaves_nothing_behind() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    server.create_product(&token, simple("Owner", "TAKEN-1", json!([{"amount": 100, "currency": "EUR"}]))).await?;
    let count = |reply: &Reply| reply.body["data"].as_array().map(Vec::len);
    let before = server.get_as("/v1/products?status=all&limit=100", &token).await?;
    assert_eq!(count(&before), Some(1));

    let reply = server
        .post(
            "/v1/products",
            Some(&token),
            json!({
                "name": "Partial Tee", "status": "published",
                "options": [{"name": "Size", "values": ["S", "M"]}],
                "variants": [
                    {"sku": "FRESH-1", "options": {"Size": "S"}, "prices": [{"amount": 100, "currency": "EUR"}]},
                    {"sku": "TAKEN-1", "options": {"Size": "M"}, "prices": [{"amount": 100, "currency": "EUR"}]}
                ]
            }),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.problem_code(), "sku_taken");

    let after = server.get_as("/v1/products?status=all&limit=100", &token).await?;
    assert_eq!(count(&after), Some(1), "a failed create left a product: {}", after.body);
    assert_eq!(server.get_as("/v1/products/partial-tee", &token).await?.status, StatusCode::NOT_FOUND);

    // Neither the slug nor the first SKU was kept.
    let retry = server
        .create_product(&token, simple("Partial Tee", "FRESH-1", json!([{"amount": 100, "currency": "EUR"}])))
        .await?;
    assert_eq!(retry["slug"], "partial-tee");
    Ok(())
}

// Multi-threaded: the server's handlers really run at once, not merely interleaved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_creates_sharing_a_sku_yield_one_201_and_seven_409() -> TestResult {
    let server = TestServer::start().await?;
    let token = server.admin_token().await?;
    let requests = (0..8).map(|i| {
        let request = server.client.post(server.url("/v1/products")).bearer_auth(&token).json(&simple(
            &format!("Racer {i}"),
            "RACE-SKU",
            json!([{"amount": 100, "currency": "EUR"}]),
        ));
        async move { Reply::from(request.send().await?).await }
    });
    let replies: Vec<Reply> = futures::future::join_all(requests).await.into_iter().collect::<anyhow::Result<_>>()?;

    let created: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    let conflicts: Vec<&Reply> =
        replies.iter().filter(|r| r.status == StatusCode::CONFLICT && r.problem_code() == "sku_taken").collect();
    let statuses: Vec<(u16, String)> = replies.iter().map(|r| (r.status.as_u16(), r.problem_code())).collect();
    assert_eq!(created.len(), 1, "{statuses:?}");
    assert_eq!(conflicts.len(), 7, "{statuses:?}");

    let list = server.get_as("/v1/products?status=all", &token).await?;
    assert_eq!(ids(&list), [text(&created[0].body, "id")?]);
    Ok(())
}
