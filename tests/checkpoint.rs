//! SQLite's write-ahead log under the server's checkpointer
//! (`db/checkpoint.rs`): bounded under writes that never pause, and empty
//! after the shutdown checkpoint.
//!
//! A test binary of its own: the checkpointer keeps the log bounded by
//! getting its turn between writers within milliseconds, and among the
//! API suite's hundreds of parallel tests on two cores it sometimes did not
//! get the CPU for long enough (the log reached 1,152 to 2,147 frames,
//! once in CI). Alone, it is measured against the writers it competes
//! with, not against unrelated tests.

use std::time::Duration;

use navigator::db;
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// A fresh file in a directory of its own, with a table `pages`, opened as
/// the server opens it: its checkpoints on a task, with `policy`.
async fn pages_with_checkpointer(
    policy: db::CheckpointPolicy,
    max_connections: u32,
) -> (std::path::PathBuf, DatabaseConnection) {
    let dir = std::env::temp_dir().join(format!("navigator-wal-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let pool = db::connect(
        &format!("sqlite://{}/pages.db", dir.display()),
        db::PoolSettings {
            max_connections,
            checkpoints: db::Checkpoints::Background(policy),
            ..Default::default()
        },
    )
    .unwrap();
    let tx = db::begin_write(&pool).await.unwrap();
    tx.execute_unprepared("CREATE TABLE pages (body BLOB)")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (dir, pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_writes_that_never_pause_the_log_still_starts_over_instead_of_growing() {
    let policy = db::CheckpointPolicy {
        gather: Duration::from_millis(5),
        rewind_at: 100,
    };
    let (dir, pool) = pages_with_checkpointer(policy, 4).await;

    // Four writers in turn, so that one always waits: the log gains pages
    // while every passive checkpoint copies it.
    const COMMITS: usize = 1500;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, done) = (pool.clone(), done.clone());
            tokio::spawn(async move {
                while done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < COMMITS {
                    let tx = db::begin_write(&pool).await.unwrap();
                    tx.execute_unprepared("INSERT INTO pages VALUES (randomblob(3000))")
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    // Each commit appends at least its new page; a log that started over
    // holds about what came since its last rewind.
    let frame = 4096 + 24;
    let frames = std::fs::metadata(dir.join("pages.db-wal")).unwrap().len() / frame;
    assert!(
        frames < 10 * policy.rewind_at as u64,
        "the log holds {frames} frames after {COMMITS} commits: it never started over"
    );
    pool.close().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_checkpoint_empties_the_log_even_when_the_task_is_copying_at_that_moment() {
    // No gathering: every commit sets the task copying at once, so the
    // checkpoint right after it meets the task's pass.
    let policy = db::CheckpointPolicy {
        gather: Duration::ZERO,
        rewind_at: 8192,
    };
    let (dir, pool) = pages_with_checkpointer(policy, 2).await;
    for round in 0..200 {
        let tx = db::begin_write(&pool).await.unwrap();
        tx.execute_unprepared(
            "INSERT INTO pages SELECT randomblob(3000) FROM (SELECT 1 UNION ALL SELECT 2) \
             CROSS JOIN (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4)",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        db::checkpoint_all(&pool)
            .await
            .unwrap_or_else(|err| panic!("round {round}: {err}"));
        let log = std::fs::metadata(dir.join("pages.db-wal")).map_or(0, |m| m.len());
        assert_eq!(log, 0, "round {round}: the log was left with {log} bytes");
    }
    pool.close().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
