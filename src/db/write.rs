//! Write transactions, and the queue SQLite's writers wait in.
//!
//! SQLite has one writer at a time. A second writer that finds the lock
//! taken is left to SQLite's busy handler, which sleeps and retries with
//! growing pauses (up to 100 ms each): under load, the lock sat free while
//! writers slept, and a PATCH's p99 reached a second. So this process's
//! writers to a SQLite file take turns in a first-come, first-served queue
//! before `BEGIN IMMEDIATE`, and each is woken the moment the one before it
//! ends (`bench/run.sh`, 32 connections: PATCH p99 1.25 s → 35 ms, create
//! 0.52 s → 32 ms, at the same throughput). The busy timeout remains for
//! writers in other processes (say an import run beside the server).
//! PostgreSQL needs no queue.
//!
//! The same per-file record tells the file's checkpointer, if one runs
//! (`checkpoint.rs`), of each commit.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, LazyLock, Mutex},
};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionOptions, TransactionTrait,
    sqlx::sqlite::SqliteConnectOptions,
};
use tokio::{
    sync::{Notify, OwnedMutexGuard},
    task::AbortHandle,
};

/// A transaction that will write. Commit it, or drop it to roll it back;
/// either ends its turn in SQLite's queue.
pub struct WriteTransaction {
    tx: DatabaseTransaction,
    /// Released after the transaction ends (fields drop in order).
    turn: Option<OwnedMutexGuard<()>>,
    /// Told of the commit (SQLite files only).
    writers: Option<Arc<Writers>>,
}

/// What this process's writers to one SQLite file share.
#[derive(Default)]
pub(super) struct Writers {
    /// Their first-come, first-served turn.
    pub(super) turn: Arc<tokio::sync::Mutex<()>>,
    /// Told of every commit (a stored permit when nobody waits).
    pub(super) committed: Notify,
    /// The file's checkpointer task, while one runs.
    pub(super) checkpointer: Mutex<Option<AbortHandle>>,
    /// One checkpoint at a time: SQLite answers a second one "busy" at
    /// once, without waiting, and it copies nothing.
    pub(super) checkpointing: tokio::sync::Mutex<()>,
}

/// Begins a transaction that will write. On SQLite it first waits for this
/// process's earlier writers to the same file, then takes the write lock
/// at `BEGIN` (`BEGIN IMMEDIATE`), so that a writer never fails upgrading a
/// read lock; PostgreSQL ignores the option.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    let writers = sqlite_file(db).map(writers_of);
    let turn = match &writers {
        Some(writers) => Some(writers.turn.clone().lock_owned().await),
        None => None,
    };
    let tx = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTransaction { tx, turn, writers })
}

/// Begins a transaction whose writes will be rolled back (a dry run): it
/// waits in no queue, and on SQLite takes the write lock only when it
/// first writes.
pub async fn begin_trial(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    Ok(WriteTransaction {
        tx: db.begin().await?,
        turn: None,
        writers: None,
    })
}

impl WriteTransaction {
    /// Commits, then lets the next writer in.
    pub async fn commit(self) -> Result<(), DbErr> {
        let Self { tx, turn, writers } = self;
        tx.commit().await?;
        drop(turn);
        if let Some(writers) = writers {
            writers.committed.notify_one();
        }
        Ok(())
    }

    /// Rolls back, then lets the next writer in.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }
}

/// The SQLite file behind a pool; `None` on PostgreSQL (or in memory,
/// where every connection is a database of its own).
pub(super) fn sqlite_file(db: &DatabaseConnection) -> Option<PathBuf> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    file_of(&db.get_sqlite_connection_pool().connect_options())
}

/// The file SQLite options open; `None` in memory.
pub(super) fn file_of(options: &SqliteConnectOptions) -> Option<PathBuf> {
    let file = options.get_filename();
    (file.as_os_str() != ":memory:").then(|| file.to_path_buf())
}

/// One record per file, shared by every pool on it in this process (the
/// server's and the access-log writer's, both opened from one URL). Keyed
/// by the name as the URL gives it, not resolved on each write: a pool
/// naming the file another way meets the others on the busy timeout.
pub(super) fn writers_of(file: PathBuf) -> Arc<Writers> {
    static FILES: LazyLock<Mutex<HashMap<PathBuf, Arc<Writers>>>> = LazyLock::new(Default::default);
    FILES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(file)
        .or_default()
        .clone()
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.tx.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.tx.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.tx.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.tx.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.tx.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.tx.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.tx.is_mock_connection()
    }
}
