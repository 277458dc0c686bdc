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
    let mut out: Vec<Statement> = Vec::new();
    let mut add = |s: &dyn StatementBuilder| out.push(s.build(&backend));
    add(Table::create()
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
        ));
    // Leads with legacy_id: "where did CRM row X go?" is an index scan.
    add(Index::create()
        .name("uq_legacy_ids_row")
        .table("legacy_ids")
        .col("legacy_id")
        .col("legacy_table")
        .col("collection")
        .unique());
    add(Index::create()
        .name("ix_legacy_ids_record")
        .table("legacy_ids")
        .col("collection")
        .col("record_id"));
    out
}
