//! The legacy CRM import: reads an export (`../shared/legacy-crm/FORMAT.md`),
//! plans the normalised records it stands for, and brings them into the
//! database, reporting what became of every row. Successive exports of a
//! CRM that stays live are imported the same way (rules 9-15): new rows
//! are created, changed rows bring their changes field by field, Navigator's
//! own changes are kept and reported as conflicts.
//!
//! Layers: [`read`] (CSV into rows), [`parse`] (the CRM's option sets and
//! dates), `plan` (rows into records, deterministic ids, the rules),
//! `write` (each part of the import one transaction; the three-way merge) and `rows`
//! (the rows as last imported, `legacy_rows`). Every record it writes
//! carries its history (actor `legacy-import`) and its legacy ids
//! (`legacy_ids`, served at `GET /v1/legacy-ids` with the row).

pub mod parse;
mod partition;
mod plan;
pub mod read;
pub mod report;
pub mod rows;
mod spill;
mod write;

use std::{path::Path, time::Instant};

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};

pub use plan::ACTOR;
pub use report::{Entries, Outcome, Report, RowReport};

use crate::db::migrations;

/// How to run the import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Validate and report; write nothing.
    pub dry_run: bool,
    /// Where every row's report entry goes.
    pub entries: Entries,
    /// How many partitions to split the people into; by default as many
    /// as the export's size needs (a few megabytes of rows each).
    pub partitions: Option<usize>,
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
    /// A partition or the report could not be written.
    #[error("cannot write the import's files: {0}")]
    Write(#[from] std::io::Error),
}

/// Imports the export in `dir` into `db`, a partition of people at a time
/// (its memory does not grow with the export).
pub async fn import(
    db: &DatabaseConnection,
    dir: &Path,
    options: Options,
) -> Result<Report, ImportError> {
    let started = Instant::now();
    if !migrations::is_current(db).await.unwrap_or(false) {
        return Err(ImportError::NotMigrated);
    }
    let mode = write::Mode {
        dry_run: options.dry_run,
        now: Utc::now(),
    };
    let out = report::Collector::new(dir, options.dry_run, &options.entries)?;
    refresh_statistics(db).await?;
    let erasures = rows::erasures(db).await?;
    let spilled = spill::split(db, dir, options.partitions).await?;
    let ms = || started.elapsed().as_millis() as u64;
    tracing::info!(partitions = spilled.partitions, ms = ms(), "export split");
    let mut run = partition::reference(db, mode, erasures, out, &spilled.reference).await?;
    for n in 0..spilled.partitions {
        partition::practitioners(&mut run, &spilled.part(n)).await?;
    }
    partition::practitioners_gone(&mut run, &spilled.present).await?;
    refresh_statistics(db).await?;
    tracing::info!(ms = ms(), "practitioners imported");
    for n in 0..spilled.partitions {
        partition::people(&mut run, &spilled.part(n)).await?;
        if (n + 1).is_power_of_two() {
            refresh_statistics(db).await?;
        }
        tracing::info!(
            partition = n + 1,
            of = spilled.partitions,
            ms = ms(),
            "imported"
        );
    }
    rows::gone(db, &spilled.present, &mut run.out).await?;
    refresh_statistics(db).await?;
    Ok(run.out.finish(started.elapsed().as_millis())?)
}

/// Refreshes PostgreSQL's statistics of the tables an import looks rows up
/// in, as it fills them: without them (autovacuum off, or not yet round)
/// the planner takes a table that grew from empty for a small one, and
/// looked each partition's rows up in `legacy_rows` by table alone,
/// reading every row of it, which made a first import of 1,000,000 leads
/// quadratic. New statistics also invalidate the plans cached meanwhile,
/// so cached plans (the metrics triggers' too) can be kept. It runs before
/// the import, after the practitioners and each time the partitions
/// imported double (a few seconds in all at 1,000,000 leads). SQLite's
/// planner needs none here, and statistics there could change the
/// server's plans, so it is left alone.
async fn refresh_statistics(db: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, EntityName};

    use crate::db::entities::{
        call, eap_enrollment, intake_submission, legacy_id, legacy_row, patient, practitioner,
        trial_referral,
    };
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let tables = [
        legacy_row::Entity.table_name(),
        legacy_id::Entity.table_name(),
        patient::Entity.table_name(),
        practitioner::Entity.table_name(),
        intake_submission::Entity.table_name(),
        call::Entity.table_name(),
        trial_referral::Entity.table_name(),
        eap_enrollment::Entity.table_name(),
        crate::db::store::SEARCH_TERMS,
    ];
    // One statement a table: each samples at most 30,000 rows.
    for table in tables {
        db.execute_unprepared(&format!("ANALYZE \"{table}\""))
            .await?;
    }
    Ok(())
}
