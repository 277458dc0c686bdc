//! Traceability of the CRM migration: every imported CRM row's id, and the
//! record it became or was merged into, so support can answer "where did
//! CRM contact X go?". A legacy row maps to each record it became (a lead
//! row: its submission, its call, its person); many legacy rows may map to
//! the same record (a person's several form rows).

use sea_orm::{
    DbBackend, Statement, StatementBuilder,
    sea_query::{ColumnDef, Index, Table},
};

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    vec![
        Table::create()
            .table("legacy_ids")
            .col(ColumnDef::new("id").uuid().not_null().primary_key())
            .col(ColumnDef::new("legacy_table").text().not_null())
            .col(ColumnDef::new("legacy_id").text().not_null())
            .col(ColumnDef::new("collection").text().not_null())
            .col(ColumnDef::new("record_id").uuid().not_null())
            .col(
                ColumnDef::new("imported_at")
                    .timestamp_with_time_zone()
                    .not_null(),
            )
            .build_any(&backend),
        // Leads with legacy_id: "where did CRM row X go?" is an index scan.
        Index::create()
            .name("uq_legacy_ids_row")
            .table("legacy_ids")
            .col("legacy_id")
            .col("legacy_table")
            .col("collection")
            .unique()
            .build_any(&backend),
        Index::create()
            .name("ix_legacy_ids_record")
            .table("legacy_ids")
            .col("collection")
            .col("record_id")
            .build_any(&backend),
    ]
    .into_iter()
    .collect()
}

trait BuildAny {
    fn build_any(&mut self, backend: &DbBackend) -> Statement;
}

impl<T: StatementBuilder> BuildAny for T {
    fn build_any(&mut self, backend: &DbBackend) -> Statement {
        StatementBuilder::build(self, backend)
    }
}
