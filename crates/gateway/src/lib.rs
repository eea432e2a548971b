//! The Emporium server: configuration, REST (axum + utoipa) and GraphQL (async-graphql) over
//! the domain crates, authentication, and the product cache.

pub mod access_log;
pub mod accounts;
pub mod app;
pub mod auth;
pub mod availability;
pub mod background;
pub mod cache;
pub mod config;
pub mod db;
pub mod dto;
pub mod error;
pub mod extract;
pub mod graphql;
pub mod ide;
pub mod idempotency;
pub mod inventory;
pub mod limits;
pub mod metrics;
pub mod orders;
pub mod products;
pub mod rate_limit;
pub mod redis;
pub mod rest;
pub mod search;
pub mod seed;
pub mod serve;
pub mod sessions;
pub mod state;
pub mod usecases;

pub use app::{App, build, serve};
pub use config::Config;
pub use serve::serve_on;
