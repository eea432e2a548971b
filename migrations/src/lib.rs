//! Emporium's database migrations, in SQL that runs unchanged on SQLite and PostgreSQL.
//!
//! Conventions: ids are text, money is `BIGINT` minor units, timestamps are `TIMESTAMPTZ` on
//! PostgreSQL and RFC 3339 text on SQLite. Unique indexes are named `uq_<table>_<column>` so
//! a violation maps to an error code on both databases (`emporium_core::db`). Constraints,
//! checks and foreign keys live in `CREATE TABLE`, because SQLite cannot add them later.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_idempotency;
mod m0003_idempotency_claims;
mod m0004_cache_invalidations;
mod m0005_accounts;
mod m0006_inventory;
mod m0007_reservations;
mod m0008_backorders;
mod m0009_events;
mod m0010_purchase;
mod m0011_fulfilment;
mod m0012_review_fixes;
mod m0013_write_path;
mod m0014_event_sequence;
mod m0015_webhooks;
mod m0016_versions;
mod m0017_more_versions;
mod m0018_reviews;
mod m0019_sales_counters;
mod m0020_report_times;

/// Runs every migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_idempotency::Migration),
            Box::new(m0003_idempotency_claims::Migration),
            Box::new(m0004_cache_invalidations::Migration),
            Box::new(m0005_accounts::Migration),
            Box::new(m0006_inventory::Migration),
            Box::new(m0007_reservations::Migration),
            Box::new(m0008_backorders::Migration),
            Box::new(m0009_events::Migration),
            Box::new(m0010_purchase::Migration),
            Box::new(m0011_fulfilment::Migration),
            Box::new(m0012_review_fixes::Migration),
            Box::new(m0013_write_path::Migration),
            Box::new(m0014_event_sequence::Migration),
            Box::new(m0015_webhooks::Migration),
            Box::new(m0016_versions::Migration),
            Box::new(m0017_more_versions::Migration),
            Box::new(m0018_reviews::Migration),
            Box::new(m0019_sales_counters::Migration),
            Box::new(m0020_report_times::Migration),
        ]
    }
}

/// Runs `statements` in order, with `{ts}` replaced by the backend's timestamp type.
pub(crate) async fn run_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let ts = match manager.get_database_backend() {
        sea_orm_migration::sea_orm::DatabaseBackend::Postgres => "TIMESTAMPTZ",
        _ => "TEXT",
    };
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(&statement.replace("{ts}", ts)).await?;
    }
    Ok(())
}
