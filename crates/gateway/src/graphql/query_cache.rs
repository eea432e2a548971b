//! Parsed GraphQL documents by query text: clients send the same few queries again and again,
//! and parsing was a tenth of a product query's CPU. Bounded by the total size of the queries.
//! Also the key under which an anonymous read-only request's whole response may be cached.
//!
//! Validation results are deliberately not cached: that needs an async-graphql extension, and
//! any registered extension makes every field resolve take a registry lookup and an extension
//! chain, which cost field-heavy queries more than validation did.

use async_graphql::Request;
use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::bounds::{self, Refusal};

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

    /// Gives `request` its parsed document, from the cache or by parsing it once, and refuses
    /// a document whose cost is out of bounds before anything expands it. Only documents within
    /// the bounds are cached. A query that does not parse is left for async-graphql to report.
    pub fn prepare(&self, request: &mut Request) -> Result<(), Refusal> {
        if let Some(document) = self.0.get(&request.query) {
            request.set_parsed_query(document);
            return Ok(());
        }
        bounds::check_text(&request.query)?;
        if let Ok(document) = request.parsed_query() {
            bounds::check_document(document)?;
            let document = document.clone();
            self.0.insert(request.query.clone(), document);
        }
        Ok(())
    }
}

impl Default for ParsedQueries {
    fn default() -> Self {
        Self::new()
    }
}

/// A field whose value changes with every sale: an answer that selects it is never cached
/// whole (its figures come from the availability entries instead).
const PER_SALE_FIELD: &str = "available";

/// The root fields whose answers are catalog data, the same for every anonymous caller and
/// changed only by catalog writes (which move the catalog-wide generation). This is an
/// allow-list on purpose: a root field added later (a cart, an order, a report) is private or
/// live until someone adds it here, so it can never be cached by default.
const CATALOG_ROOT_FIELDS: &[&str] =
    &["product", "products", "category", "categories", "searchSuggestions", "__typename", "__schema", "__type"];

/// Arguments of a catalog root field that make its answer follow stock, not only the catalog.
const PER_SALE_ARGUMENTS: &[&str] = &["inStock"];

/// The cache key of a request whose answer depends only on the catalog's edits: every
/// operation in it is a query, every root field it selects (fragments expanded) is one of
/// [`CATALOG_ROOT_FIELDS`] without a stock filter, and nothing in it selects availability.
/// `None` for anything else, and for documents that do not parse. The caller decides whether
/// the caller's identity allows sharing the answer.
pub fn response_key(request: &mut Request) -> Option<String> {
    let document = request.parsed_query().ok()?;
    if !catalog_only(document) {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(request.operation_name.as_deref().unwrap_or_default().as_bytes());
    hasher.update([0]);
    hasher.update(request.query.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(&request.variables).ok()?);
    Some(format!("graphql:{}", URL_SAFE_NO_PAD.encode(hasher.finalize())))
}

/// Whether every operation of `document` is a query of catalog root fields only (see
/// [`response_key`]).
fn catalog_only(document: &ExecutableDocument) -> bool {
    if selects(document, PER_SALE_FIELD) {
        return false;
    }
    document.operations.iter().all(|(_, operation)| {
        operation.node.ty == OperationType::Query
            && roots_allowed(&operation.node.selection_set, &document.fragments, 0)
    })
}

/// Whether each root field of `set` (fragments expanded) is an allowed catalog field without a
/// per-sale argument. An unknown fragment, or one nested deeper than the bounds allow, is not.
fn roots_allowed(
    set: &Positioned<SelectionSet>,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    depth: usize,
) -> bool {
    if depth > bounds::MAX_FRAGMENTS {
        return false;
    }
    set.node.items.iter().all(|item| match &item.node {
        Selection::Field(field) => {
            let field = &field.node;
            CATALOG_ROOT_FIELDS.contains(&field.name.node.as_str())
                && !field.arguments.iter().any(|(name, _)| PER_SALE_ARGUMENTS.contains(&name.node.as_str()))
        }
        Selection::FragmentSpread(spread) => fragments
            .get(spread.node.fragment_name.node.as_str())
            .is_some_and(|fragment| roots_allowed(&fragment.node.selection_set, fragments, depth + 1)),
        Selection::InlineFragment(inline) => roots_allowed(&inline.node.selection_set, fragments, depth + 1),
    })
}

/// Whether any operation or fragment of `document` selects a field named `name`.
fn selects(document: &ExecutableDocument, name: &str) -> bool {
    fn within(set: &SelectionSet, name: &str) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                field.node.name.node.as_str() == name || within(&field.node.selection_set.node, name)
            }
            Selection::FragmentSpread(_) => false,
            Selection::InlineFragment(inline) => within(&inline.node.selection_set.node, name),
        })
    }
    document.operations.iter().any(|(_, operation)| within(&operation.node.selection_set.node, name))
        || document.fragments.values().any(|fragment| within(&fragment.node.selection_set.node, name))
}

/// The root field names (fragments expanded) of the operation that runs, when it is a
/// mutation; `None` for a query, and for a document that does not parse or names no
/// operation that exists.
pub fn mutation_fields(request: &mut Request) -> Option<Vec<String>> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => operation,
        DocumentOperations::Multiple(operations) => match name.as_deref() {
            Some(name) => operations.get(name)?,
            None if operations.len() == 1 => operations.values().next()?,
            None => return None,
        },
    };
    if operation.node.ty != OperationType::Mutation {
        return None;
    }
    let mut names = Vec::new();
    field_names(&operation.node.selection_set, &document.fragments, 0, &mut names);
    Some(names)
}

fn field_names(
    set: &Positioned<SelectionSet>,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    depth: usize,
    names: &mut Vec<String>,
) {
    if depth > bounds::MAX_FRAGMENTS {
        return;
    }
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => names.push(field.node.name.node.to_string()),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = fragments.get(spread.node.fragment_name.node.as_str()) {
                    field_names(&fragment.node.selection_set, fragments, depth + 1, names);
                }
            }
            Selection::InlineFragment(inline) => field_names(&inline.node.selection_set, fragments, depth + 1, names),
        }
    }
}

/// How many root fields the operation that runs selects, fragments expanded (aliases each
/// count): a document spends that many requests of its caller's allowance, so neither aliases
/// nor fragments can multiply a limit. Runs after the document bounds, which cap the expansion.
pub fn root_fields(request: &mut Request) -> usize {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return 1 };
    let selection = match &document.operations {
        DocumentOperations::Single(operation) => Some(&operation.node.selection_set),
        DocumentOperations::Multiple(operations) => match name.as_deref() {
            Some(name) => operations.get(name),
            None => operations.values().next(),
        }
        .map(|operation| &operation.node.selection_set),
    };
    selection.map_or(1, |set| count_fields(set, &document.fragments, 0).max(1))
}

fn count_fields(
    set: &Positioned<SelectionSet>,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    depth: usize,
) -> usize {
    // Fragment cycles are refused by the bounds before this runs; the depth guard is a backstop.
    if depth > bounds::MAX_FRAGMENTS {
        return 0;
    }
    set.node
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::FragmentSpread(spread) => fragments
                .get(spread.node.fragment_name.node.as_str())
                .map_or(0, |fragment| count_fields(&fragment.node.selection_set, fragments, depth + 1)),
            Selection::InlineFragment(inline) => count_fields(&inline.node.selection_set, fragments, depth + 1),
        })
        .fold(0usize, usize::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str) -> Option<String> {
        response_key(&mut Request::new(query))
    }

    #[test]
    fn only_catalog_root_fields_are_shared() {
        assert!(key("{ products(first: 2) { nodes { name } } }").is_some());
        assert!(key("{ product(idOrSlug: \"x\") { name } categories { nodes { slug } } }").is_some());
        assert!(key("query { ...F } fragment F on Query { searchSuggestions(query: \"te\") { text } }").is_some());
        for private in [
            "{ cart(id: \"c\") { items { quantity } } }",
            "{ order(id: \"o\") { status } }",
            "{ cartShippingMethods(cartId: \"c\") { id } }",
            "{ products { nodes { name } } cart(id: \"c\") { id } }",
            "query { ...F } fragment F on Query { order(id: \"o\") { status } }",
            "{ ... on Query { cart(id: \"c\") { id } } }",
            "{ someFieldAddedLater }",
            "{ products(inStock: true) { nodes { name } } }",
            "{ products { nodes { variants { available } } } }",
            "mutation { createCart(currency: \"EUR\") { id } }",
        ] {
            assert!(key(private).is_none(), "{private} must not be shared");
        }
    }
}
