//! The legacy CRM import: reads an export (`../shared/legacy-crm/FORMAT.md`),
//! plans the normalised records it stands for, and brings them into the
//! database, reporting what became of every row. Successive exports of a
//! CRM that stays live are imported the same way (rules 9-15): new rows
//! are created, changed rows bring their changes field by field, Navigator's
//! own changes are kept and reported as conflicts.
//!
//! Layers: [`read`] (CSV into rows), [`parse`] (the CRM's option sets and
//! dates), `plan` (rows into records, deterministic ids, the rules),
//! `write` (batches, each one transaction; the three-way merge) and `rows`
//! (the rows as last imported, `legacy_rows`). Every record it writes
//! carries its history (actor `legacy-import`) and its legacy ids
//! (`legacy_ids`, served at `GET /v1/legacy-ids` with the row).

pub mod parse;
mod plan;
pub mod read;
pub mod report;
pub mod rows;
mod write;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
    time::Instant,
};

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr, prelude::Uuid};

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
    let export = read_export(dir)?;
    let now = Utc::now();
    let mut known = plan::Known {
        existing: write::existing(db).await?,
        ..Default::default()
    };
    let (stored, last_export) = rows::load(db, &mut known).await?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, "export read");
    let last = plan::Plan::build(&last_export, &known);
    drop(last_export);
    let mut plan = plan::Plan::build(&export, &known);
    tracing::info!(ms = started.elapsed().as_millis() as u64, "planned");
    let written = write::write(db, last, &mut plan, options.dry_run, now).await?;
    let mut entries = std::mem::take(&mut plan.rows);
    settle(&mut entries, &export, &stored, &written);
    if !options.dry_run {
        write::links(db, &entries, now).await?;
        rows::store(db, &export, &entries, &stored, now).await?;
        tracing::info!(ms = started.elapsed().as_millis() as u64, "rows kept");
    }
    entries.extend(rows::gone(&stored, &export));
    Ok(report(dir, options, started, entries, written))
}

fn read_export(dir: &Path) -> Result<plan::Export, ImportError> {
    Ok(plan::Export {
        medical_conditions: read::read(dir, "medical_condition")?,
        hospitals: read::read(dir, "hospital")?,
        specializations: read::read(dir, "specialization")?,
        contacts: read::read(dir, "contact")?,
        patients: read::read(dir, "patient")?,
        dossiers: read::read(dir, "eap_dossier")?,
    })
}

/// Gives each row its outcome, and the changes and conflicts of its
/// records: to the rows that changed since the last import and lead to
/// the record, else to the row that owns it.
fn settle(
    entries: &mut [RowReport],
    export: &plan::Export,
    stored: &rows::Stored,
    written: &write::Written,
) {
    let mut changed: HashSet<(&str, String)> = HashSet::new();
    for table in export.tables() {
        for row in &table.rows {
            let key = (table.name.to_owned(), table.id_of(row).to_owned());
            if let Some(Some(digest)) = stored.get(&key)
                && *digest != rows::digest(&row.to_json())
            {
                changed.insert((table.name, key.1));
            }
        }
    }
    let mut by_record: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        for record in &entry.records {
            by_record.entry(record.id).or_default().push(index);
        }
    }
    let rows_of = |record: &Uuid| -> Vec<usize> {
        let all = by_record.get(record).cloned().unwrap_or_default();
        let moved: Vec<usize> = (all.iter().copied())
            .filter(|&i| changed.contains(&(entries[i].table, entries[i].id.clone())))
            .collect();
        if moved.is_empty() {
            all.into_iter().take(1).collect()
        } else {
            moved
        }
    };
    let changes: Vec<(usize, report::Change)> = (written.changes.iter())
        .flat_map(|c| rows_of(&c.record).into_iter().map(move |i| (i, c.clone())))
        .collect();
    let conflicts: Vec<(usize, report::Conflict)> = (written.conflicts.iter())
        .flat_map(|c| {
            let rows = c.record.map(|r| rows_of(&r)).unwrap_or_default();
            rows.into_iter().map(move |i| (i, c.clone()))
        })
        .collect();
    for (i, change) in changes {
        entries[i].changes.push(change);
    }
    for (i, conflict) in conflicts {
        entries[i].conflicts.push(conflict);
    }
    for entry in entries.iter_mut() {
        let key = (entry.table.to_owned(), entry.id.clone());
        let was_changed = changed.contains(&(entry.table, entry.id.clone()));
        entry.settle(stored.contains_key(&key), was_changed, |id| {
            written.inserted.contains(id)
        });
    }
}

fn report(
    dir: &Path,
    options: Options,
    started: Instant,
    entries: Vec<RowReport>,
    written: write::Written,
) -> Report {
    let mut rows: BTreeMap<&'static str, BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut totals: BTreeMap<Outcome, usize> = BTreeMap::new();
    for entry in &entries {
        *rows
            .entry(entry.table)
            .or_default()
            .entry(entry.outcome)
            .or_default() += 1;
        *totals.entry(entry.outcome).or_default() += 1;
    }
    let created: BTreeMap<&'static str, usize> = (written.created.into_iter())
        .filter(|(_, n)| *n > 0)
        .collect();
    Report {
        export: dir.display().to_string(),
        dry_run: options.dry_run,
        duration_ms: started.elapsed().as_millis(),
        rows_read: entries
            .iter()
            .filter(|e| e.outcome != Outcome::Gone)
            .count(),
        rows,
        totals,
        fields_updated: written.changes.len(),
        conflicts: written.conflicts.len(),
        nothing_changed: created.is_empty() && written.changes.is_empty(),
        created,
        rows_with_warnings: (entries.iter())
            .filter(|r| !r.warnings.is_empty() && r.outcome != Outcome::Rejected)
            .count(),
        entries,
    }
}
