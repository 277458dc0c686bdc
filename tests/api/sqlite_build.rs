//! How the bundled SQLite is built (`.cargo/config.toml`).

use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn sqlite_is_built_without_memory_statistics_so_its_allocations_take_no_global_lock() {
    let app = TestApp::new(Backend::Sqlite).await;
    let options: Vec<String> = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "PRAGMA compile_options",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "SQLite was built with memory statistics (and their mutex): {options:?}"
    );
}
