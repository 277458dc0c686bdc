//! The import report: one entry per legacy row, saying what became of it.

use std::collections::BTreeMap;

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
    /// An earlier import already took it; nothing was written.
    Unchanged,
    /// It could not be imported; `reason` says why and `row` holds it whole.
    Rejected,
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
            owner: false,
        }
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

    /// Decides the outcome once the import has written: `known` says whether
    /// an earlier import already mapped this row, `inserted` whether a
    /// record was created by this run.
    pub fn settle(&mut self, known: bool, inserted: impl Fn(&Uuid) -> bool) {
        if self.outcome == Outcome::Rejected {
            return;
        }
        self.outcome = if known {
            Outcome::Unchanged
        } else if self.owner && self.records.first().is_some_and(|r| inserted(&r.id)) {
            Outcome::Created
        } else {
            Outcome::Merged
        };
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
    /// Records created (or, in a dry run, to be created), by collection.
    pub created: BTreeMap<&'static str, usize>,
    /// Rows imported with values left out.
    pub rows_with_warnings: usize,
    /// Whether this run changed nothing (a repeat of an earlier import).
    pub nothing_changed: bool,
    /// Every row: what became of it.
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
                .map(|(o, n)| {
                    format!(
                        "{n} {}",
                        serde_json::to_value(o)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    )
                })
                .collect();
            out.push_str(&format!("  {table:<18} {}\n", parts.join(", ")));
        }
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
