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
    QueryFilter, QuerySelect, prelude::Uuid, sea_query::OnConflict,
};
use serde_json::Value;

use super::{
    plan::{Export, Known, suppression},
    read::{Row, Table, id_column},
    report::{Outcome, RowReport},
};
use crate::db::{
    self,
    entities::{legacy_row, patient},
};

/// Rows per transaction and per statement when storing.
const BATCH: usize = 5000;
const ROWS_PER_STATEMENT: usize = 200;

/// A digest of each row as last imported, by (file, id), to tell whether
/// it changed; `None` for an erased person's.
pub type Stored = HashMap<(String, String), Option<u64>>;

/// The digest of a row's values.
pub fn digest(values: &Value) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    values.to_string().hash(&mut hasher);
    hasher.finish()
}

/// Reads the stored rows: their digests, the export they make (what the
/// last import saw), and what planning must know of them: the person each
/// lead or patient row joined (by their email now), erased people's rows
/// and email hashes.
pub async fn load(db: &DatabaseConnection, known: &mut Known) -> Result<(Stored, Export), DbErr> {
    let mut stored = Stored::new();
    let emails: HashMap<Uuid, &String> = (known.existing.patients.iter())
        .map(|(email, id)| (*id, email))
        .collect();
    let mut pins = HashMap::new();
    let mut tables: HashMap<String, Vec<Row>> = HashMap::new();
    let mut after: Option<(String, String)> = None;
    // Page by page: only the digests and the parsed rows are held, never
    // every stored row's JSON at once.
    while let Some(page) = next_page(db, &mut after).await? {
        for row in page {
            let key = (row.legacy_table, row.legacy_id);
            if let Some(hash) = row.suppressed {
                known.suppressed.insert(hash);
                known.erased_rows.insert(key.clone());
            }
            if let Some(email) = row.patient_id.and_then(|p| emails.get(&p)) {
                pins.insert(key.clone(), (*email).clone());
            }
            let values = row.row_values.as_ref();
            if let Some(parsed) = values.and_then(Row::from_json) {
                tables.entry(key.0.clone()).or_default().push(parsed);
            }
            stored.insert(key, values.map(digest));
        }
    }
    known.pins = pins;
    let erased: Vec<Uuid> = patient::Entity::find()
        .select_only()
        .column(patient::Column::Id)
        .filter(patient::Column::ErasedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    known.erased = erased.into_iter().collect();
    let mut table = |name: &'static str| {
        Table::new(
            name,
            tables.remove(name).unwrap_or_default(),
            id_column(name),
        )
    };
    let last = Export {
        medical_conditions: table("medical_condition"),
        hospitals: table("hospital"),
        specializations: table("specialization"),
        contacts: table("contact"),
        patients: table("patient"),
        dossiers: table("eap_dossier"),
    };
    Ok((stored, last))
}

/// The next page of stored rows after `after` (by key), and where the
/// one after it starts; `None` at the end.
async fn next_page(
    db: &DatabaseConnection,
    after: &mut Option<(String, String)>,
) -> Result<Option<Vec<legacy_row::Model>>, DbErr> {
    let mut cursor = legacy_row::Entity::find().cursor_by((
        legacy_row::Column::LegacyTable,
        legacy_row::Column::LegacyId,
    ));
    if let Some(key) = after.clone() {
        cursor.after(key);
    }
    let page = cursor.first(BATCH as u64).all(db).await?;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    *after = Some((last.legacy_table.clone(), last.legacy_id.clone()));
    Ok(Some(page))
}

/// Stores the export's rows as imported now: those new or changed since
/// the last import. An erased person's rows are not stored again.
pub async fn store(
    db: &DatabaseConnection,
    export: &Export,
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
    for table in export.tables() {
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
            if batch.len() == BATCH {
                write(db, std::mem::take(&mut batch)).await?;
            }
        }
    }
    write(db, batch).await
}

async fn write(db: &DatabaseConnection, batch: Vec<legacy_row::ActiveModel>) -> Result<(), DbErr> {
    if batch.is_empty() {
        return Ok(());
    }
    let tx = db::begin_write(db).await?;
    for rows in batch.chunks(ROWS_PER_STATEMENT) {
        legacy_row::Entity::insert_many(rows.to_vec())
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
            .exec_without_returning(&tx)
            .await?;
    }
    tx.commit().await
}

/// The rows of the last import that this export no longer has.
pub fn gone(stored: &Stored, export: &Export) -> Vec<RowReport> {
    let present: HashSet<(&str, &str)> = export
        .tables()
        .iter()
        .flat_map(|t| t.rows.iter().map(|r| (t.name, t.id_of(r))))
        .collect();
    let mut gone: Vec<RowReport> = export
        .tables()
        .iter()
        .flat_map(|t| {
            let present = &present;
            stored
                .keys()
                .filter(move |(name, id)| {
                    name == t.name && !present.contains(&(t.name, id.as_str()))
                })
                .map(|(_, id)| RowReport::gone(t.name, id.clone()))
        })
        .collect();
    gone.sort_by(|a, b| (a.table, &a.id).cmp(&(b.table, &b.id)));
    gone
}

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
