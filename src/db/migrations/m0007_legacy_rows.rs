//! Successive CRM exports: every imported CRM row's values as last
//! imported, so that the next import can tell what changed in the CRM, and
//! nothing the CRM held is lost where the model has no column for it
//! (FORMAT.md rules 11 and 14).
//!
//! A row that belongs to a patient names them (`patient_id`): it is that
//! person's personal data, withheld from viewers, access-logged when read,
//! and emptied by erasure. An erased person's rows keep only a hash of
//! their email (`suppressed`), so that a later export's rows of the same
//! person are recognised and skipped rather than importing them again.

use sea_orm::{
    DbBackend, Statement, StatementBuilder,
    sea_query::{ColumnDef, Index, Table},
};

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    let mut add = |s: &dyn StatementBuilder| out.push(s.build(&backend));
    add(Table::create()
        .table("legacy_rows")
        .col(ColumnDef::new("legacy_table").text().not_null())
        .col(ColumnDef::new("legacy_id").text().not_null())
        .col(ColumnDef::new("patient_id").uuid().null())
        .col(ColumnDef::new("row_values").json_binary().null())
        .col(ColumnDef::new("suppressed").text().null())
        .col(
            ColumnDef::new("imported_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .primary_key(Index::create().col("legacy_table").col("legacy_id")));
    // Erasure finds a person's rows by this index.
    add(Index::create()
        .name("ix_legacy_rows_patient")
        .table("legacy_rows")
        .col("patient_id"));
    out
}
