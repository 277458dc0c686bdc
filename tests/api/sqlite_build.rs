//! How the bundled SQLite is built (`.cargo/config.toml`) and how
//! `db::connect` sets up its connections.

use sea_orm::{ConnectionTrait, QueryResult, Statement};

use crate::helpers::{Backend, TestApp};

/// The rows `PRAGMA name` answers on one of the pool's connections.
async fn pragma(app: &TestApp, name: &str) -> Vec<QueryResult> {
    app.db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("PRAGMA {name}"),
        ))
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_is_built_without_memory_statistics_and_with_plans_independent_of_bound_values() {
    let app = TestApp::new(Backend::Sqlite).await;
    let options: Vec<String> = pragma(&app, "compile_options")
        .await
        .iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "SQLite was built with memory statistics (and their mutex): {options:?}"
    );
    assert!(
        options.iter().any(|o| o == "ENABLE_QPSG"),
        "SQLite re-plans a statement when its bound values change: {options:?}"
    );
}

#[tokio::test]
async fn sqlite_connections_keep_statement_journals_and_temporary_tables_in_memory() {
    let app = TestApp::new(Backend::Sqlite).await;
    let rows = pragma(&app, "temp_store").await;
    // 2 = MEMORY (0 = the build's default, which writes them to files).
    assert_eq!(rows[0].try_get_by_index::<i32>(0).unwrap(), 2);
}
