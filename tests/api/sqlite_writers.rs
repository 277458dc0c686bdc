//! This process's writers to one SQLite file take turns in a queue
//! (`db::begin_write`) instead of meeting on SQLite's lock, where the busy
//! handler makes them sleep and retry.

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
