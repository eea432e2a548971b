//! The GraphQL API at `/graphql`: the same services and error codes as REST.

mod accounts;
mod bounds;
mod catalog;
pub mod http;
mod inventory;
mod money;
mod orders;
mod query_cache;
mod recommendations;
mod reports;
mod reviews;
mod selling;
mod sessions;
mod webhooks;

pub use bounds::Refusal;
pub use money::Amount;
pub use query_cache::{ParsedQueries, mutation_fields, response_key, root_fields};
pub use sessions::ClientAddress;

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::error::ApiError;
use crate::state::AppState;

/// Every query, merged from one object per domain.
#[derive(MergedObject, Default)]
pub struct Query(
    catalog::CatalogQuery,
    inventory::InventoryQuery,
    accounts::AccountQuery,
    orders::OrderQuery,
    selling::SellingQuery,
    webhooks::WebhookQuery,
    reviews::ReviewQuery,
    recommendations::RecommendationQuery,
    reports::ReportQuery,
);

/// Every mutation, merged from one object per domain.
#[derive(MergedObject, Default)]
pub struct Mutation(
    catalog::CatalogMutation,
    inventory::InventoryMutation,
    sessions::SessionMutation,
    accounts::AccountMutation,
    orders::OrderMutation,
    selling::SellingMutation,
    webhooks::WebhookMutation,
    reviews::ReviewMutation,
);

/// The application state and the caller of a GraphQL request.
pub(crate) fn state_and_principal<'a>(
    ctx: &'a async_graphql::Context<'_>,
) -> async_graphql::Result<(&'a AppState, &'a crate::auth::Principal)> {
    Ok((ctx.data::<AppState>()?, ctx.data::<crate::auth::Principal>()?))
}

/// The `Idempotency-Key` claim of a keyed mutation document, for its resolver's use case to
/// record in its transaction; empty without a key.
pub(crate) fn claim(ctx: &async_graphql::Context<'_>) -> crate::infra::idempotency::Idempotency {
    ctx.data_opt::<crate::infra::idempotency::Idempotency>().cloned().unwrap_or_default()
}

/// The precondition an optional `expectedVersion` states.
pub(crate) fn expected(version: Option<i64>) -> emporium_core::Expected {
    version.map_or(emporium_core::Expected::Any, emporium_core::Expected::version)
}

/// The schema type.
pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Depth limit: deep enough for the standard introspection query (about 15).
pub const MAX_DEPTH: usize = 20;
/// Complexity limit: the standard introspection query needs about 180. A list counts `first`
/// times its items plus a base cost for its query, so aliases cannot multiply list work.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Base cost of a field that runs a list query.
pub const LIST_COST: usize = 100;
/// Cost of a login: most of a document's budget, so one document checks one password.
pub const LOGIN_COST: usize = 1_500;
/// Base cost of a field that may read one record from the database.
pub const LOOKUP_COST: usize = 10;
/// Largest serialized answer; larger ones are replaced by an error.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The code of an error async-graphql raised itself (parse, validation, limits).
pub fn code_of_library_error(message: &str) -> &'static str {
    match message {
        "Query is too complex." => "query_too_complex",
        "Query is nested too deep." => "query_too_deep",
        m if m.starts_with("The recursion depth of the query") => "query_too_deep",
        _ => "invalid_query",
    }
}

/// An answer carrying one error with `extensions.code`.
pub fn error_response(code: &'static str, message: impl Into<String>) -> async_graphql::Response {
    use async_graphql::ErrorExtensions as _;
    let error = async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code));
    async_graphql::Response::from_errors(vec![error.into_server_error(async_graphql::Pos::default())])
}

/// Builds the schema; `state` is `None` only for printing the SDL.
pub fn schema(state: Option<AppState>) -> ApiSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if let Some(state) = state {
        builder = builder
            .data(async_graphql::dataloader::DataLoader::new(catalog::CategoryLoader(state.clone()), tokio::spawn))
            .data(state);
    }
    builder.finish()
}

/// The SDL, as committed in `schema/schema.graphql`.
pub fn sdl() -> String {
    schema(None).sdl()
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        let problem = err.problem();
        use async_graphql::ErrorExtensions as _;
        let mut error = async_graphql::Error::new(problem.detail.clone());
        error = error.extend_with(|_, ext| {
            ext.set("code", problem.code.clone());
            ext.set("status", problem.status);
            if let Some(reason) = &problem.reason {
                ext.set("reason", reason.clone());
            }
            if let Some(state) = problem.payment_state {
                ext.set("payment_state", state);
            }
            if let Some(skus) = &problem.skus {
                ext.set(
                    "skus",
                    async_graphql::Value::List(skus.iter().cloned().map(async_graphql::Value::from).collect()),
                );
            }
            if !problem.errors.is_empty() {
                let list: Vec<async_graphql::Value> = problem
                    .errors
                    .iter()
                    .map(|e| {
                        let mut map = async_graphql::indexmap::IndexMap::new();
                        map.insert(async_graphql::Name::new("field"), async_graphql::Value::from(e.field.clone()));
                        map.insert(async_graphql::Name::new("code"), async_graphql::Value::from(e.code.clone()));
                        map.insert(async_graphql::Name::new("message"), async_graphql::Value::from(e.message.clone()));
                        async_graphql::Value::Object(map)
                    })
                    .collect();
                ext.set("errors", async_graphql::Value::List(list));
            }
        });
        error
    }
}
