//! Reservations: units held for a checkout until it commits them (sold), releases them, or
//! they expire; each line names the location its units are held at.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_reservations"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('active', 'committed', 'released', 'expired')),
        reference TEXT NULL,
        expires_at {ts} NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL
    )",
    "CREATE INDEX ix_reservations_due ON reservations (state, expires_at)",
    "CREATE TABLE reservation_lines (
        reservation_id TEXT NOT NULL REFERENCES reservations (id),
        variant_id TEXT NOT NULL REFERENCES variants (id),
        location_id TEXT NOT NULL REFERENCES locations (id),
        quantity BIGINT NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (reservation_id, variant_id, location_id)
    )",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, &["DROP TABLE reservation_lines", "DROP TABLE reservations"]).await
    }
}
