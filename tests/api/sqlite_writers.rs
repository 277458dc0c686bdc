//! This process's writers to one SQLite file take turns in a queue
//! (`db::begin_write`) instead of meeting on SQLite's lock, where the busy
//! handler makes them sleep and retry; and the server's checkpoints run
//! off that queue (`db/checkpoint.rs`), yet keep the log bounded and leave
//! none behind at a graceful shutdown.

use std::{str::FromStr, time::Duration};

use navigator::db;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, SqlxSqliteConnector,
    sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};

use crate::helpers::{Backend, TestApp};

/// A pool on the test's file that never waits for SQLite's lock: a writer
/// that finds it taken fails at once ("database is locked").
fn impatient(url: &str) -> DatabaseConnection {
    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .busy_timeout(Duration::ZERO);
    SqlxSqliteConnector::from_sqlx_sqlite_pool(
        SqlitePoolOptions::new()
            .max_connections(2)
            .connect_lazy_with(options),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_its_turn_behind_another_pool_s_writer_instead_of_failing_on_the_lock() {
    let app = TestApp::new(Backend::Sqlite).await;
    let (first_pool, second_pool) = (impatient(&app.url), impatient(&app.url));
    let first = db::begin_write(&first_pool).await.unwrap();
    first
        .execute_unprepared("CREATE TABLE turns (n INTEGER)")
        .await
        .unwrap();

    let second = tokio::spawn(async move {
        let tx = db::begin_write(&second_pool).await?;
        tx.execute_unprepared("INSERT INTO turns VALUES (2)")
            .await?;
        tx.commit().await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!second.is_finished(), "the second writer did not wait");
    first
        .execute_unprepared("INSERT INTO turns VALUES (1)")
        .await
        .unwrap();
    first.commit().await.unwrap();

    second
        .await
        .unwrap()
        .expect("the second writer's turn came");
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT n FROM turns ORDER BY rowid",
        ))
        .await
        .unwrap();
    let order: Vec<i64> = rows.iter().map(|r| r.try_get("", "n").unwrap()).collect();
    assert_eq!(order, [1, 2]);
    app.finish().await;
}

/// The database file itself, without the write-ahead log: what a
/// checkpoint has copied back so far.
fn file_alone(url: &str) -> DatabaseConnection {
    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .read_only(true)
        .immutable(true);
    SqlxSqliteConnector::from_sqlx_sqlite_pool(
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options),
    )
}

async fn one_number(db: &DatabaseConnection, sql: &str) -> Option<i64> {
    db.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Sqlite,
        sql,
    ))
    .await
    .ok()
    .flatten()
    .map(|row| row.try_get_by_index(0).unwrap())
}

#[tokio::test]
async fn the_server_s_commits_leave_checkpoints_to_a_task_that_copies_them_into_the_file_soon_after()
 {
    let app = TestApp::new(Backend::Sqlite).await;
    assert_eq!(
        one_number(&app.db, "PRAGMA wal_autocheckpoint").await,
        Some(0),
        "a commit would still checkpoint in its writer's turn"
    );
    let id = app
        .post(
            "/v1/patients",
            navigator::domain::Role::Navigator,
            serde_json::json!({"email": "ann@example.org"}),
        )
        .await
        .expect(201)
        .id();
    let hex = id.replace('-', "");
    let query = format!("SELECT count(*) FROM patients WHERE id = x'{hex}'");
    // One create is a few pages: SQLite's own checkpoint would wait for
    // 1,000, and with it off nothing but the task copies them.
    let mut in_file = false;
    for _ in 0..100 {
        if one_number(&file_alone(&app.url), &query).await == Some(1) {
            in_file = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(in_file, "the create never reached the database file");
    app.finish().await;
}

#[tokio::test]
async fn after_a_graceful_shutdown_every_write_is_in_the_database_file_and_no_log_is_left_to_replay()
 {
    let dir = std::env::temp_dir().join(format!("nav-shutdown-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("shutdown.db");
    let (mut server, port) = crate::security::serving(
        crate::security::binary()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env("DATABASE_URL", format!("sqlite://{}", file.display())),
    );
    for n in 0..2 {
        assert_eq!(
            crate::security::post_intake_from("127.0.0.1", port, n).await,
            201
        );
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(
        server.wait().unwrap().success(),
        "the server did not end cleanly"
    );

    let log = std::fs::metadata(dir.join("shutdown.db-wal")).map_or(0, |m| m.len());
    assert_eq!(log, 0, "the write-ahead log was left with {log} bytes");
    // The file alone (SQLite told to ignore any log) has both submissions.
    let alone = file_alone(&format!("sqlite://{}", file.display()));
    assert_eq!(
        one_number(&alone, "SELECT count(*) FROM intake_submissions").await,
        Some(2)
    );
    alone.close().await.ok();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn on_postgresql_the_checkpoint_settings_change_nothing_and_the_shutdown_checkpoint_is_a_no_op()
 {
    if !crate::helpers::postgres_available() {
        return;
    }
    let pool = db::connect(
        &crate::helpers::postgres_admin_url(),
        db::PoolSettings {
            max_connections: 1,
            checkpoints: db::Checkpoints::Background(Default::default()),
            ..Default::default()
        },
    )
    .unwrap();
    let tx = db::begin_write(&pool).await.unwrap();
    tx.execute_unprepared("SELECT 1").await.unwrap();
    tx.commit().await.unwrap();
    db::checkpoint_all(&pool)
        .await
        .expect("no SQLite pragma sent to PostgreSQL");
    pool.close().await.ok();
}
