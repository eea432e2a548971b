//! Use cases that both transports call: each takes typed inputs, runs one unit of work and
//! returns the domain value with the answer stored for its `Idempotency-Key`. REST handlers and
//! GraphQL resolvers parse, call one of these and render.

pub mod accounts;
pub mod catalog;
pub mod inventory;
pub mod orders;
pub mod products;
pub mod recommendations;
pub mod reports;
pub mod reviews;
pub mod sessions;
pub mod webhooks;
