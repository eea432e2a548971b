//! The REST API under `/v1`, every route registered through utoipa-axum so none is undocumented.

pub mod auth;
pub mod categories;
pub mod health;
pub mod products;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Emporium API", version = "1", description = "Headless commerce: catalog, inventory, carts, orders, payments, customers. Errors are application/problem+json with a stable `code`; money is integer minor units."),
    tags(
        (name = "catalog", description = "Products, variants, prices and categories"),
        (name = "auth", description = "Sign-in and tokens"),
        (name = "health", description = "Liveness and readiness"),
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
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
    #[into_params(rename = "Idempotency-Key")]
    #[expect(dead_code, reason = "read only by the OpenAPI derive, never constructed")]
    idempotency_key: Option<String>,
}

/// The REST routes and their OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(crate::metrics::serve_metrics))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(products::list_products, products::create_product))
        .routes(routes!(products::get_product, products::update_product, products::delete_product))
        .routes(routes!(products::add_variant))
        .routes(routes!(products::update_variant, products::delete_variant))
        .routes(routes!(categories::list_categories, categories::create_category))
        .routes(routes!(categories::get_category))
}

/// The OpenAPI document as the server serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().split_for_parts().1
}
