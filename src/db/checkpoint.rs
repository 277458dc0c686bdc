//! SQLite's checkpoints, moved off the write path in the server.
//!
//! In WAL mode a commit appends the pages it changed to the write-ahead
//! log; a checkpoint copies them back into the database file and syncs
//! both files to disk. SQLite runs one inside the commit that takes the log
//! past 1,000 pages. In the server that commit is a request's, made in its
//! turn in the write queue (`write.rs`), so every writer behind it waited
//! for the copy and two fsyncs: under the benchmark's creates, about
//! fifteen times a second, each fsync ~2 ms on its machine. Taking that off
//! the write path took SQLite create from 1,057–1,146 to 1,283–1,450 req/s
//! (`bench/`'s create scenario, binaries alternated).
//!
//! With [`Checkpoints::Background`], the server's connections leave
//! checkpoints alone (`wal_autocheckpoint = 0`) and a task of their own,
//! on a connection of its own, does them. Commits wake it
//! ([`Writers::committed`]); it lets more commits gather for
//! [`CheckpointPolicy::gather`], then checkpoints in `PASSIVE` mode, which
//! waits for no reader or writer: writers go on appending while it copies.
//! An idle server runs no checkpoint and wakes nothing.
//!
//! A log that gains frames while it is copied is never fully copied, and
//! SQLite starts a log over from its beginning only when a writer finds it
//! fully copied; under sustained writes it would grow without bound. So
//! when a pass leaves the log longer than [`CheckpointPolicy::rewind_at`]
//! frames, the checkpointer takes the writers' turn and copies the rest
//! (what arrived during the pass): the next writer starts the log over.
//!
//! With `synchronous = NORMAL`, a commit reaches the disk at the next
//! checkpoint's sync: now usually within about `gather` of it, where before it
//! waited for the next 1,000 pages.
//!
//! At a graceful shutdown the server copies the whole log back and empties
//! it ([`checkpoint_all`]): its pools are not closed one by one, so SQLite's
//! own checkpoint at the last close may not run, and the next start would
//! read the whole log (up to `rewind_at` pages) to rebuild its index.
//!
//! The importer checkpoints in the background too, and copies the whole
//! log back at its end. `migrate` and Lambda, whose frozen sandboxes would
//! never run the task, keep SQLite's own checkpoints
//! ([`Checkpoints::InCommit`]). A process that does close its last
//! connection has SQLite checkpoint whatever is left.

use std::{sync::Arc, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqlxSqliteConnector, Statement,
    sqlx::{
        ConnectOptions,
        sqlite::{SqliteConnectOptions, SqlitePoolOptions},
    },
};

use super::write::{Writers, file_of, sqlite_file, writers_of};

/// Who copies SQLite's write-ahead log back into the database file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Checkpoints {
    /// SQLite itself, in the commit that takes the log past 1,000 pages.
    #[default]
    InCommit,
    /// A task on the runtime that opens the pool, off the write path (the
    /// server). Outside a runtime, or for a database in memory, SQLite
    /// keeps doing it.
    Background(CheckpointPolicy),
}

/// When the background checkpointer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// How long commits may gather after the one that woke it.
    pub gather: Duration,
    /// Log frames (pages) past which a pass ends by catching up in the
    /// writers' turn, so that the log starts over.
    pub rewind_at: i64,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            // At most ten passes a second, each two fsyncs.
            gather: Duration::from_millis(100),
            // 32 MiB of 4 KiB pages: under a load of creates on the
            // benchmark's machine, about two seconds of writes.
            rewind_at: 8192,
        }
    }
}

/// Starts the checkpointer of the file `options` open, unless one runs;
/// says whether one now runs (and so whether the pool may turn SQLite's
/// own checkpoints off).
pub(super) fn start(options: &SqliteConnectOptions, policy: CheckpointPolicy) -> bool {
    let Some(file) = file_of(options) else {
        return false;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    let writers = writers_of(file);
    let mut running = writers
        .checkpointer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if running.as_ref().is_some_and(|task| !task.is_finished()) {
        return true;
    }
    // A pass copying a large log takes seconds by nature (an import's):
    // sqlx's slow-statement warning would fire for each one.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options.clone().disable_statement_logging());
    let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
    let task = runtime.spawn(run(db, writers.clone(), policy));
    *running = Some(task.abort_handle());
    true
}

async fn run(db: DatabaseConnection, writers: Arc<Writers>, policy: CheckpointPolicy) {
    loop {
        writers.committed.notified().await;
        tokio::time::sleep(policy.gather).await;
        // A failed pass is retried at the next commit's; meanwhile the log
        // only grows, as it would under a long reader.
        if let Err(err) = pass(&db, &writers, policy).await {
            tracing::warn!(error = %err, "SQLite checkpoint failed");
        }
    }
}

async fn pass(
    db: &DatabaseConnection,
    writers: &Writers,
    policy: CheckpointPolicy,
) -> Result<(), DbErr> {
    let _alone = writers.checkpointing.lock().await;
    if checkpoint(db, "PASSIVE").await?.log > policy.rewind_at {
        let _turn = writers.turn.lock().await;
        checkpoint(db, "PASSIVE").await?;
    }
    Ok(())
}

/// What `PRAGMA wal_checkpoint` answers.
struct Outcome {
    /// It could not finish for another connection (SQLite reports that in
    /// the row, not as an error).
    busy: bool,
    /// Frames (pages) in the log.
    log: i64,
}

async fn checkpoint(db: &DatabaseConnection, mode: &'static str) -> Result<Outcome, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("PRAGMA wal_checkpoint({mode})"),
        ))
        .await?;
    // (busy, frames in the log, frames copied)
    Ok(match row {
        Some(row) => Outcome {
            busy: row.try_get_by_index::<i64>(0)? != 0,
            log: row.try_get_by_index::<i64>(1)?,
        },
        None => Outcome {
            busy: false,
            log: 0,
        },
    })
}

/// Copies the whole write-ahead log into the database file and empties it
/// (SQLite; nothing on PostgreSQL or in memory). It waits for this
/// process's checkpointer to end its pass, and SQLite waits for readers and
/// writers still at work, up to its busy timeout: meant for the end of a
/// process. An error says the log was left (still whole and replayed by the
/// next start), never that data was lost.
pub async fn checkpoint_all(db: &DatabaseConnection) -> Result<(), DbErr> {
    let Some(file) = sqlite_file(db) else {
        return Ok(());
    };
    let writers = writers_of(file);
    let _alone = writers.checkpointing.lock().await;
    if checkpoint(db, "TRUNCATE").await?.busy {
        return Err(DbErr::Custom(
            "the write-ahead log stayed in use (another process's reader, writer or \
             checkpoint) past the busy timeout; it was left for the next start"
                .into(),
        ));
    }
    Ok(())
}
