//! The catalog: products, their variants, options and prices, and categories.
//!
//! Rules and storage only; nothing here knows it is served over HTTP. Operations take any
//! `ConnectionTrait`, so a caller composes them inside its own transaction.

pub mod entity;
mod error;
mod events;
mod model;
mod query;
mod service;
mod validate;

pub use error::{CatalogError, ERROR_CODES};
pub use events::{ChangeKind, ProductEvent};
pub use model::*;
pub use query::{
    FacetSelection, IdPage, ListProducts, MAX_OPTION_FACETS, MAX_OPTION_FILTERS, MAX_OPTION_VALUES, MAX_QUERY_CHARS,
    ProductSort, StatusFilter, fingerprint, list_products,
};
pub use service::*;
