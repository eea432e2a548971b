//! The Emporium server: configuration, REST (axum + utoipa) and GraphQL (async-graphql) over
//! the domain crates, authentication, and the product cache.

pub mod app;
pub mod auth;
pub mod availability;
pub mod config;
pub mod db;
pub mod dto;
pub mod error;
pub mod extract;
pub mod graphql;
pub mod ide;
pub mod infra;
pub mod rest;
pub mod seed;
pub mod seed_orders;
pub mod serve;
pub mod state;
pub mod usecases;

pub use app::{App, build, serve};
pub use config::Config;
pub use serve::serve_on;
