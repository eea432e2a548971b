//! Account use cases shared by REST and GraphQL: customer registration, profile, password
//! and address book; the staff's customer search; staff accounts; API keys. Each takes typed
//! input, checks nothing about the transport, and answers with the types both transports
//! serialize.
//!
//! By topic: `customers.rs` (registration, profile, password, the staff's customer search),
//! `addresses.rs` (the address book), `staff.rs` (staff accounts) and `api_keys.rs`; here,
//! the page every list answers.

use emporium_core::Limit;

use crate::state::AppState;

mod addresses;
mod api_keys;
mod customers;
mod staff;

pub use addresses::{AddressDto, add_address, addresses, delete_address, update_address};
pub use api_keys::{ApiKeyDto, CreatedApiKeyDto, create_api_key, list_api_keys, revoke_api_key};
pub use customers::{
    CustomerDetailDto, CustomerDto, Registration, change_password, customer_detail, me, register, search_customers,
    update_me,
};
pub use staff::{RoleDto, StaffDto, change_staff, create_staff, list_staff};

/// A page of items, each with the cursor that continues after it, and the next page's cursor.
pub struct Page<T> {
    pub items: Vec<T>,
    pub cursors: Vec<String>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub(super) fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), cursors: self.cursors, next_cursor: self.next_cursor }
    }
}

pub(super) fn page_of<T, F: Fn(&T) -> String>(
    state: &AppState,
    kind: &str,
    mut items: Vec<T>,
    limit: Limit,
    id: F,
) -> Page<T> {
    let more = items.len() as u64 > limit.get();
    items.truncate(limit.get() as usize);
    let cursors: Vec<String> = items.iter().map(|item| state.cursors.encode(&(kind, id(item)))).collect();
    let next_cursor = if more { cursors.last().cloned() } else { None };
    Page { items, cursors, next_cursor }
}
