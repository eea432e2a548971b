//! Connecting to the database and migrating it.

use std::time::Duration;

use emporium_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::Config;

/// Opens the pool. SQLite files are created if missing, in WAL mode, with a busy timeout so
/// concurrent writers wait for each other instead of failing, and `synchronous=FULL`: in WAL
/// mode `NORMAL` may lose the last commits on power loss, and an acknowledged order must
/// survive it (docs/benchmarks.md gives the cost).
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    // PostgreSQL cancels a statement that runs too long, so no request holds a connection (or
    // its locks) for longer. SQLite has no such setting; its statements are local and short.
    let statement_timeout = config.db_statement_timeout.as_millis().to_string();
    options
        .max_connections(config.db_max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        })
        .map_sqlx_postgres_opts(move |opts| opts.options([("statement_timeout", statement_timeout.as_str())]));
    Database::connect(options).await
}

/// Applies every pending migration over one dedicated connection, closed afterwards.
///
/// Not over the serving pool: sea-orm-migration runs each statement on whichever pooled
/// connection is free, and a SQLite connection that cached the schema before a unique index
/// existed compiles `INSERT ... ON CONFLICT (column)` against that stale schema and fails
/// ("ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint") before SQLite's
/// stale-schema check could re-prepare it. Connections opened after this see the whole schema.
pub async fn migrate(config: &Config) -> Result<(), DbErr> {
    // Migrations may take long on a big shop: no statement timeout for them.
    let single =
        Config { db_max_connections: 1, db_statement_timeout: Duration::from_secs(24 * 3600), ..config.clone() };
    let db = connect(&single).await?;
    let result = Migrator::up(&db, None).await;
    db.close().await?;
    result
}
