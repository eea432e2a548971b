//! The GraphQL API at `/graphql`: the same services and error codes as REST.

mod catalog;
mod query_cache;

pub use query_cache::{ParsedQueries, response_key};

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::error::ApiError;
use crate::state::AppState;

/// Every query, merged from one object per domain.
#[derive(MergedObject, Default)]
pub struct Query(catalog::CatalogQuery);

/// Every mutation, merged from one object per domain.
#[derive(MergedObject, Default)]
pub struct Mutation(catalog::CatalogMutation);

/// The schema type.
pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Depth limit: deep enough for the standard introspection query (about 15).
pub const MAX_DEPTH: usize = 20;
/// Complexity limit: the standard introspection query needs about 180.
pub const MAX_COMPLEXITY: usize = 2_000;

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
