//! Persistence: connecting to SQLite or PostgreSQL, the schema's migrations,
//! and the SeaORM entities that map its tables.
//!
//! There is one code path for both databases: every query is built with
//! SeaORM/sea-query, which renders it for the backend at hand. This layer
//! knows nothing of HTTP; it turns the database's own constraint errors into
//! [`Conflict`]s that the API layer maps to status codes.

pub mod access_log;
mod checkpoint;
pub mod entities;
pub mod erasure;
pub mod migrations;
pub mod search_backfill;
pub mod staff;
pub mod store;
mod write;

pub use checkpoint::{CheckpointPolicy, Checkpoints, checkpoint_all};
pub use write::{WriteTransaction, begin_trial, begin_write};

use std::{str::FromStr, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, SqlxPostgresConnector, SqlxSqliteConnector,
    sqlx::{
        self,
        postgres::{PgConnectOptions, PgPoolOptions},
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    },
};

/// How big the pool is and how long to wait for it.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// Whether to ping a pooled connection before lending it. The ping is a
    /// round trip per request (it halves a GET's throughput on PostgreSQL);
    /// worth it only where idle connections die unseen, as in a Lambda
    /// sandbox frozen between invocations.
    pub test_before_acquire: bool,
    /// SQLite: who copies the write-ahead log back into the database file
    /// (see [`Checkpoints`]); ignored on PostgreSQL.
    pub checkpoints: Checkpoints,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            // On the 2-core reference machine, 8 connections served a GET
            // by id faster than 16 (11.1k against 10.6k req/s, p99 6.1
            // against 7.2 ms on PostgreSQL): fewer backends contending.
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            test_before_acquire: false,
            checkpoints: Checkpoints::InCommit,
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names no supported database.
    #[error("unsupported database URL (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    /// The driver refused the URL or the connection.
    #[error(transparent)]
    Driver(#[from] sqlx::Error),
}

/// Opens a pool on the database the URL names: `sqlite:` (the file is
/// created if missing) or `postgres:`/`postgresql:`. Connections are made
/// lazily, so this does no I/O: a Lambda cold start pays nothing here.
pub fn connect(url: &str, settings: PoolSettings) -> Result<DatabaseConnection, ConnectError> {
    if url.starts_with("sqlite:") {
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 512 KiB of page cache per connection (SQLite's default is
            // 2 MiB): the file stays in the OS's cache, which is not this
            // process's memory. Under load each connection's cache fills,
            // and 9 connections × 1 MiB put the peak RSS at 38.8 MB (the
            // target is 40); at 512 KiB it is 34 MB, and GET by id and the
            // list pages kept their rates within the machine's noise.
            .pragma("cache_size", "-512")
            // Statement journals in memory: a multi-row INSERT inside a
            // transaction keeps one (to undo just that statement on a
            // constraint error), and past 64 KiB SQLite spilled it to a
            // temporary file: the access log's batches wrote every page
            // they changed to disk twice.
            .pragma("temp_store", "memory")
            // Deleted and overwritten content is zeroed, in its page and in
            // freed pages: an erased value must not stay readable in the
            // file's free space (it may stay in the write-ahead log until
            // the log starts over; see docs/security.md).
            .pragma("secure_delete", "ON");
        if let Checkpoints::Background(policy) = settings.checkpoints
            && checkpoint::start(&options, policy)
        {
            options = options.pragma("wal_autocheckpoint", "0");
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(settings.test_before_acquire)
            .connect_lazy_with(options);
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let options = PgConnectOptions::from_str(url)?;
        Ok(pool_postgres(options, settings))
    } else {
        Err(ConnectError::UnsupportedUrl)
    }
}

/// Opens a lazy PostgreSQL pool from already-built options.
pub fn pool_postgres(options: PgConnectOptions, settings: PoolSettings) -> DatabaseConnection {
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(settings.test_before_acquire)
        .connect_lazy_with(options);
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// Whether the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

/// A write the database refused because of one of its constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A unique constraint or index; carries the constraint or column text
    /// the database named, for mapping to a field.
    Unique(String),
    /// A foreign key: a referenced row is missing, or a row is still
    /// referenced.
    ForeignKey(String),
    /// A CHECK or NOT NULL constraint.
    Check(String),
}

/// Classifies a database error as a constraint conflict, on either backend.
pub fn conflict(err: &DbErr) -> Option<Conflict> {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sqlx::Error::Database(e) = e.as_ref() else {
        return None;
    };
    // PostgreSQL names the constraint; SQLite only puts the columns in its
    // message ("UNIQUE constraint failed: patients.email").
    let name = e
        .constraint()
        .map(str::to_owned)
        .unwrap_or_else(|| e.message().to_owned());
    match e.kind() {
        sqlx::error::ErrorKind::UniqueViolation => Some(Conflict::Unique(name)),
        sqlx::error::ErrorKind::ForeignKeyViolation => Some(Conflict::ForeignKey(name)),
        sqlx::error::ErrorKind::CheckViolation | sqlx::error::ErrorKind::NotNullViolation => {
            Some(Conflict::Check(name))
        }
        // SQLite reports a foreign key that fails when a statement ends (a
        // DELETE or UPDATE of a referenced row) with extended code 1811,
        // which sqlx does not classify; its message is fixed.
        _ if e.message().starts_with("FOREIGN KEY constraint failed") => {
            Some(Conflict::ForeignKey(name))
        }
        _ => None,
    }
}
