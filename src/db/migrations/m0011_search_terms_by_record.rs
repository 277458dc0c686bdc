//! The index by which a record's search terms are replaced names the
//! collection too: `(record_id, collection)`, as the statement that
//! deletes them says (`store::index_terms`).
//!
//! With `ix_search_terms_record (record_id)` alone, SQLite without
//! statistics (a database the import filled, never analysed) chose
//! `ix_search_terms_term (collection, term, record_id)` for that delete,
//! on the equality of its first column: a scan of every patient's terms
//! for each changed name, over a second at 1,000,000 patients, in the
//! import's merges and in every PATCH of a name. An index matching both
//! equalities is the one either planner picks.

use sea_orm::{DbBackend, Statement};

/// The statements of the migration.
pub fn statements(backend: DbBackend) -> Vec<Statement> {
    [
        "DROP INDEX ix_search_terms_record",
        "CREATE INDEX ix_search_terms_record ON search_terms (record_id, collection)",
    ]
    .into_iter()
    .map(|sql| Statement::from_string(backend, sql))
    .collect()
}
