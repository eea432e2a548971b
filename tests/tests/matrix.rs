//! The authorization matrix: every REST route × every kind of caller. The table must list
//! every operation of the OpenAPI document (and nothing else), so a new route that forgets to
//! say who may call it fails here before it ships.

use std::num::NonZeroU32;

use emporium_customers::{Permission, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Options, TestResult, TestServer, tee};

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Health, metrics and sign-in: the answer does not depend on the caller.
    Any,
    /// Anyone, anonymous included.
    Public,
    /// A signed-in customer, on their own account.
    Customer,
    /// A signed-in customer, on a resource of customer A (B hears 404).
    OwnedByA,
    /// Staff (or a key) holding this permission.
    Staff(Permission),
    /// A signed-in customer (on their own), or staff (or a key) holding this permission.
    CustomerOrStaff(Permission),
    /// Staff (or a key) holding this permission, or a customer on their own resource: on a
    /// guest's, customers hear 404.
    StaffOrOwner(Permission),
}

#[derive(Debug, Clone, Copy)]
enum Caller {
    Anonymous,
    CustomerA,
    CustomerB,
    Staff(Role),
    Key(Permission),
}

fn callers() -> Vec<Caller> {
    let mut all = vec![Caller::Anonymous, Caller::CustomerA, Caller::CustomerB];
    all.extend(Role::ALL.into_iter().map(Caller::Staff));
    all.extend(Permission::SCOPES.into_iter().map(Caller::Key));
    all
}

/// What a caller should hear.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Past every credential check: neither 401, 403 nor 404.
    Allowed,
    Status(StatusCode),
    Unchecked,
}

fn expect(rule: Rule, caller: Caller) -> Expect {
    use Expect::{Allowed, Status, Unchecked};
    match (rule, caller) {
        (Rule::Any, _) => Unchecked,
        (Rule::Public, _) => Allowed,
        (_, Caller::Anonymous) => Status(StatusCode::UNAUTHORIZED),
        (Rule::Customer, Caller::CustomerA | Caller::CustomerB) | (Rule::OwnedByA, Caller::CustomerA) => Allowed,
        (Rule::OwnedByA, Caller::CustomerB) => Status(StatusCode::NOT_FOUND),
        (Rule::Customer | Rule::OwnedByA, _) => Status(StatusCode::FORBIDDEN),
        (Rule::Staff(_), Caller::CustomerA | Caller::CustomerB) => Status(StatusCode::FORBIDDEN),
        (Rule::Staff(p), Caller::Staff(role)) if role.permissions().contains(p) => Allowed,
        (Rule::Staff(p), Caller::Key(scope)) if scope == p => Allowed,
        (Rule::Staff(_), _) => Status(StatusCode::FORBIDDEN),
        (Rule::CustomerOrStaff(_), Caller::CustomerA | Caller::CustomerB) => Allowed,
        (Rule::CustomerOrStaff(p), caller) => expect(Rule::Staff(p), caller),
        (Rule::StaffOrOwner(_), Caller::CustomerA | Caller::CustomerB) => Status(StatusCode::NOT_FOUND),
        (Rule::StaffOrOwner(p), caller) => expect(Rule::Staff(p), caller),
    }
}

/// The routes, as the OpenAPI document names them. Deletions come last, so they do not
/// remove what the other rows use.
fn table() -> Vec<(Method, &'static str, Rule)> {
    use Permission as P;
    vec![
        (Method::GET, "/healthz", Rule::Any),
        (Method::GET, "/readyz", Rule::Any),
        (Method::GET, "/metrics", Rule::Any),
        (Method::POST, "/v1/auth/login", Rule::Any),
        (Method::POST, "/v1/auth/refresh", Rule::Any),
        (Method::POST, "/v1/auth/logout", Rule::Any),
        (Method::GET, "/v1/products", Rule::Public),
        (Method::POST, "/v1/products", Rule::Staff(P::CatalogWrite)),
        (Method::GET, "/v1/products/{id}", Rule::Public),
        (Method::PATCH, "/v1/products/{id}", Rule::Staff(P::CatalogWrite)),
        (Method::POST, "/v1/products/{id}/variants", Rule::Staff(P::CatalogWrite)),
        (Method::PATCH, "/v1/products/{id}/variants/{variant_id}", Rule::Staff(P::CatalogWrite)),
        (Method::GET, "/v1/categories", Rule::Public),
        (Method::POST, "/v1/categories", Rule::Staff(P::CatalogWrite)),
        (Method::GET, "/v1/categories/{id}", Rule::Public),
        (Method::GET, "/v1/search/suggest", Rule::Public),
        (Method::POST, "/v1/locations", Rule::Staff(P::InventoryWrite)),
        (Method::GET, "/v1/locations", Rule::Staff(P::InventoryRead)),
        (Method::GET, "/v1/locations/{code}", Rule::Staff(P::InventoryRead)),
        (Method::GET, "/v1/reviews", Rule::Staff(P::ReviewsWrite)),
        // Only a buyer may review (403 `purchase_required` for anyone else, one review each):
        // tests/reviews.rs checks who may.
        (Method::POST, "/v1/products/{id}/reviews", Rule::Any),
        (Method::GET, "/v1/products/{id}/reviews", Rule::Public),
        (Method::GET, "/v1/products/{id}/frequently-bought-together", Rule::Public),
        (Method::GET, "/v1/customers/me/recommendations", Rule::Customer),
        (Method::GET, "/v1/reports/sales", Rule::Staff(P::ReportsRead)),
        (Method::GET, "/v1/reports/conversion", Rule::Staff(P::ReportsRead)),
        (Method::GET, "/v1/reports/customers", Rule::Staff(P::ReportsRead)),
        (Method::GET, "/v1/reports/products", Rule::Staff(P::ReportsRead)),
        (Method::GET, "/v1/reports/inventory", Rule::Staff(P::ReportsRead)),
        (Method::POST, "/v1/reviews/{review_id}/approve", Rule::Staff(P::ReviewsWrite)),
        (Method::POST, "/v1/reviews/{review_id}/reject", Rule::Staff(P::ReviewsWrite)),
        (Method::PATCH, "/v1/locations/{code}", Rule::Staff(P::InventoryWrite)),
        (Method::POST, "/v1/inventory/adjustments", Rule::Staff(P::InventoryWrite)),
        (Method::GET, "/v1/inventory/low-stock", Rule::Staff(P::InventoryRead)),
        (Method::GET, "/v1/inventory/{sku}", Rule::Staff(P::InventoryRead)),
        (Method::PATCH, "/v1/inventory/{sku}", Rule::Staff(P::InventoryWrite)),
        (Method::GET, "/v1/inventory/{sku}/movements", Rule::Staff(P::InventoryRead)),
        (Method::PATCH, "/v1/inventory/{sku}/locations/{code}", Rule::Staff(P::InventoryWrite)),
        (Method::GET, "/v1/events", Rule::Staff(P::EventsRead)),
        (Method::POST, "/v1/carts", Rule::Public),
        (Method::GET, "/v1/carts/{cart_id}", Rule::Public),
        (Method::PUT, "/v1/carts/{cart_id}", Rule::Public),
        (Method::POST, "/v1/carts/{cart_id}/items", Rule::Public),
        (Method::PATCH, "/v1/carts/{cart_id}/items/{item_id}", Rule::Public),
        (Method::POST, "/v1/carts/{cart_id}/discounts", Rule::Public),
        (Method::GET, "/v1/carts/{cart_id}/shipping-methods", Rule::Public),
        (Method::POST, "/v1/carts/{cart_id}/checkout", Rule::Public),
        (Method::GET, "/v1/orders", Rule::CustomerOrStaff(P::OrdersRead)),
        (Method::GET, "/v1/orders/{order_id}", Rule::Public),
        (Method::POST, "/v1/orders/{order_id}/fulfillments", Rule::Staff(P::OrdersWrite)),
        (Method::POST, "/v1/orders/{order_id}/fulfillments/{fulfillment_id}/delivered", Rule::Staff(P::OrdersWrite)),
        (Method::POST, "/v1/orders/{order_id}/refunds", Rule::Staff(P::OrdersWrite)),
        (Method::POST, "/v1/orders/{order_id}/returns", Rule::Public),
        (Method::POST, "/v1/returns/{return_id}/receive", Rule::Staff(P::OrdersWrite)),
        (Method::POST, "/v1/returns/{return_id}/refund", Rule::Staff(P::OrdersWrite)),
        (Method::POST, "/v1/orders/{order_id}/cancel", Rule::StaffOrOwner(P::OrdersWrite)),
        (Method::POST, "/v1/shipping-zones", Rule::Staff(P::SettingsWrite)),
        (Method::GET, "/v1/shipping-zones", Rule::Staff(P::CatalogRead)),
        (Method::GET, "/v1/shipping-zones/{zone_id}", Rule::Staff(P::CatalogRead)),
        (Method::PATCH, "/v1/shipping-zones/{zone_id}", Rule::Staff(P::SettingsWrite)),
        (Method::POST, "/v1/tax-rates", Rule::Staff(P::SettingsWrite)),
        (Method::GET, "/v1/tax-rates", Rule::Staff(P::CatalogRead)),
        (Method::GET, "/v1/tax-rates/{rate_id}", Rule::Staff(P::CatalogRead)),
        (Method::PATCH, "/v1/tax-rates/{rate_id}", Rule::Staff(P::SettingsWrite)),
        (Method::POST, "/v1/discounts", Rule::Staff(P::DiscountsWrite)),
        (Method::GET, "/v1/discounts", Rule::Staff(P::CatalogRead)),
        (Method::GET, "/v1/discounts/{discount_id}", Rule::Staff(P::CatalogRead)),
        (Method::PATCH, "/v1/discounts/{discount_id}", Rule::Staff(P::DiscountsWrite)),
        (Method::GET, "/v1/settings/currencies/{currency}", Rule::Staff(P::CatalogRead)),
        (Method::PUT, "/v1/settings/currencies/{currency}", Rule::Staff(P::SettingsWrite)),
        (Method::POST, "/v1/customers", Rule::Public),
        (Method::GET, "/v1/customers", Rule::Staff(P::CustomersRead)),
        (Method::GET, "/v1/customers/{customer_id}", Rule::Staff(P::CustomersRead)),
        (Method::GET, "/v1/customers/me", Rule::Customer),
        (Method::PATCH, "/v1/customers/me", Rule::Customer),
        (Method::POST, "/v1/customers/me/password", Rule::Customer),
        (Method::GET, "/v1/customers/me/addresses", Rule::Customer),
        (Method::POST, "/v1/customers/me/addresses", Rule::Customer),
        (Method::PATCH, "/v1/customers/me/addresses/{address_id}", Rule::OwnedByA),
        (Method::POST, "/v1/staff", Rule::Staff(P::StaffManage)),
        (Method::GET, "/v1/staff", Rule::Staff(P::StaffManage)),
        (Method::PATCH, "/v1/staff/{staff_id}", Rule::Staff(P::StaffManage)),
        (Method::POST, "/v1/api-keys", Rule::Staff(P::ApiKeysManage)),
        (Method::GET, "/v1/api-keys", Rule::Staff(P::ApiKeysManage)),
        (Method::POST, "/v1/webhooks", Rule::Staff(P::WebhooksWrite)),
        (Method::GET, "/v1/webhooks", Rule::Staff(P::WebhooksWrite)),
        (Method::GET, "/v1/webhooks/{webhook_id}", Rule::Staff(P::WebhooksWrite)),
        (Method::PATCH, "/v1/webhooks/{webhook_id}", Rule::Staff(P::WebhooksWrite)),
        (Method::POST, "/v1/webhooks/{webhook_id}/rotate-secret", Rule::Staff(P::WebhooksWrite)),
        (Method::GET, "/v1/webhooks/{webhook_id}/deliveries", Rule::Staff(P::WebhooksWrite)),
        (Method::POST, "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", Rule::Staff(P::WebhooksWrite)),
        (Method::POST, "/v1/webhooks/{webhook_id}/replay", Rule::Staff(P::WebhooksWrite)),
        (Method::POST, "/v1/carts/{cart_id}/claim", Rule::Customer),
        (Method::DELETE, "/v1/carts/{cart_id}/discounts/{discount_code}", Rule::Public),
        (Method::DELETE, "/v1/carts/{cart_id}/items/{item_id}", Rule::Public),
        (Method::DELETE, "/v1/shipping-zones/{zone_id}", Rule::Staff(P::SettingsWrite)),
        (Method::DELETE, "/v1/tax-rates/{rate_id}", Rule::Staff(P::SettingsWrite)),
        (Method::DELETE, "/v1/discounts/{discount_id}", Rule::Staff(P::DiscountsWrite)),
        (Method::DELETE, "/v1/products/{id}/variants/{variant_id}", Rule::Staff(P::CatalogWrite)),
        (Method::DELETE, "/v1/products/{id}", Rule::Staff(P::CatalogWrite)),
        (Method::DELETE, "/v1/customers/me/addresses/{address_id}", Rule::OwnedByA),
        (Method::DELETE, "/v1/api-keys/{key_id}", Rule::Staff(P::ApiKeysManage)),
        (Method::DELETE, "/v1/webhooks/{webhook_id}", Rule::Staff(P::WebhooksWrite)),
    ]
}

#[test]
fn the_matrix_lists_every_operation_of_the_openapi_document() {
    let document = serde_json::to_value(emporium_gateway::rest::openapi()).unwrap_or_default();
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let mut listed: Vec<String> = table().iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    documented.sort();
    listed.sort();
    assert_eq!(listed, documented, "add the route to the matrix with who may call it");
}

/// Everything one caller's row of requests works on: its own product, address, staff
/// account and key, so a deletion by one caller leaves the others' targets in place.
struct Targets {
    product: String,
    sku: String,
    variant: String,
    category: String,
    address: String,
    customer: String,
    staff: String,
    key: String,
    /// A guest cart holding one line and the code `MATRIX`.
    cart: String,
    item: String,
    zone: String,
    rate: String,
    discount: String,
    /// A guest's order, shared by every caller (nothing deletes it), shipped whole.
    order: String,
    /// A return of it, requested.
    return_id: String,
    /// Its shipment.
    fulfillment: String,
    /// Customer A's review of the product of the guest's order (A bought one too), shared.
    review: String,
    /// A webhook subscription, with one delivery.
    webhook: String,
    delivery: String,
}

/// The callers, their credentials (in the same order), and each caller's own targets: a
/// product, an address of customer A, a staff account and a key, so a deletion by one caller
/// leaves the others' targets in place. A category `matrix` and a location `main` exist.
async fn fixtures(server: &TestServer) -> anyhow::Result<(Vec<Caller>, Vec<Option<String>>, Vec<Targets>)> {
    let admin = server.admin_token().await?;
    let (customer_a, token_a) = server.customer("a@example.com").await?;
    let (_, token_b) = server.customer("b@example.com").await?;
    let callers = callers();
    let mut tokens = Vec::new();
    for caller in &callers {
        tokens.push(match caller {
            Caller::Anonymous => None,
            Caller::CustomerA => Some(token_a.clone()),
            Caller::CustomerB => Some(token_b.clone()),
            Caller::Staff(Role::Admin) => Some(admin.clone()),
            Caller::Staff(role) => Some(server.staff_token(&format!("{}@shop.test", role.as_str()), *role).await?),
            Caller::Key(scope) => Some(server.api_key(&admin, &[scope.as_str()]).await?.1),
        });
    }
    let category = server.post("/v1/categories", Some(&admin), json!({"name": "Matrix", "slug": "matrix"})).await?;
    let category = category.str("id")?.to_owned();
    let main = server.post("/v1/locations", Some(&admin), json!({"code": "main", "name": "Main"})).await?;
    anyhow::ensure!(main.status == StatusCode::CREATED, "{}", main.body);
    let shared_discount = server
        .post("/v1/discounts", Some(&admin), json!({"code": "MATRIX", "kind": "percentage", "value": 100}))
        .await?;
    anyhow::ensure!(shared_discount.status == StatusCode::CREATED, "{}", shared_discount.body);
    let sold = server.create_product(&admin, tee("Matrix order", "MXO")).await?;
    server.stock(sold["variants"][0]["id"].as_str().unwrap_or_default(), 1000).await?;
    let order = {
        let cart = server.post("/v1/carts", None, json!({"currency": "EUR"})).await?;
        let cart = cart.str("id")?.to_owned();
        let added =
            server.post(&format!("/v1/carts/{cart}/items"), None, json!({"sku": "MXO-S", "quantity": 1})).await?;
        anyhow::ensure!(added.status == StatusCode::OK, "{}", added.body);
        let address = json!({"first_name": "A", "last_name": "A", "line1": "1 Road", "city": "Paris", "postal_code": "75001", "country": "FR"});
        let put = server
            .send(
                Method::PUT,
                &format!("/v1/carts/{cart}"),
                None,
                Some(json!({"email": "g@example.com", "shipping_address": address})),
            )
            .await?;
        anyhow::ensure!(put.status == StatusCode::OK, "{}", put.body);
        let placed = server
            .post(
                &format!("/v1/carts/{cart}/checkout"),
                None,
                json!({"payment": {"provider": "test", "token": "tok_ok"}}),
            )
            .await?;
        anyhow::ensure!(placed.status == StatusCode::CREATED, "{}", placed.body);
        placed.str("id")?.to_owned()
    };
    let shipped = server
        .post(
            &format!("/v1/orders/{order}/fulfillments"),
            Some(&admin),
            json!({"items": [{"sku": "MXO-S", "quantity": 1}]}),
        )
        .await?;
    anyhow::ensure!(shipped.status == StatusCode::CREATED, "{}", shipped.body);
    let fulfillment = shipped.body["fulfillments"][0]["id"].as_str().unwrap_or_default().to_owned();
    let opened = server
        .post(&format!("/v1/orders/{order}/returns"), None, json!({"items": [{"sku": "MXO-S", "quantity": 1}]}))
        .await?;
    anyhow::ensure!(opened.status == StatusCode::CREATED, "{}", opened.body);
    let return_id = opened.str("id")?.to_owned();
    let review = {
        let cart = server.post("/v1/carts", Some(&token_a), json!({"currency": "EUR"})).await?;
        let cart = cart.str("id")?.to_owned();
        let added = server
            .post(&format!("/v1/carts/{cart}/items"), Some(&token_a), json!({"sku": "MXO-S", "quantity": 1}))
            .await?;
        anyhow::ensure!(added.status == StatusCode::OK, "{}", added.body);
        let address = json!({"first_name": "A", "last_name": "A", "line1": "1 Road", "city": "Paris", "postal_code": "75001", "country": "FR"});
        let put = server
            .send(Method::PUT, &format!("/v1/carts/{cart}"), Some(&token_a), Some(json!({"shipping_address": address})))
            .await?;
        anyhow::ensure!(put.status == StatusCode::OK, "{}", put.body);
        let placed = server
            .post(
                &format!("/v1/carts/{cart}/checkout"),
                Some(&token_a),
                json!({"payment": {"provider": "test", "token": "tok_ok"}}),
            )
            .await?;
        anyhow::ensure!(placed.status == StatusCode::CREATED, "{}", placed.body);
        let product = sold["id"].as_str().unwrap_or_default();
        let reviewed = server
            .post(
                &format!("/v1/products/{product}/reviews"),
                Some(&token_a),
                json!({"rating": 4, "title": "Fine", "body": "A fine tee."}),
            )
            .await?;
        anyhow::ensure!(reviewed.status == StatusCode::CREATED, "{}", reviewed.body);
        reviewed.str("id")?.to_owned()
    };
    let mut targets = Vec::new();
    for i in 0..callers.len() {
        let product = server.create_product(&admin, tee(&format!("Matrix {i}"), &format!("MX{i}"))).await?;
        let address = server
            .post(
                "/v1/customers/me/addresses",
                Some(&token_a),
                json!({"first_name": "A", "last_name": "A", "line1": format!("{i} Road"), "city": "Paris", "postal_code": "75001", "country": "FR"}),
            )
            .await?;
        let staff = server
            .post(
                "/v1/staff",
                Some(&admin),
                json!({"email": format!("target{i}@shop.test"), "password": "target password", "role": "support"}),
            )
            .await?;
        let (key, _) = server.api_key(&admin, &["events:read"]).await?;
        let cart = server.post("/v1/carts", None, json!({"currency": "EUR"})).await?;
        let cart = cart.str("id")?.to_owned();
        let added =
            server.post(&format!("/v1/carts/{cart}/items"), None, json!({"sku": "MXO-S", "quantity": 1})).await?;
        anyhow::ensure!(added.status == StatusCode::OK, "{}", added.body);
        let coded = server.post(&format!("/v1/carts/{cart}/discounts"), None, json!({"code": "MATRIX"})).await?;
        anyhow::ensure!(coded.status == StatusCode::OK, "{}", coded.body);
        let zone = server
            .post(
                "/v1/shipping-zones",
                Some(&admin),
                json!({"name": format!("Zone {i}"), "countries": ["JP"], "methods": [{"name": "Post", "price": {"amount": 100, "currency": "JPY"}}]}),
            )
            .await?;
        let rate = server
            .post(
                "/v1/tax-rates",
                Some(&admin),
                json!({"country": "JP", "region": format!("R{i}"), "name": "Tax", "rate_bp": 1000}),
            )
            .await?;
        let discount = server
            .post("/v1/discounts", Some(&admin), json!({"code": format!("MX{i}"), "kind": "free_shipping"}))
            .await?;
        targets.push(Targets {
            item: added.body["items"][0]["id"].as_str().unwrap_or_default().to_owned(),
            cart,
            zone: zone.str("id")?.to_owned(),
            rate: rate.str("id")?.to_owned(),
            discount: discount.str("id")?.to_owned(),
            order: order.clone(),
            return_id: return_id.clone(),
            review: review.clone(),
            fulfillment: fulfillment.clone(),
            product: product["id"].as_str().unwrap_or_default().to_owned(),
            sku: product["variants"][0]["sku"].as_str().unwrap_or_default().to_owned(),
            variant: product["variants"][0]["id"].as_str().unwrap_or_default().to_owned(),
            category: category.clone(),
            address: address.str("id")?.to_owned(),
            customer: customer_a.clone(),
            staff: staff.str("id")?.to_owned(),
            key,
            webhook: String::new(),
            delivery: String::new(),
        });
    }
    // A subscription per caller, each with the delivery of one event (a receiver that is not
    // there: attempts fail, which the log shows).
    for target in &mut targets {
        let hook = server
            .post(
                "/v1/webhooks",
                Some(&admin),
                json!({"url": "http://127.0.0.1:9/hook", "events": ["product.created"]}),
            )
            .await?;
        anyhow::ensure!(hook.status == StatusCode::CREATED, "{}", hook.body);
        target.webhook = hook.str("id")?.to_owned();
    }
    server.create_product(&admin, tee("Matrix hook", "MXH")).await?;
    for target in &mut targets {
        for _ in 0..300 {
            let log = server.get_as(&format!("/v1/webhooks/{}/deliveries", target.webhook), &admin).await?;
            if let Some(id) = log.body["data"][0]["id"].as_str() {
                target.delivery = id.to_owned();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        anyhow::ensure!(!target.delivery.is_empty(), "no delivery for {}", target.webhook);
    }
    Ok((callers, tokens, targets))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_kind_of_caller_as_the_contract_says() -> TestResult {
    // Limits on (and generous), so principals go through the limiter's resolution path.
    let limits = emporium_gateway::infra::limits::Allowances {
        anonymous: NonZeroU32::new(1_000_000),
        customer: NonZeroU32::new(1_000_000),
        api_key: NonZeroU32::new(1_000_000),
    };
    let server =
        TestServer::start_with(Options { rate_limits: limits, webhooks_private: true, ..Options::default() }).await?;
    let (callers, tokens, targets) = fixtures(&server).await?;

    let mut failures = Vec::new();
    for (method, template, rule) in table() {
        for (i, caller) in callers.iter().enumerate() {
            let t = &targets[i];
            let path = template
                .replace("{variant_id}", &t.variant)
                .replace("{sku}", &t.sku)
                .replace("{code}", "main")
                .replace("{address_id}", &t.address)
                .replace("{customer_id}", &t.customer)
                .replace("{staff_id}", &t.staff)
                .replace("{key_id}", &t.key)
                .replace("{cart_id}", &t.cart)
                .replace("{item_id}", &t.item)
                .replace("{discount_code}", "MATRIX")
                .replace("{zone_id}", &t.zone)
                .replace("{rate_id}", &t.rate)
                .replace("{discount_id}", &t.discount)
                .replace("{order_id}", &t.order)
                .replace("{review_id}", &t.review)
                .replace("{return_id}", &t.return_id)
                .replace("{fulfillment_id}", &t.fulfillment)
                .replace("{webhook_id}", &t.webhook)
                .replace("{delivery_id}", &t.delivery)
                .replace("{currency}", "EUR")
                .replace("{id}", if template.starts_with("/v1/categories") { &t.category } else { &t.product });
            let body = matches!(method, Method::POST | Method::PATCH | Method::PUT).then(|| json!({}));
            let reply = server.send(method.clone(), &path, tokens[i].as_deref(), body).await?;
            let status = reply.status;
            let ok = match expect(rule, *caller) {
                Expect::Unchecked => !status.is_server_error(),
                Expect::Allowed => {
                    !status.is_server_error()
                        && ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&status)
                }
                Expect::Status(expected) => status == expected,
            };
            if !ok {
                failures.push(format!(
                    "{method} {template} as {caller:?}: {status}, expected {:?} ({})",
                    expect(rule, *caller),
                    reply.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} cells of the matrix failed:\n{}", failures.len(), failures.join("\n"));
    Ok(())
}

/// The GraphQL root fields, each with a document that passes validation (so the resolver, and
/// its credential check, runs) and who may call it. `{i}`, `{product}`, `{variant}`,
/// `{address}`, `{customer}`, `{staff}`, `{key}`, `{zone}`, `{rate}` and `{discount}` are
/// filled per caller. Deletions last.
fn graphql_table() -> Vec<(&'static str, &'static str, Rule)> {
    use Permission as P;
    vec![
        ("product", r#"{ product(idOrSlug: "{product}") { id } }"#, Rule::Public),
        ("products", "{ products(first: 1) { nodes { id } } }", Rule::Public),
        ("categories", "{ categories(first: 1) { nodes { id } } }", Rule::Public),
        ("category", r#"{ category(idOrSlug: "matrix") { id } }"#, Rule::Public),
        ("searchSuggestions", r#"{ searchSuggestions(query: "ma") { text } }"#, Rule::Public),
        ("locations", "{ locations { code } }", Rule::Staff(P::InventoryRead)),
        ("location", r#"{ location(code: "main") { code version } }"#, Rule::Staff(P::InventoryRead)),
        ("reviews", "{ reviews { nodes { id } } }", Rule::Staff(P::ReviewsWrite)),
        ("productReviews", r#"{ productReviews(idOrSlug: "{product}") { nodes { id } } }"#, Rule::Public),
        (
            "frequentlyBoughtTogether",
            r#"{ frequentlyBoughtTogether(idOrSlug: "{product}") { ordersTogether } }"#,
            Rule::Public,
        ),
        // Only a buyer may review: tests/reviews.rs checks who may.
        (
            "createReview",
            r#"mutation { createReview(idOrSlug: "{product}", rating: 5, title: "T", body: "B") { id } }"#,
            Rule::Any,
        ),
        ("approveReview", r#"mutation { approveReview(id: "{review}") { id } }"#, Rule::Staff(P::ReviewsWrite)),
        ("rejectReview", r#"mutation { rejectReview(id: "{review}") { id } }"#, Rule::Staff(P::ReviewsWrite)),
        ("stock", r#"{ stock(sku: "{sku}") { onHand } }"#, Rule::Staff(P::InventoryRead)),
        ("stockMovements", r#"{ stockMovements(sku: "{sku}") { nodes { id } } }"#, Rule::Staff(P::InventoryRead)),
        ("lowStock", "{ lowStock { sku } }", Rule::Staff(P::InventoryRead)),
        ("shippingZones", "{ shippingZones { id } }", Rule::Staff(P::CatalogRead)),
        ("taxRates", "{ taxRates { id } }", Rule::Staff(P::CatalogRead)),
        ("discounts", "{ discounts { id } }", Rule::Staff(P::CatalogRead)),
        (
            "currencySetting",
            r#"{ currencySetting(currency: "EUR") { pricesIncludeTax } }"#,
            Rule::Staff(P::CatalogRead),
        ),
        (
            "createShippingZone",
            r#"mutation { createShippingZone(input: {name: "G{i}", countries: ["JP"], methods: [{name: "Post", price: {amount: 100, currency: "JPY"}}]}) { id } }"#,
            Rule::Staff(P::SettingsWrite),
        ),
        (
            "updateShippingZone",
            r#"mutation { updateShippingZone(id: "{zone}", input: {name: "U{i}", countries: ["JP"], methods: [{name: "Post", price: {amount: 100, currency: "JPY"}}]}) { id } }"#,
            Rule::Staff(P::SettingsWrite),
        ),
        (
            "createTaxRate",
            r#"mutation { createTaxRate(country: "JP", region: "G{i}", name: "Tax", rateBp: 800) { id } }"#,
            Rule::Staff(P::SettingsWrite),
        ),
        (
            "updateTaxRate",
            r#"mutation { updateTaxRate(id: "{rate}", rateBp: 900) { id } }"#,
            Rule::Staff(P::SettingsWrite),
        ),
        (
            "setCurrencySetting",
            r#"mutation { setCurrencySetting(currency: "JPY", pricesIncludeTax: true) { currency } }"#,
            Rule::Staff(P::SettingsWrite),
        ),
        (
            "createDiscount",
            r#"mutation { createDiscount(input: {code: "GQL{i}", kind: PERCENTAGE, valueBp: 500}) { id } }"#,
            Rule::Staff(P::DiscountsWrite),
        ),
        (
            "updateDiscount",
            r#"mutation { updateDiscount(id: "{discount}", input: {usageLimit: 100}) { id } }"#,
            Rule::Staff(P::DiscountsWrite),
        ),
        (
            "createLocation",
            r#"mutation { createLocation(code: "g{i}", name: "G") { id } }"#,
            Rule::Staff(P::InventoryWrite),
        ),
        (
            "updateLocation",
            r#"mutation { updateLocation(code: "main", name: "Main") { id } }"#,
            Rule::Staff(P::InventoryWrite),
        ),
        (
            "adjustStock",
            r#"mutation { adjustStock(sku: "{sku}", location: "main", delta: 1, reason: RESTOCK) { id } }"#,
            Rule::Staff(P::InventoryWrite),
        ),
        (
            "setReorderPoint",
            r#"mutation { setReorderPoint(sku: "{sku}", location: "main", reorderPoint: 2) { onHand } }"#,
            Rule::Staff(P::InventoryWrite),
        ),
        (
            "setBackorder",
            r#"mutation { setBackorder(sku: "{sku}", allowed: false) { onHand } }"#,
            Rule::Staff(P::InventoryWrite),
        ),
        ("cart", r#"{ cart(id: "{cart}") { id total { amount } } }"#, Rule::Public),
        ("cartShippingMethods", r#"{ cartShippingMethods(cartId: "{cart}") { id } }"#, Rule::Public),
        ("order", r#"{ order(id: "{order}") { id number } }"#, Rule::Public),
        ("orders", "{ orders(first: 1) { nodes { id } } }", Rule::CustomerOrStaff(P::OrdersRead)),
        ("createCart", r#"mutation { createCart(currency: "EUR") { id } }"#, Rule::Public),
        (
            "addCartItem",
            r#"mutation { addCartItem(cartId: "{cart}", sku: "MXO-S", quantity: 1) { id } }"#,
            Rule::Public,
        ),
        (
            "updateCartItem",
            r#"mutation { updateCartItem(cartId: "{cart}", itemId: "{item}", quantity: 2) { id } }"#,
            Rule::Public,
        ),
        (
            "updateCart",
            r#"mutation { updateCart(cartId: "{cart}", input: {email: "g{i}@example.com"}) { id } }"#,
            Rule::Public,
        ),
        ("applyDiscount", r#"mutation { applyDiscount(cartId: "{cart}", code: "MATRIX") { id } }"#, Rule::Public),
        (
            "checkout",
            r#"mutation { checkout(cartId: "{cart}", payment: {provider: "test", token: "tok_ok"}) { id } }"#,
            Rule::Public,
        ),
        (
            "fulfilOrder",
            r#"mutation { fulfilOrder(orderId: "{order}", items: [{sku: "MXO-S", quantity: 1}]) { id } }"#,
            Rule::Staff(P::OrdersWrite),
        ),
        (
            "refundOrder",
            r#"mutation { refundOrder(orderId: "{order}", amount: {amount: 0, currency: "EUR"}) { id } }"#,
            Rule::Staff(P::OrdersWrite),
        ),
        (
            "requestReturn",
            r#"mutation { requestReturn(orderId: "{order}", items: [{sku: "MXO-S", quantity: 5}]) { id } }"#,
            Rule::Public,
        ),
        (
            "receiveReturn",
            r#"mutation { receiveReturn(returnId: "{return}", restock: false) { id } }"#,
            Rule::Staff(P::OrdersWrite),
        ),
        ("refundReturn", r#"mutation { refundReturn(returnId: "{return}") { id } }"#, Rule::Staff(P::OrdersWrite)),
        ("cancelOrder", r#"mutation { cancelOrder(orderId: "{order}") { id } }"#, Rule::StaffOrOwner(P::OrdersWrite)),
        (
            "markFulfillmentDelivered",
            r#"mutation { markFulfillmentDelivered(orderId: "{order}", fulfillmentId: "{fulfillment}") { id } }"#,
            Rule::Staff(P::OrdersWrite),
        ),
        ("claimCart", r#"mutation { claimCart(cartId: "{cart}") { id } }"#, Rule::Customer),
        ("removeDiscount", r#"mutation { removeDiscount(cartId: "{cart}", code: "MATRIX") { id } }"#, Rule::Public),
        ("removeCartItem", r#"mutation { removeCartItem(cartId: "{cart}", itemId: "{item}") { id } }"#, Rule::Public),
        ("me", "{ me { id } }", Rule::Customer),
        ("myAddresses", "{ myAddresses { id } }", Rule::Customer),
        ("myRecommendations", "{ myRecommendations { reason } }", Rule::Customer),
        (
            "salesReport",
            r#"{ salesReport(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", currency: "EUR") { totals { orders } } }"#,
            Rule::Staff(P::ReportsRead),
        ),
        (
            "conversionReport",
            r#"{ conversionReport(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { cartsCreated } }"#,
            Rule::Staff(P::ReportsRead),
        ),
        (
            "customersReport",
            r#"{ customersReport(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", currency: "EUR") { buyers } }"#,
            Rule::Staff(P::ReportsRead),
        ),
        (
            "inventoryReport",
            r#"{ inventoryReport(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { data { sku } } }"#,
            Rule::Staff(P::ReportsRead),
        ),
        (
            "productsReport",
            r#"{ productsReport(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", currency: "EUR") { sku } }"#,
            Rule::Staff(P::ReportsRead),
        ),
        ("customers", "{ customers(first: 1) { nodes { id } } }", Rule::Staff(P::CustomersRead)),
        ("customer", r#"{ customer(id: "{customer}") { ordersCount } }"#, Rule::Staff(P::CustomersRead)),
        ("apiKeys", "{ apiKeys(first: 1) { nodes { id } } }", Rule::Staff(P::ApiKeysManage)),
        ("staffMembers", "{ staffMembers(first: 1) { nodes { id } } }", Rule::Staff(P::StaffManage)),
        (
            "createProduct",
            r#"mutation { createProduct(input: {name: "G{i}", status: DRAFT, variants: [{sku: "GQL-{i}", prices: [{amount: 100, currency: "EUR"}]}]}) { id } }"#,
            Rule::Staff(P::CatalogWrite),
        ),
        (
            "updateProduct",
            r#"mutation { updateProduct(idOrSlug: "{product}", input: {name: "Renamed {i}"}) { id } }"#,
            Rule::Staff(P::CatalogWrite),
        ),
        (
            "addVariant",
            r#"mutation { addVariant(product: "{product}", input: {sku: "GV-{i}", prices: [{amount: 100, currency: "EUR"}]}) { id } }"#,
            Rule::Staff(P::CatalogWrite),
        ),
        (
            "updateVariant",
            r#"mutation { updateVariant(product: "{product}", variantId: "{variant}", input: {title: "T"}) { id } }"#,
            Rule::Staff(P::CatalogWrite),
        ),
        (
            "createCategory",
            r#"mutation { createCategory(input: {name: "GC {i}"}) { id } }"#,
            Rule::Staff(P::CatalogWrite),
        ),
        ("login", r#"mutation { login(email: "nobody@shop.test", password: "x") { accessToken } }"#, Rule::Any),
        ("refreshToken", r#"mutation { refreshToken(refreshToken: "x") { accessToken } }"#, Rule::Any),
        ("logout", r#"mutation { logout(refreshToken: "x") }"#, Rule::Any),
        (
            "registerCustomer",
            r#"mutation { registerCustomer(email: "g{i}@example.com", password: "graph password", firstName: "G", lastName: "Q") { id } }"#,
            Rule::Public,
        ),
        ("updateMe", r#"mutation { updateMe(firstName: "Ada") { id } }"#, Rule::Customer),
        (
            "changePassword",
            r#"mutation { changePassword(currentPassword: "not the password", newPassword: "another password") }"#,
            Rule::Customer,
        ),
        (
            "addAddress",
            r#"mutation { addAddress(address: {firstName: "A", lastName: "B", line1: "1 Way", city: "Rome", postalCode: "00100", country: "IT"}) { id } }"#,
            Rule::Customer,
        ),
        (
            "updateAddress",
            r#"mutation { updateAddress(id: "{address}", changes: {city: "Lyon"}) { id } }"#,
            Rule::OwnedByA,
        ),
        (
            "createStaff",
            r#"mutation { createStaff(email: "gs{i}@shop.test", password: "graph staff password", role: SUPPORT) { id } }"#,
            Rule::Staff(P::StaffManage),
        ),
        (
            "updateStaff",
            r#"mutation { updateStaff(id: "{staff}", role: SUPPORT) { id } }"#,
            Rule::Staff(P::StaffManage),
        ),
        (
            "createApiKey",
            r#"mutation { createApiKey(name: "g", scopes: ["events:read"]) { id } }"#,
            Rule::Staff(P::ApiKeysManage),
        ),
        (
            "deleteVariant",
            r#"mutation { deleteVariant(product: "{product}", variantId: "{variant}") }"#,
            Rule::Staff(P::CatalogWrite),
        ),
        ("deleteProduct", r#"mutation { deleteProduct(idOrSlug: "{product}") }"#, Rule::Staff(P::CatalogWrite)),
        ("deleteShippingZone", r#"mutation { deleteShippingZone(id: "{zone}") }"#, Rule::Staff(P::SettingsWrite)),
        ("deleteTaxRate", r#"mutation { deleteTaxRate(id: "{rate}") }"#, Rule::Staff(P::SettingsWrite)),
        ("deleteDiscount", r#"mutation { deleteDiscount(id: "{discount}") }"#, Rule::Staff(P::DiscountsWrite)),
        ("deleteAddress", r#"mutation { deleteAddress(id: "{address}") }"#, Rule::OwnedByA),
        ("revokeApiKey", r#"mutation { revokeApiKey(id: "{key}") }"#, Rule::Staff(P::ApiKeysManage)),
        ("webhooks", "{ webhooks { id } }", Rule::Staff(P::WebhooksWrite)),
        ("webhook", r#"{ webhook(id: "{webhook}") { id } }"#, Rule::Staff(P::WebhooksWrite)),
        (
            "webhookDeliveries",
            r#"{ webhookDeliveries(id: "{webhook}") { nodes { id } } }"#,
            Rule::Staff(P::WebhooksWrite),
        ),
        (
            "createWebhook",
            r#"mutation { createWebhook(input: {url: "http://127.0.0.1:9/g{i}", events: ["order.paid"]}) { id secret } }"#,
            Rule::Staff(P::WebhooksWrite),
        ),
        (
            "updateWebhook",
            r#"mutation { updateWebhook(id: "{webhook}", input: {description: "G{i}"}) { id } }"#,
            Rule::Staff(P::WebhooksWrite),
        ),
        (
            "rotateWebhookSecret",
            r#"mutation { rotateWebhookSecret(id: "{webhook}") { secret } }"#,
            Rule::Staff(P::WebhooksWrite),
        ),
        (
            "retryWebhookDelivery",
            r#"mutation { retryWebhookDelivery(id: "{webhook}", deliveryId: "{delivery}") { id } }"#,
            Rule::Staff(P::WebhooksWrite),
        ),
        (
            "replayWebhook",
            r#"mutation { replayWebhook(id: "{webhook}", since: "2026-01-01T00:00:00Z") { queued } }"#,
            Rule::Staff(P::WebhooksWrite),
        ),
        ("deleteWebhook", r#"mutation { deleteWebhook(id: "{webhook}") }"#, Rule::Staff(P::WebhooksWrite)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_graphql_root_field_answers_every_kind_of_caller_as_the_contract_says() -> TestResult {
    let server = TestServer::start_with(Options { webhooks_private: true, ..Options::default() }).await?;

    // The table names every root field of the schema, and nothing else.
    let introspection = server
        .graphql(None, "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }", json!({}))
        .await?;
    let mut fields: Vec<String> = ["queryType", "mutationType"]
        .iter()
        .flat_map(|t| introspection.body["data"]["__schema"][t]["fields"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect();
    let mut listed: Vec<String> = graphql_table().iter().map(|(f, _, _)| (*f).to_owned()).collect();
    fields.sort();
    listed.sort();
    assert_eq!(listed, fields, "add the root field to the GraphQL matrix with who may call it");

    let (callers, tokens, targets) = fixtures(&server).await?;

    let mut failures = Vec::new();
    for (field, template, rule) in graphql_table() {
        for (i, caller) in callers.iter().enumerate() {
            let t = &targets[i];
            let document = template
                .replace("{i}", &i.to_string())
                .replace("{sku}", &t.sku)
                .replace("{product}", &t.product)
                .replace("{review}", &t.review)
                .replace("{variant}", &t.variant)
                .replace("{address}", &t.address)
                .replace("{customer}", &t.customer)
                .replace("{staff}", &t.staff)
                .replace("{key}", &t.key)
                .replace("{cart}", &t.cart)
                .replace("{item}", &t.item)
                .replace("{order}", &t.order)
                .replace("{return}", &t.return_id)
                .replace("{fulfillment}", &t.fulfillment)
                .replace("{zone}", &t.zone)
                .replace("{rate}", &t.rate)
                .replace("{discount}", &t.discount)
                .replace("{webhook}", &t.webhook)
                .replace("{delivery}", &t.delivery);
            let reply = server.graphql(tokens[i].as_deref(), &document, json!({})).await?;
            let code = reply.body["errors"][0]["extensions"]["code"].as_str().unwrap_or("").to_owned();
            let ok = match expect(rule, *caller) {
                Expect::Unchecked => code != "internal" && code != "invalid_query",
                Expect::Allowed => !["unauthorized", "forbidden", "internal", "invalid_query"].contains(&code.as_str()),
                Expect::Status(StatusCode::UNAUTHORIZED) => code == "unauthorized",
                Expect::Status(StatusCode::FORBIDDEN) => code == "forbidden",
                Expect::Status(StatusCode::NOT_FOUND) => code == "not_found",
                Expect::Status(_) => false,
            };
            if !ok {
                failures.push(format!("{field} as {caller:?}: {:?}, got {}", expect(rule, *caller), reply.body));
            }
        }
    }
    assert!(failures.is_empty(), "{} cells of the GraphQL matrix failed:\n{}", failures.len(), failures.join("\n"));
    Ok(())
}
