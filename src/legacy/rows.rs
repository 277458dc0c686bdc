//! The CRM's rows as last imported (`legacy_rows`): read back to plan what
//! the last import made of them, written after each import, emptied by
//! erasure, and shown by `GET /v1/legacy-ids`.

use std::{
    collections::{HashMap, HashSet},
    hash::{Hash, Hasher},
};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, prelude::Uuid, sea_query::OnConflict,
};
use serde_json::Value;

use super::{
    ImportError,
    plan::suppression,
    read::{Row, Table, id_column},
    report::{Collector, Outcome, RowReport},
};
use crate::db::entities::{legacy_row, patient};

/// Rows per statement when storing.
const ROWS_PER_STATEMENT: usize = 200;
/// Keys per page when looking for rows gone from the export.
const PAGE: usize = 5000;

/// A digest of each row as last imported, by (file, id), to tell whether
/// it changed; `None` for an erased person's.
pub type Stored = HashMap<(String, String), Option<u64>>;

/// The digest of a row's values.
pub fn digest(values: &Value) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    values.to_string().hash(&mut hasher);
    hasher.finish()
}

/// Keys per `IN (...)` list: well under SQLite's limit on parameters.
const IN_LIST: usize = 1000;

/// What erasures left that every import must respect (rule 13): few rows,
/// read once.
#[derive(Default, Clone)]
pub struct Erasures {
    /// Rows of erased people, by (file, id).
    pub rows: HashSet<(String, String)>,
    /// [`suppression`] hashes of erased people's emails.
    pub suppressed: HashSet<String>,
    /// Erased patients.
    pub patients: HashSet<Uuid>,
}

/// Reads what erasures left.
pub async fn erasures(db: &DatabaseConnection) -> Result<Erasures, DbErr> {
    let mut out = Erasures::default();
    let rows: Vec<(String, String, Option<String>)> = legacy_row::Entity::find()
        .select_only()
        .columns([
            legacy_row::Column::LegacyTable,
            legacy_row::Column::LegacyId,
            legacy_row::Column::Suppressed,
        ])
        .filter(legacy_row::Column::Suppressed.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    for (table, id, hash) in rows {
        out.suppressed.extend(hash);
        out.rows.insert((table, id));
    }
    let erased: Vec<Uuid> = patient::Entity::find()
        .select_only()
        .column(patient::Column::Id)
        .filter(patient::Column::ErasedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    out.patients = erased.into_iter().collect();
    Ok(out)
}

/// The stored rows of these keys, (file, id).
pub async fn by_key(
    db: &impl ConnectionTrait,
    keys: &[(&str, &str)],
) -> Result<Vec<legacy_row::Model>, DbErr> {
    let mut by_table: HashMap<&str, Vec<&str>> = HashMap::new();
    for (table, id) in keys.iter().filter(|(_, id)| !id.is_empty()) {
        by_table.entry(table).or_default().push(id);
    }
    let mut out = Vec::new();
    for (table, ids) in by_table {
        for ids in ids.chunks(IN_LIST) {
            let found = legacy_row::Entity::find()
                .filter(legacy_row::Column::LegacyTable.eq(table))
                .filter(legacy_row::Column::LegacyId.is_in(ids.iter().copied()))
                .all(db)
                .await?;
            out.extend(found);
        }
    }
    Ok(out)
}

/// The keys, (file, id), of the stored rows of these patients.
pub async fn keys_of_patients(
    db: &impl ConnectionTrait,
    patients: &[Uuid],
) -> Result<Vec<(String, String)>, DbErr> {
    let mut out = Vec::new();
    for ids in patients.chunks(IN_LIST) {
        let found: Vec<(String, String)> = legacy_row::Entity::find()
            .select_only()
            .columns([
                legacy_row::Column::LegacyTable,
                legacy_row::Column::LegacyId,
            ])
            .filter(legacy_row::Column::PatientId.is_in(ids.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// The stored rows of `table` that belong to no patient (reference rows,
/// practitioners, rejected rows).
pub async fn without_patient(
    db: &impl ConnectionTrait,
    table: &str,
) -> Result<Vec<legacy_row::Model>, DbErr> {
    legacy_row::Entity::find()
        .filter(legacy_row::Column::LegacyTable.eq(table))
        .filter(legacy_row::Column::PatientId.is_null())
        .all(db)
        .await
}

/// The ids of the stored rows of `table` that belong to no patient.
pub async fn ids_without_patient(
    db: &impl ConnectionTrait,
    table: &str,
) -> Result<Vec<String>, DbErr> {
    legacy_row::Entity::find()
        .select_only()
        .column(legacy_row::Column::LegacyId)
        .filter(legacy_row::Column::LegacyTable.eq(table))
        .filter(legacy_row::Column::PatientId.is_null())
        .into_tuple()
        .all(db)
        .await
}

/// The patient each of these rows, (file, id), was imported into, where it
/// was.
pub async fn patients_of(
    db: &impl ConnectionTrait,
    table: &str,
    ids: &[&str],
) -> Result<HashMap<String, Uuid>, DbErr> {
    let mut out = HashMap::new();
    for ids in ids.chunks(IN_LIST) {
        let found: Vec<(String, Option<Uuid>)> = legacy_row::Entity::find()
            .select_only()
            .columns([legacy_row::Column::LegacyId, legacy_row::Column::PatientId])
            .filter(legacy_row::Column::LegacyTable.eq(table))
            .filter(legacy_row::Column::LegacyId.is_in(ids.iter().copied()))
            .filter(legacy_row::Column::PatientId.is_not_null())
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found.into_iter().filter_map(|(id, p)| Some((id, p?))));
    }
    Ok(out)
}

/// The email of each of these patients that has one.
pub async fn emails_of(
    db: &impl ConnectionTrait,
    patients: &[Uuid],
) -> Result<HashMap<Uuid, String>, DbErr> {
    let found = ids_and_emails(db, patient::Column::Id, patients).await?;
    Ok(found.into_iter().collect())
}

/// The patients of these emails, by email.
pub async fn patients_by_email(
    db: &impl ConnectionTrait,
    emails: &[String],
) -> Result<HashMap<String, Uuid>, DbErr> {
    let found = ids_and_emails(db, patient::Column::Email, emails).await?;
    Ok(found.into_iter().map(|(id, email)| (email, id)).collect())
}

/// The id and email of the patients whose `column` is one of `keys`.
async fn ids_and_emails<K: Clone + Into<sea_orm::Value>>(
    db: &impl ConnectionTrait,
    column: patient::Column,
    keys: &[K],
) -> Result<Vec<(Uuid, String)>, DbErr> {
    let mut out = Vec::new();
    for keys in keys.chunks(IN_LIST) {
        let found: Vec<(Uuid, Option<String>)> = patient::Entity::find()
            .select_only()
            .columns([patient::Column::Id, patient::Column::Email])
            .filter(column.is_in(keys.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found.into_iter().filter_map(|(id, e)| Some((id, e?))));
    }
    Ok(out)
}

/// The digests of stored rows, by (file, id).
pub fn stored(kept: &[legacy_row::Model]) -> Stored {
    (kept.iter())
        .map(|r| {
            let key = (r.legacy_table.clone(), r.legacy_id.clone());
            (key, r.row_values.as_ref().map(digest))
        })
        .collect()
}

/// The stored rows of `name`, as a table (what the last import saw).
pub fn table_of(name: &'static str, kept: &[legacy_row::Model]) -> Table {
    let rows = (kept.iter())
        .filter(|r| r.legacy_table == name)
        .filter_map(|r| r.row_values.as_ref().and_then(Row::from_json))
        .collect();
    Table::new(name, rows, id_column(name))
}

/// Stores the export's rows as imported now: those new or changed since
/// the last import. An erased person's rows are not stored again.
pub async fn store(
    tx: &impl ConnectionTrait,
    tables: &[&Table],
    entries: &[RowReport],
    stored: &Stored,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let patients: HashMap<(&str, &str), Option<Uuid>> = entries
        .iter()
        .filter(|e| e.outcome != Outcome::Skipped)
        .map(|e| ((e.table, e.id.as_str()), e.patient))
        .collect();
    let mut batch = Vec::new();
    for table in tables {
        for row in &table.rows {
            let id = table.id_of(row);
            let Some(patient) = patients.get(&(table.name, id)) else {
                continue;
            };
            let values = row.to_json();
            let key = (table.name.to_owned(), id.to_owned());
            if id.is_empty() || stored.get(&key) == Some(&Some(digest(&values))) {
                continue;
            }
            batch.push(legacy_row::ActiveModel {
                legacy_table: Set(key.0),
                legacy_id: Set(key.1),
                patient_id: Set(*patient),
                row_values: Set(Some(values)),
                suppressed: Set(None),
                imported_at: Set(now),
            });
            if batch.len() == ROWS_PER_STATEMENT {
                write(tx, std::mem::take(&mut batch)).await?;
            }
        }
    }
    write(tx, batch).await
}

async fn write(tx: &impl ConnectionTrait, rows: Vec<legacy_row::ActiveModel>) -> Result<(), DbErr> {
    if !rows.is_empty() {
        legacy_row::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    legacy_row::Column::LegacyTable,
                    legacy_row::Column::LegacyId,
                ])
                .update_columns([
                    legacy_row::Column::PatientId,
                    legacy_row::Column::RowValues,
                    legacy_row::Column::ImportedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(tx)
            .await?;
    }
    Ok(())
}

/// The keys of every row of an export, as hashes, to tell the rows of
/// the last import that it no longer has: 8 bytes a row, where the rows
/// themselves would take kilobytes.
#[derive(Default)]
pub struct Present(Vec<u64>);

impl Present {
    /// Notes a row of `table`.
    pub fn add(&mut self, table: &str, id: &str) {
        self.0.push(key_hash(table, id));
    }

    /// Ready to be asked.
    pub fn seal(&mut self) {
        self.0.sort_unstable();
        self.0.dedup();
    }

    /// Whether the export has this row.
    pub fn has(&self, table: &str, id: &str) -> bool {
        self.0.binary_search(&key_hash(table, id)).is_ok()
    }
}

/// A stable 64-bit FNV-1a hash of a row's key (the same in every run and
/// build: it routes rows to partitions too).
pub fn key_hash(table: &str, id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in table.bytes().chain([0x1f]).chain(id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The rows of the last import that this export no longer has, read key
/// page by key page.
pub async fn gone(
    db: &DatabaseConnection,
    present: &Present,
    out: &mut Collector,
) -> Result<(), ImportError> {
    for table in TABLES {
        let mut after = String::new();
        loop {
            let page: Vec<String> = legacy_row::Entity::find()
                .select_only()
                .column(legacy_row::Column::LegacyId)
                .filter(legacy_row::Column::LegacyTable.eq(table))
                .filter(legacy_row::Column::LegacyId.gt(after.as_str()))
                .order_by_asc(legacy_row::Column::LegacyId)
                .limit(PAGE as u64)
                .into_tuple()
                .all(db)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.clone();
            let missing = page.into_iter().filter(|id| !present.has(table, id));
            out.add(missing.map(|id| RowReport::gone(table, id)).collect())?;
        }
    }
    Ok(())
}

/// The export's files, in the order the report lists rows gone from them.
const TABLES: [&str; 6] = [
    "contact",
    "eap_dossier",
    "hospital",
    "medical_condition",
    "patient",
    "specialization",
];

/// Erasure of a patient reaches their CRM rows: the values are dropped,
/// and only a hash of their email is kept, so that a later export's rows
/// of the same person are skipped instead of importing them again.
pub async fn erase(
    tx: &impl ConnectionTrait,
    patient_id: Uuid,
    email: Option<&str>,
) -> Result<(), DbErr> {
    legacy_row::Entity::update_many()
        .set(legacy_row::ActiveModel {
            row_values: Set(None),
            suppressed: Set(Some(email.map(suppression).unwrap_or_default())),
            ..Default::default()
        })
        .filter(legacy_row::Column::PatientId.eq(patient_id))
        .exec(tx)
        .await?;
    Ok(())
}

/// The stored values of these rows, by (file, id), with their patient.
pub async fn last_imported(
    db: &impl ConnectionTrait,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), (Option<Uuid>, Option<Value>)>, DbErr> {
    let mut out = HashMap::new();
    let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let found = legacy_row::Entity::find()
        .filter(legacy_row::Column::LegacyId.is_in(ids))
        .all(db)
        .await?;
    for row in found {
        out.insert(
            (row.legacy_table, row.legacy_id),
            (row.patient_id, row.row_values),
        );
    }
    Ok(out)
}
