//! The REST API under `/v1`, every route registered through utoipa-axum so none is undocumented.

pub mod api_keys;
pub mod auth;
pub mod carts;
pub mod categories;
pub mod customers;
pub mod events;
pub mod health;
pub mod inventory;
pub mod orders;
pub mod products;
pub mod recommendations;
pub mod reports;
pub mod reviews;
pub mod search;
pub mod selling;
pub mod staff;
pub mod webhooks;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    servers((url = "/", description = "This server")),
    info(title = "Emporium API", version = "1", description = "Headless commerce: catalog, inventory, carts, orders, payments, customers. Errors are application/problem+json with a stable `code`; money is integer minor units."),
    tags(
        (name = "catalog", description = "Products, variants, prices and categories"),
        (name = "auth", description = "Sign-in and tokens, for staff and customers alike"),
        (name = "inventory", description = "Locations, stock per SKU, adjustments and the ledger, reorder points, backorders"),
        (name = "carts", description = "Carts priced from the catalog, discount codes, shipping methods and checkout"),
        (name = "orders", description = "Orders: what was bought, at which price, and what happened since"),
        (name = "selling", description = "The selling setup: shipping zones, tax rates, discount codes, tax-inclusive prices"),
        (name = "customers", description = "Customer accounts, profiles and address books; the staff's customer search"),
        (name = "staff", description = "Staff accounts, roles and integrator API keys (admins)"),
        (name = "events", description = "The event feed: changes of orders, stock and products, in order"),
        (name = "reviews", description = "Buyers' reviews of products, moderated by staff"),
        (name = "recommendations", description = "Frequently bought together, and a customer's recommendations"),
        (name = "reports", description = "The shop manager's numbers: sales, conversion, customers, best sellers"),
        (name = "webhooks", description = "Subscriptions that push the event feed to integrators' URLs, signed, retried, logged"),
        (name = "health", description = "Liveness and readiness"),
    ),
    components(schemas(crate::error::Problem, products::SortParam, products::StatusParam)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from `POST /v1/auth/login`: a staff or a customer account"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "An integrator's key (`emp_...`), acting as staff limited to its scopes",
            ))),
        );
    }
}

/// The `Idempotency-Key` header every mutating POST outside `/v1/auth/` accepts.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Retries with the same key and body return the first answer and do the work once
    /// (422 `idempotency_key_reused` with another body, 409 `idempotency_in_progress` while the
    /// first runs). Kept at least 24 hours.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    #[expect(dead_code, reason = "read only by the OpenAPI derive, never constructed")]
    idempotency_key: Option<String>,
}

/// A list's `limit` and `cursor` query parameters as the use cases take them: an empty
/// parameter (`?cursor=`, as forms send) is not given, and a `limit` that is not a whole
/// number reads as out of range, so the page size's rule is reported.
pub fn page_params(limit: Option<&str>, cursor: Option<String>) -> (Option<i64>, Option<String>) {
    let limit = limit.filter(|l| !l.is_empty()).map(|l| l.parse::<i64>().unwrap_or(0));
    (limit, cursor.filter(|c| !c.is_empty()))
}

/// The REST routes and their OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(crate::infra::metrics::serve_metrics))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(products::list_products, products::create_product))
        .routes(routes!(products::get_product, products::update_product, products::delete_product))
        .routes(routes!(products::add_variant))
        .routes(routes!(products::update_variant, products::delete_variant))
        .routes(routes!(categories::list_categories, categories::create_category))
        .routes(routes!(categories::get_category))
        .routes(routes!(search::suggest))
        .routes(routes!(inventory::create_location, inventory::list_locations))
        .routes(routes!(inventory::get_location, inventory::update_location))
        .routes(routes!(inventory::adjust_stock))
        .routes(routes!(inventory::low_stock))
        .routes(routes!(inventory::get_stock, inventory::update_stock_settings))
        .routes(routes!(inventory::list_movements))
        .routes(routes!(inventory::update_reorder_point))
        .routes(routes!(events::list_events))
        .routes(routes!(carts::create_cart))
        .routes(routes!(carts::get_cart, carts::update_cart))
        .routes(routes!(carts::add_cart_item))
        .routes(routes!(carts::update_cart_item, carts::remove_cart_item))
        .routes(routes!(carts::apply_discount))
        .routes(routes!(carts::remove_discount))
        .routes(routes!(carts::list_cart_shipping_methods))
        .routes(routes!(carts::claim_cart))
        .routes(routes!(carts::checkout_cart))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::create_fulfillment))
        .routes(routes!(orders::mark_fulfillment_delivered))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(orders::refund_order))
        .routes(routes!(orders::request_return))
        .routes(routes!(orders::receive_return))
        .routes(routes!(orders::refund_return))
        .routes(routes!(selling::create_shipping_zone, selling::list_shipping_zones))
        .routes(routes!(selling::get_shipping_zone, selling::update_shipping_zone, selling::delete_shipping_zone))
        .routes(routes!(selling::create_tax_rate, selling::list_tax_rates))
        .routes(routes!(selling::get_tax_rate, selling::update_tax_rate, selling::delete_tax_rate))
        .routes(routes!(selling::create_discount, selling::list_discounts))
        .routes(routes!(selling::get_discount, selling::update_discount, selling::delete_discount))
        .routes(routes!(selling::get_currency_setting, selling::set_currency_setting))
        .routes(routes!(customers::register_customer, customers::list_customers))
        .routes(routes!(customers::get_me, customers::update_me))
        .routes(routes!(customers::change_password))
        .routes(routes!(customers::list_addresses, customers::add_address))
        .routes(routes!(customers::update_address, customers::delete_address))
        .routes(routes!(customers::get_customer))
        .routes(routes!(staff::create_staff, staff::list_staff))
        .routes(routes!(staff::update_staff))
        .routes(routes!(api_keys::create_api_key, api_keys::list_api_keys))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::list_webhook_deliveries))
        .routes(routes!(webhooks::retry_webhook_delivery))
        .routes(routes!(webhooks::replay_webhook))
        .routes(routes!(reviews::create_review, reviews::list_product_reviews))
        .routes(routes!(reviews::list_reviews))
        .routes(routes!(reviews::approve_review))
        .routes(routes!(reviews::reject_review))
        .routes(routes!(recommendations::frequently_bought_together))
        .routes(routes!(recommendations::my_recommendations))
        .routes(routes!(reports::sales_report))
        .routes(routes!(reports::conversion_report))
        .routes(routes!(reports::customers_report))
        .routes(routes!(reports::products_report))
        .routes(routes!(reports::inventory_report))
}

/// The OpenAPI document as the server serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    complete(router().split_for_parts().1)
}

/// Documents, on every operation, the error answers that come from shared machinery rather
/// than from the handler (so no route can forget one): a body's 400, 413, 415 and 422;
/// credentials' 401 and 403; an idempotency key's 409 and 422; the database's 503.
pub fn complete(document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use serde_json::{Value, json};
    let Ok(mut doc) = serde_json::to_value(&document) else { return document };
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        })
    };
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                let Some(operation) = operation.as_object_mut() else { continue };
                let has_body = operation.contains_key("requestBody");
                let security = operation.get("security").and_then(Value::as_array).cloned().unwrap_or_default();
                let bearer = security.iter().any(|s| s.get("bearer").is_some() || s.get("api_key").is_some());
                let anonymous_allowed =
                    security.is_empty() || security.iter().any(|s| s.as_object().is_some_and(|o| o.is_empty()));
                let keyed = operation
                    .get("parameters")
                    .and_then(Value::as_array)
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
                let uses_database = !matches!(path.as_str(), "/healthz" | "/metrics");
                let mut add = |status: &str, description: &str| {
                    let responses = operation.entry("responses").or_insert_with(|| json!({}));
                    if let Some(responses) = responses.as_object_mut() {
                        responses.entry(status.to_owned()).or_insert_with(|| problem(description));
                    }
                };
                if has_body {
                    add("400", "`malformed_body`: the body is not JSON");
                    add("413", "`payload_too_large`: the body is over the limit");
                    add("415", "`unsupported_media_type`: the body is not sent as JSON");
                    add("422", "`validation_failed`: the body breaks a rule");
                }
                if bearer {
                    add("401", "`unauthorized`: no or bad credentials");
                    if !anonymous_allowed {
                        add("403", "`forbidden`: the credentials lack the permission");
                    }
                }
                if keyed {
                    add("409", "`idempotency_in_progress`: a request with this key is still running");
                    add("422", "`idempotency_key_reused` or `validation_failed`");
                }
                if !matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics") && method != "parameters" {
                    add(
                        "429",
                        "`rate_limited`: past the caller's allowance (or too many failed sign-ins); see `Retry-After`",
                    );
                }
                if uses_database && method != "parameters" {
                    add("503", "`service_unavailable`: the database cannot be reached; nothing changed");
                }
            }
        }
    }
    serde_json::from_value(doc).unwrap_or(document)
}
