//! Idempotency claims: each holder of a `running` key has a token, so a holder whose key was
//! taken over (as abandoned) cannot record its answer, and its write rolls back.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_idempotency_claims"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, &["ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT NULL"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_all(manager, &["ALTER TABLE idempotency_keys DROP COLUMN claim_token"]).await
    }
}
