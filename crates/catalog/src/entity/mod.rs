//! The catalog's tables. Only this crate writes them.

pub mod categories;
pub mod product_categories;
pub mod product_prices;
pub mod products;
pub mod variant_prices;
pub mod variants;
