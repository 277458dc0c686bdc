//! The import report: one entry per legacy row, saying what became of it.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use sea_orm::prelude::Uuid;
use serde::Serialize;
use serde_json::Value;

/// What became of a legacy row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Its own record was created by this import.
    Created,
    /// Its data went into a record that another row, or the database,
    /// already had (a person's second form, a duplicate condition).
    Merged,
    /// An earlier import already took it as it is; nothing was written.
    Unchanged,
    /// It changed since the last import, and its changes were brought over
    /// (`changes`).
    Updated,
    /// It changed since the last import where Navigator changed the same
    /// field: Navigator's value was kept (`conflicts`).
    Conflict,
    /// It could not be imported; `reason` says why and `row` holds it whole.
    Rejected,
    /// An earlier import took it, and it is no longer in the export.
    /// Nothing was deleted.
    Gone,
    /// It belongs to an erased person: nothing of it was imported.
    Skipped,
}

/// A field an import set in a record.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    /// The record's collection.
    pub collection: &'static str,
    /// The record's id.
    pub record: Uuid,
    /// The field.
    pub field: String,
    /// Its value before.
    pub from: Value,
    /// The CRM's value, now the record's.
    pub to: Value,
}

/// A field changed both in Navigator and in the CRM since the last import:
/// Navigator's value was kept.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Conflict {
    /// The record's collection.
    pub collection: &'static str,
    /// The record's id, when it has one yet.
    pub record: Option<Uuid>,
    /// The field.
    pub field: String,
    /// The value in Navigator, kept.
    pub navigator: Value,
    /// The CRM's value, not applied.
    pub crm: Value,
}

impl Outcome {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Merged => "merged",
            Outcome::Unchanged => "unchanged",
            Outcome::Updated => "updated",
            Outcome::Conflict => "conflict",
            Outcome::Rejected => "rejected",
            Outcome::Gone => "gone",
            Outcome::Skipped => "skipped",
        }
    }
}

/// A record a row became or contributed to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordRef {
    /// The API collection (`patients`).
    pub collection: &'static str,
    /// The record's id.
    pub id: Uuid,
}

/// What became of one legacy row.
#[derive(Debug, Clone, Serialize)]
pub struct RowReport {
    /// The export file (`contact`).
    pub table: &'static str,
    /// The row's CRM id.
    pub id: String,
    /// Created, merged, unchanged or rejected.
    pub outcome: Outcome,
    /// The records it became (the first is its own or the one it merged
    /// into), then the records it also produced or joined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordRef>,
    /// Values left out of an otherwise imported row.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the row was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A rejected row, whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<Value>,
    /// Fields this import brought over from the CRM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Fields where Navigator's value was kept over the CRM's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// The patient the row belongs to (its stored values are their data).
    #[serde(skip)]
    pub patient: Option<Uuid>,
    #[serde(skip)]
    owner: bool,
}

impl RowReport {
    /// A row not yet decided.
    pub fn new(table: &'static str, id: String) -> Self {
        Self {
            table,
            id,
            outcome: Outcome::Merged,
            records: vec![],
            warnings: vec![],
            reason: None,
            row: None,
            changes: vec![],
            conflicts: vec![],
            patient: None,
            owner: false,
        }
    }

    /// The row's first record: its own when `own`, else the one it merged into.
    pub fn record(&mut self, collection: &'static str, id: Uuid, own: bool) {
        if own {
            self.own(collection, id)
        } else {
            self.merge(collection, id)
        }
    }

    /// Navigator's value of `field` was kept over the CRM's.
    pub fn conflict(
        &mut self,
        collection: &'static str,
        record: Option<Uuid>,
        field: &str,
        navigator: Value,
        crm: Value,
    ) {
        self.conflicts.push(Conflict {
            collection,
            record,
            field: field.to_owned(),
            navigator,
            crm,
        });
    }

    /// The row's own record.
    pub fn own(&mut self, collection: &'static str, id: Uuid) {
        self.records.insert(0, RecordRef { collection, id });
        self.owner = true;
    }

    /// The record the row merged into.
    pub fn merge(&mut self, collection: &'static str, id: Uuid) {
        self.records.insert(0, RecordRef { collection, id });
        self.owner = false;
    }

    /// Another record the row produced or joined.
    pub fn also(&mut self, collection: &'static str, id: Uuid) {
        self.records.push(RecordRef { collection, id });
    }

    /// Decides the outcome once the import has written: `stored` says
    /// whether an earlier import kept this row, `changed` whether its
    /// values differ from those, `inserted` whether a record was created by
    /// this run.
    pub fn settle(&mut self, stored: bool, changed: bool, inserted: impl Fn(&Uuid) -> bool) {
        if matches!(self.outcome, Outcome::Rejected | Outcome::Skipped) {
            return;
        }
        self.outcome = if !self.conflicts.is_empty() {
            Outcome::Conflict
        } else if self.owner && self.records.first().is_some_and(|r| inserted(&r.id)) {
            Outcome::Created
        } else if changed || !self.changes.is_empty() {
            Outcome::Updated
        } else if stored {
            Outcome::Unchanged
        } else {
            Outcome::Merged
        };
    }

    /// A row an earlier import kept that the export no longer has.
    pub fn gone(table: &'static str, id: String) -> Self {
        let mut report = Self::new(table, id);
        report.outcome = Outcome::Gone;
        report
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The export's directory.
    pub export: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// How long it took, in milliseconds.
    pub duration_ms: u128,
    /// Legacy rows read.
    pub rows_read: usize,
    /// Rows by file and outcome.
    pub rows: BTreeMap<&'static str, BTreeMap<Outcome, usize>>,
    /// Rows by outcome, all files together.
    pub totals: BTreeMap<Outcome, usize>,
    /// Fields brought over from the CRM into existing records.
    pub fields_updated: usize,
    /// Fields where Navigator's value was kept over the CRM's.
    pub conflicts: usize,
    /// Records created (or, in a dry run, to be created), by collection.
    pub created: BTreeMap<&'static str, usize>,
    /// Rows imported with values left out.
    pub rows_with_warnings: usize,
    /// Whether this run changed nothing (a repeat of an earlier import).
    pub nothing_changed: bool,
    /// Every row: what became of it (when the import was asked to keep
    /// them: [`Entries::Keep`]).
    pub entries: Vec<RowReport>,
}

impl Report {
    /// A one-screen summary for the terminal.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} {} rows from {} in {} ms{}\n",
            if self.dry_run { "Checked" } else { "Imported" },
            self.rows_read,
            self.export,
            self.duration_ms,
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        );
        for (table, outcomes) in &self.rows {
            let parts: Vec<String> = outcomes
                .iter()
                .map(|(o, n)| format!("{n} {}", o.name()))
                .collect();
            out.push_str(&format!("  {table:<18} {}\n", parts.join(", ")));
        }
        let totals: Vec<String> = self
            .totals
            .iter()
            .map(|(o, n)| format!("{n} {}", o.name()))
            .collect();
        out.push_str(&format!("  {:<18} {}\n", "total", totals.join(", ")));
        out.push_str(&format!(
            "  fields updated: {}; conflicts (Navigator's value kept): {}\n",
            self.fields_updated, self.conflicts
        ));
        let created: Vec<String> = self
            .created
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        out.push_str(&format!(
            "  records {}: {}\n",
            if self.dry_run { "to create" } else { "created" },
            if created.is_empty() {
                "none".into()
            } else {
                created.join(", ")
            }
        ));
        out.push_str(&format!(
            "  rows with warnings: {}\n",
            self.rows_with_warnings
        ));
        if self.nothing_changed {
            out.push_str("  nothing changed: this export was already imported\n");
        }
        out
    }
}

/// Where the report's entries go: an export of a million rows has a
/// million entries, more than an import may hold in memory.
#[derive(Debug, Clone, Default)]
pub enum Entries {
    /// Kept in [`Report::entries`] (small exports, tests).
    #[default]
    Keep,
    /// Counted only.
    Count,
    /// Written to this JSON file as they are decided (the whole report:
    /// the entries, then the totals), and counted.
    File(PathBuf),
}

/// Builds the report as the import decides rows: counts every entry and
/// keeps or writes it as [`Entries`] says.
pub struct Collector {
    report: Report,
    keep: bool,
    file: Option<BufWriter<File>>,
    written: usize,
}

impl Collector {
    /// A report of importing `export`.
    pub fn new(export: &Path, dry_run: bool, entries: &Entries) -> std::io::Result<Collector> {
        let file = match entries {
            Entries::File(path) => {
                let mut out = BufWriter::new(File::create(path)?);
                out.write_all(b"{\"entries\":[\n")?;
                Some(out)
            }
            _ => None,
        };
        let report = Report {
            export: export.display().to_string(),
            dry_run,
            duration_ms: 0,
            rows_read: 0,
            rows: BTreeMap::new(),
            totals: BTreeMap::new(),
            fields_updated: 0,
            conflicts: 0,
            created: BTreeMap::new(),
            rows_with_warnings: 0,
            nothing_changed: true,
            entries: Vec::new(),
        };
        Ok(Collector {
            report,
            keep: matches!(entries, Entries::Keep),
            file,
            written: 0,
        })
    }

    /// Counts, and keeps or writes, the entries of some rows.
    pub fn add(&mut self, entries: Vec<RowReport>) -> std::io::Result<()> {
        let report = &mut self.report;
        for entry in &entries {
            *(report.rows.entry(entry.table).or_default())
                .entry(entry.outcome)
                .or_default() += 1;
            *report.totals.entry(entry.outcome).or_default() += 1;
            report.rows_read += usize::from(entry.outcome != Outcome::Gone);
            let warned = !entry.warnings.is_empty() && entry.outcome != Outcome::Rejected;
            report.rows_with_warnings += usize::from(warned);
        }
        if let Some(out) = &mut self.file {
            for entry in &entries {
                if self.written > 0 {
                    out.write_all(b",\n")?;
                }
                serde_json::to_writer(&mut *out, entry)?;
                self.written += 1;
            }
        }
        if self.keep {
            self.report.entries.extend(entries);
        }
        Ok(())
    }

    /// Counts what a part of the import wrote.
    pub fn wrote(
        &mut self,
        created: &BTreeMap<&'static str, usize>,
        changes: usize,
        conflicts: usize,
    ) {
        let report = &mut self.report;
        for (collection, n) in created.iter().filter(|(_, n)| **n > 0) {
            *report.created.entry(collection).or_default() += n;
        }
        report.fields_updated += changes;
        report.conflicts += conflicts;
        report.nothing_changed &= report.created.is_empty() && changes == 0;
    }

    /// The report, its file closed with the totals.
    pub fn finish(mut self, duration_ms: u128) -> std::io::Result<Report> {
        self.report.duration_ms = duration_ms;
        if let Some(mut out) = self.file.take() {
            out.write_all(b"\n]")?;
            let Value::Object(fields) = serde_json::to_value(&self.report)? else {
                return Ok(self.report);
            };
            for (name, value) in fields.iter().filter(|(name, _)| *name != "entries") {
                write!(out, ",\n{}:", Value::String(name.clone()))?;
                serde_json::to_writer(&mut out, value)?;
            }
            out.write_all(b"\n}\n")?;
            out.flush()?;
        }
        Ok(self.report)
    }
}
