//! Product search: the words of a text folded for matching ([`analyze`]), and an in-memory
//! index of the catalog ([`index`], queried through [`query`] and [`suggest`]) that matches every word of a query in any order (whole
//! words by their English stem, the last word also as a prefix, one typo forgiven in words of
//! five letters or more), ranks by the field a word was found in (name > category and option
//! values > SKU > description, ties newest first), filters by category, stock, price and
//! option values, and counts facets, each with the other filters applied and its own left out.
//!
//! It does no I/O: its caller loads the catalog into it and keeps it current. Every instance
//! holds its own copy, so the same query gives the same results whichever database the
//! catalog lives in.

pub mod analyze;
pub mod index;
pub mod query;
pub mod suggest;

pub use index::{Category, Document, Field, Index, MAX_FACET_VALUES, MAX_QUERY_WORDS, Variant};
pub use query::{FacetCount, FacetRequest, Facets, Page, Position, PriceBand, Query, Sort, SortKey, Visibility};
pub use suggest::Suggestion;

#[cfg(test)]
mod tests;
