//! End-to-end tests: each starts the real server on a random port with its own database
//! (a temporary SQLite file, or a fresh PostgreSQL database when `EMPORIUM_TEST_DATABASE_URL`
//! is set) and, when `EMPORIUM_TEST_REDIS_URL` is set, its own Redis key prefix.

mod common;

mod access;
mod accounts;
mod after_sale;
mod auth;
mod availability;
mod bounds;
mod cache;
mod catalog_errors;
mod catalog_products;
mod checkout;
mod cors;
mod documents;
mod events;
mod graphql;
mod graphql_idempotency;
mod idempotency;
mod if_match;
mod inventory;
mod limits;
mod matrix;
mod nats;
mod private_reads;
mod recommendations;
mod reports;
mod reservations;
mod review;
mod review_orders;
mod reviews;
mod search;
mod webhooks;
mod write_path;
