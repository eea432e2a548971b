//! Parsed GraphQL documents by query text: clients send the same few queries again and again,
//! and parsing was a tenth of a product query's CPU. Bounded by the total size of the queries.
//!
//! Validation results are deliberately not cached: that needs an async-graphql extension, and
//! any registered extension makes every field resolve take a registry lookup and an extension
//! chain, which cost field-heavy queries more than validation did.

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;

/// Bytes of query text the cache may hold.
const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Parsed documents by query text.
#[derive(Clone)]
pub struct ParsedQueries(moka::sync::Cache<String, ExecutableDocument>);

impl ParsedQueries {
    /// An empty cache.
    pub fn new() -> Self {
        Self(
            moka::sync::Cache::builder()
                .weigher(|query: &String, _| u32::try_from(query.len()).unwrap_or(u32::MAX))
                .max_capacity(MAX_BYTES)
                .build(),
        )
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
