//! Catalog operations. Writes expect to run inside the caller's write transaction.
//!
//! By topic: `reads.rs` (products loaded whole), `products.rs`, `variants.rs`, `categories.rs`,
//! `helpers.rs` (what the writes share) and `lookups.rs` (variants as other domains name them:
//! by SKU, and purchasable for a cart).

mod categories;
mod helpers;
mod lookups;
mod products;
mod reads;
mod variants;

pub use categories::*;
pub use lookups::*;
pub use products::*;
pub use reads::*;
pub use variants::*;
