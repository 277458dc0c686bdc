//! The legacy CRM import: reads an export (`../shared/legacy-crm/FORMAT.md`),
//! plans the normalised records it stands for, and writes them
//! idempotently, reporting what became of every row.
//!
//! Layers: [`read`] (CSV into rows), [`parse`] (the CRM's option sets and
//! dates), `plan` (rows into records, deterministic ids, the rules),
//! `write` (batches, each one transaction, skipping what exists). Every
//! record it writes carries its history (actor `legacy-import`) and its
//! legacy ids (`legacy_ids`, served at `GET /v1/legacy-ids`).

pub mod parse;
mod plan;
pub mod read;
pub mod report;
mod write;

use std::{collections::BTreeMap, path::Path, time::Instant};

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};

pub use plan::ACTOR;
pub use report::{Outcome, Report, RowReport};

use crate::db::migrations;

/// How to run the import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Validate and report; write nothing.
    pub dry_run: bool,
}

/// Why an import could not run (rows that cannot be imported are not
/// errors: they are in the report).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An export file is missing or unreadable.
    #[error("cannot read {0}: {1}")]
    Read(String, String),
    /// The database is not migrated to the current schema.
    #[error("the database schema is not current: run `navigator migrate` first")]
    NotMigrated,
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// Imports the export in `dir` into `db`.
pub async fn import(
    db: &DatabaseConnection,
    dir: &Path,
    options: Options,
) -> Result<Report, ImportError> {
    let started = Instant::now();
    if !migrations::is_current(db).await.unwrap_or(false) {
        return Err(ImportError::NotMigrated);
    }
    let export = plan::Export {
        medical_conditions: read::read(dir, "medical_condition")?,
        hospitals: read::read(dir, "hospital")?,
        specializations: read::read(dir, "specialization")?,
        contacts: read::read(dir, "contact")?,
        patients: read::read(dir, "patient")?,
        dossiers: read::read(dir, "eap_dossier")?,
    };
    let now = Utc::now();
    tracing::info!(ms = started.elapsed().as_millis() as u64, "export read");
    let existing = write::existing(db).await?;
    let mut plan = plan::Plan::build(&export, &existing, now);
    tracing::info!(ms = started.elapsed().as_millis() as u64, "planned");
    let known = write::known(db, &plan.rows).await?;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "looked up earlier imports"
    );
    let written = write::write(db, &mut plan, options.dry_run, now).await?;

    let mut rows: BTreeMap<&'static str, BTreeMap<Outcome, usize>> = BTreeMap::new();
    for entry in &mut plan.rows {
        let collection = entry
            .records
            .first()
            .map(|r| r.collection.to_owned())
            .unwrap_or_default();
        let known = known.contains(&(entry.table.to_owned(), entry.id.clone(), collection));
        entry.settle(known, |id| written.inserted.contains(id));
        *rows
            .entry(entry.table)
            .or_default()
            .entry(entry.outcome)
            .or_default() += 1;
    }
    if !options.dry_run {
        write::links(db, &plan.rows, now).await?;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "legacy ids linked"
        );
    }
    let created: BTreeMap<&'static str, usize> = written
        .created
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    let report = Report {
        export: dir.display().to_string(),
        dry_run: options.dry_run,
        duration_ms: started.elapsed().as_millis(),
        rows_read: plan.rows.len(),
        rows,
        nothing_changed: created.is_empty(),
        created,
        rows_with_warnings: plan
            .rows
            .iter()
            .filter(|r| !r.warnings.is_empty() && r.outcome != Outcome::Rejected)
            .count(),
        entries: plan.rows,
    };
    Ok(report)
}
