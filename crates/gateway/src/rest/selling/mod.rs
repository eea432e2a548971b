//! The selling setup (staff): shipping zones and methods, tax rates, discount codes and
//! whether prices include tax per currency.
//!
//! By topic: `zones.rs` (shipping zones and their methods), `tax_rates.rs`, `discounts.rs`
//! and `currencies.rs` (tax-inclusive prices per currency).

mod currencies;
mod discounts;
mod tax_rates;
mod zones;

// Globs: each handler's utoipa path item (`__path_*`) travels with it, for `routes!`.
pub use currencies::*;
pub use discounts::*;
pub use tax_rates::*;
pub use zones::*;
