//! Caches that take the fixed cost of a GraphQL request off repeated queries: the parsed
//! document, and the validation result of a query that has no variables. Both are pure
//! functions of the query text (and the schema, which does not change while serving), and
//! both are bounded by the total size of the queries they hold.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError, ServerResult, ValidationResult};

/// Bytes of query text each cache may hold.
const MAX_BYTES: u64 = 8 * 1024 * 1024;

fn bounded<V: Clone + Send + Sync + 'static>() -> moka::sync::Cache<String, V> {
    moka::sync::Cache::builder()
        .weigher(|key: &String, _| u32::try_from(key.len()).unwrap_or(u32::MAX))
        .max_capacity(MAX_BYTES)
        .build()
}

/// Parsed documents by query text.
#[derive(Clone)]
pub struct ParsedQueries(moka::sync::Cache<String, ExecutableDocument>);

impl ParsedQueries {
    /// An empty cache.
    pub fn new() -> Self {
        Self(bounded())
    }

    /// Gives `request` its parsed document, from the cache or by parsing it once. A query that
    /// does not parse is left for async-graphql to report.
    pub fn prepare(&self, request: &mut Request) {
        if let Some(document) = self.0.get(&request.query) {
            request.set_parsed_query(document);
        } else if let Ok(document) = request.parsed_query() {
            let document = document.clone();
            self.0.insert(request.query.clone(), document);
        }
    }
}

impl Default for ParsedQueries {
    fn default() -> Self {
        Self::new()
    }
}

/// Successful validation results of variable-free queries, by operation name and query text.
pub struct ValidatedQueries(moka::sync::Cache<String, ValidationResult>);

impl ValidatedQueries {
    /// An empty cache.
    pub fn new() -> Self {
        Self(bounded())
    }
}

impl Default for ValidatedQueries {
    fn default() -> Self {
        Self::new()
    }
}

impl ExtensionFactory for ValidatedQueries {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidationCache { cache: self.0.clone(), key: Mutex::new(None) })
    }
}

struct ValidationCache {
    cache: moka::sync::Cache<String, ValidationResult>,
    /// Set for requests whose validation may be reused (no variables).
    key: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for ValidationCache {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if request.variables.is_empty() {
            let key = format!("{}\n{}", request.operation_name.as_deref().unwrap_or_default(), request.query);
            if let Ok(mut slot) = self.key.lock() {
                *slot = Some(key);
            }
        }
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let key = self.key.lock().ok().and_then(|mut slot| slot.take());
        if let Some(hit) = key.as_ref().and_then(|key| self.cache.get(key)) {
            return Ok(hit);
        }
        let result = next.run(ctx).await;
        if let (Some(key), Ok(validated)) = (key, &result) {
            self.cache.insert(key, *validated);
        }
        result
    }
}
