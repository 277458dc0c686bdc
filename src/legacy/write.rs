//! Writing a plan: kind by kind in dependency order, in the transaction of
//! the part of the import it belongs to (the reference data, or one
//! partition of practitioners or people), which also holds the records'
//! history, where the rows went and the rows as imported: a part is in
//! whole or not at all, and commits are few.
//!
//! A planned record that does not exist is created, unless the last import
//! planned it too (then Navigator deleted it, and that stays done). One
//! that exists is merged three ways, field by field: where the CRM's value
//! changed since the last import (the plan of the rows as last imported),
//! the record takes it if it still holds the value the import gave it, and
//! keeps its own (a conflict) if Navigator changed it meanwhile. A second
//! run therefore writes nothing, and a run killed half-way resumes where
//! it stopped.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    IdenStatic, IntoActiveModel, Iterable, QueryFilter, QuerySelect, TryIntoModel, prelude::Uuid,
};
use serde::Serialize;
use serde_json::Value;

use super::{
    plan::{ACTOR, Existing, Plan, Planned},
    report::{Change, Conflict, Outcome, RowReport},
};
use crate::db::{
    self,
    entities::{
        call, clinical_trial, eap_enrollment, expanded_access_program, history, hospital,
        intake_submission, legacy_id, medical_condition, patient, practitioner, specialization,
        trial_referral,
    },
    store::{self, Mutable, Record},
};

/// Rows per transaction: large enough that a page of an index is rewritten
/// once per batch rather than once per few rows.
const BATCH: usize = 5000;
/// Rows per INSERT statement.
const ROWS_PER_STATEMENT: usize = 100;

/// What writing did.
#[derive(Default)]
pub struct Written {
    /// Ids of the records this run inserted.
    pub inserted: HashSet<Uuid>,
    /// Records inserted (or, in a dry run, to insert), by collection.
    pub created: BTreeMap<&'static str, usize>,
    /// Fields brought over from the CRM (or, in a dry run, to bring over).
    pub changes: Vec<Change>,
    /// Fields where Navigator's value was kept.
    pub conflicts: Vec<Conflict>,
}

/// How a kind is written.
#[derive(Clone, Copy)]
pub struct Mode {
    /// Work out what would be written; write nothing.
    pub dry_run: bool,
    /// The time of this run, for history.
    pub now: DateTime<Utc>,
}

/// The records the database already has, by natural key.
pub async fn existing(db: &DatabaseConnection) -> Result<Existing, DbErr> {
    use super::plan::key_upper;
    let hospitals: Vec<(Uuid, String, String)> = hospital::Entity::find()
        .select_only()
        .columns([
            hospital::Column::Id,
            hospital::Column::Name,
            hospital::Column::City,
        ])
        .into_tuple()
        .all(db)
        .await?;
    Ok(Existing {
        conditions: keyed::<medical_condition::Entity>(
            db,
            medical_condition::Column::Abbreviation,
            |a| a.to_uppercase(),
        )
        .await?,
        hospitals: hospitals
            .into_iter()
            .map(|(id, n, c)| ((n, c), id))
            .collect(),
        specializations: keyed::<specialization::Entity>(db, specialization::Column::Name, |n| {
            n.to_lowercase()
        })
        .await?,
        // Practitioners and patients are many: looked up per partition.
        practitioners: HashMap::new(),
        patients: HashMap::new(),
        trials: keyed::<clinical_trial::Entity>(
            db,
            clinical_trial::Column::RegistryId,
            str::to_owned,
        )
        .await?,
        programs: keyed::<expanded_access_program::Entity>(
            db,
            expanded_access_program::Column::EapNumber,
            key_upper,
        )
        .await?,
    })
}

/// The practitioners of these emails, by email.
pub async fn practitioners_by_email(
    db: &DatabaseConnection,
    emails: &[String],
) -> Result<HashMap<String, Uuid>, DbErr> {
    let mut out = HashMap::new();
    for emails in emails.chunks(1000) {
        let found: Vec<(Uuid, Option<String>)> = practitioner::Entity::find()
            .select_only()
            .columns([practitioner::Column::Id, practitioner::Column::Email])
            .filter(practitioner::Column::Email.is_in(emails.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(found.into_iter().filter_map(|(id, e)| Some((e?, id))));
    }
    Ok(out)
}

/// Every record of `E` by its natural key `column` (made comparable by
/// `key`); records without one are left out.
async fn keyed<E: Record>(
    db: &DatabaseConnection,
    column: E::Column,
    key: impl Fn(&str) -> String,
) -> Result<HashMap<String, Uuid>, DbErr> {
    let rows: Vec<(Uuid, Option<String>)> = E::find()
        .select_only()
        .column(E::id_column())
        .column(column)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, k)| k.map(|k| (key(&k), id)))
        .collect())
}

/// Records where each row went (`legacy_ids`): every record of every
/// imported row. Existing mappings are left as they are.
pub async fn links(
    tx: &db::WriteTransaction,
    rows: &[RowReport],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut mappings: Vec<legacy_id::ActiveModel> = rows
        .iter()
        .filter(|r| {
            !matches!(
                r.outcome,
                Outcome::Rejected | Outcome::Skipped | Outcome::Gone | Outcome::Unchanged
            )
        })
        .filter(|r| !r.id.is_empty())
        .flat_map(|r| {
            r.records.iter().map(move |record| legacy_id::ActiveModel {
                id: Set(Uuid::now_v7()),
                legacy_table: Set(r.table.to_owned()),
                legacy_id: Set(r.id.clone()),
                collection: Set(record.collection.to_owned()),
                record_id: Set(record.id),
                imported_at: Set(now),
            })
        })
        .collect();
    // In key order, so the unique index is appended to, not scattered over.
    mappings.sort_by(|a, b| {
        (a.legacy_id.as_ref(), a.legacy_table.as_ref())
            .cmp(&(b.legacy_id.as_ref(), b.legacy_table.as_ref()))
    });
    for rows in mappings.chunks(ROWS_PER_STATEMENT) {
        legacy_id::Entity::insert_many(rows.to_vec())
            .on_conflict_do_nothing_on([
                legacy_id::Column::LegacyTable,
                legacy_id::Column::LegacyId,
                legacy_id::Column::Collection,
            ])
            .exec_without_returning(tx)
            .await?;
    }
    Ok(())
}

/// Writes the reference plan `new` over what the database holds, `old`
/// being the plan of the rows as last imported (or, in a dry run, only
/// works out what it would write).
pub async fn reference(
    db: &db::WriteTransaction,
    mut o: Plan,
    new: &mut Plan,
    mode: Mode,
) -> Result<Written, DbErr> {
    let mut out = Written::default();
    let w = &mut out;
    let (old, planned) = (
        take(&mut o.conditions.planned),
        take(&mut new.conditions.planned),
    );
    kind::<medical_condition::Entity>(db, old, planned, mode, w).await?;
    let (old, planned) = (
        take(&mut o.hospitals.planned),
        take(&mut new.hospitals.planned),
    );
    kind::<hospital::Entity>(db, old, planned, mode, w).await?;
    let (old, planned) = (
        take(&mut o.specializations.planned),
        take(&mut new.specializations.planned),
    );
    kind::<specialization::Entity>(db, old, planned, mode, w).await?;
    let (old, planned) = (
        take(&mut o.practitioners.planned),
        take(&mut new.practitioners.planned),
    );
    kind::<practitioner::Entity>(db, old, planned, mode, w).await?;
    Ok(out)
}

/// Writes one partition's plan `new` (its people, and the trials and
/// programs they first named) over what the database holds, `old` being
/// the plan of their rows as last imported.
pub async fn people(
    db: &db::WriteTransaction,
    o: Plan,
    new: &mut Plan,
    mode: Mode,
) -> Result<Written, DbErr> {
    let mut out = Written::default();
    let w = &mut out;
    let planned = take(&mut new.trials.planned);
    kind::<clinical_trial::Entity>(db, o.trials.planned, planned, mode, w).await?;
    let planned = take(&mut new.programs.planned);
    kind::<expanded_access_program::Entity>(db, o.programs.planned, planned, mode, w).await?;
    kind::<patient::Entity>(db, o.patients, take(&mut new.patients), mode, w).await?;
    // Submissions are what was received: created, never changed.
    let last = o
        .submissions
        .into_iter()
        .map(|p| (p.id, Value::Null))
        .collect();
    create::<intake_submission::Entity>(db, &last, take(&mut new.submissions), mode, w).await?;
    kind::<call::Entity>(db, o.calls, take(&mut new.calls), mode, w).await?;
    let planned = take(&mut new.referrals.planned);
    kind::<trial_referral::Entity>(db, o.referrals.planned, planned, mode, w).await?;
    kind::<eap_enrollment::Entity>(db, o.enrollments, take(&mut new.enrollments), mode, w).await?;
    Ok(out)
}

fn take<T>(planned: &mut Vec<T>) -> Vec<T> {
    std::mem::take(planned)
}

/// A kind whose records change: created where missing, merged three ways
/// where present and planned otherwise than last time.
async fn kind<E>(
    tx: &db::WriteTransaction,
    old: Vec<Planned<E::ActiveModel>>,
    new: Vec<Planned<E::ActiveModel>>,
    mode: Mode,
    out: &mut Written,
) -> Result<(), DbErr>
where
    E: Mutable,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + TryIntoModel<E::Model> + Clone + Send,
{
    let mut last: HashMap<Uuid, Value> = HashMap::with_capacity(old.len());
    for planned in old {
        last.insert(planned.id, json_of::<E>(planned.model)?);
    }
    let moved = create::<E>(tx, &last, new, mode, out).await?;
    for (current, planned) in moved {
        let before = &last[&planned.id];
        merge::<E>(tx, &current, before, planned.model, mode, out).await?;
    }
    Ok(())
}

/// Begins the transaction of one part of an import (a dry run's is rolled
/// back by [`finish`]).
pub async fn begin(db: &DatabaseConnection, mode: Mode) -> Result<db::WriteTransaction, DbErr> {
    if mode.dry_run {
        db::begin_trial(db).await
    } else {
        db::begin_write(db).await
    }
}

/// Ends a part's transaction: committed, or in a dry run rolled back.
pub async fn finish(tx: db::WriteTransaction, mode: Mode) -> Result<(), DbErr> {
    if mode.dry_run {
        tx.rollback().await
    } else {
        tx.commit().await
    }
}

/// Creates the planned records that do not exist and that the last import
/// did not plan (one it planned and is missing was deleted in Navigator).
/// Returns the existing ones the CRM changed since the last import, with
/// their current values.
async fn create<E>(
    tx: &db::WriteTransaction,
    last: &HashMap<Uuid, Value>,
    planned: Vec<Planned<E::ActiveModel>>,
    mode: Mode,
    out: &mut Written,
) -> Result<Vec<(E::Model, Planned<E::ActiveModel>)>, DbErr>
where
    E: Record,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + TryIntoModel<E::Model> + Clone + Send,
{
    let started = std::time::Instant::now();
    let total = planned.len();
    let mut planned = unplanned_last_time::<E>(last, planned)?;
    // In id order (ids are time-ordered), so each batch appends to the
    // primary-key and history indexes instead of touching pages all over.
    planned.sort_by_key(|p| p.id);
    let mut moved = Vec::new();
    let mut remaining = planned.into_iter();
    loop {
        let chunk: Vec<Planned<E::ActiveModel>> = remaining.by_ref().take(BATCH).collect();
        if chunk.is_empty() {
            break;
        }
        let mut present = present::<E>(tx, &chunk).await?;
        let mut new = Vec::new();
        for p in chunk {
            match (present.remove(&p.id), last.get(&p.id)) {
                (None, None) => new.push(p),
                (None, Some(_)) => {}
                (Some(current), Some(before)) if !before.is_null() => {
                    if *before != json_of::<E>(p.model.clone())? {
                        moved.push((current, p));
                    }
                }
                (Some(_), _) => {}
            }
        }
        insert::<E>(tx, new, mode, out).await?;
    }
    tracing::debug!(
        collection = E::COLLECTION,
        records = total,
        ms = started.elapsed().as_millis() as u64,
        "written"
    );
    Ok(moved)
}

/// The planned records that may need writing: a record the last import
/// planned just so needs nothing, whether it exists (nothing changed) or
/// not (Navigator deleted it, and that stays done), so the database is
/// not asked about it. A re-import of unchanged rows reads no record.
fn unplanned_last_time<E>(
    last: &HashMap<Uuid, Value>,
    planned: Vec<Planned<E::ActiveModel>>,
) -> Result<Vec<Planned<E::ActiveModel>>, DbErr>
where
    E: EntityTrait,
    E::Model: Serialize,
    E::ActiveModel: TryIntoModel<E::Model> + Clone,
{
    let mut out = Vec::new();
    for p in planned {
        let same = match last.get(&p.id) {
            None => false,
            Some(Value::Null) => true,
            Some(before) => *before == json_of::<E>(p.model.clone())?,
        };
        if !same {
            out.push(p);
        }
    }
    Ok(out)
}

/// The records of `chunk` that exist, by id.
async fn present<E: Record>(
    tx: &db::WriteTransaction,
    chunk: &[Planned<E::ActiveModel>],
) -> Result<HashMap<Uuid, E::Model>, DbErr> {
    let mut present = HashMap::new();
    for ids in chunk.chunks(ROWS_PER_STATEMENT * 10) {
        let ids: Vec<Uuid> = ids.iter().map(|p| p.id).collect();
        let found = E::find().filter(E::id_column().is_in(ids)).all(tx).await?;
        present.extend(found.into_iter().map(|m| (E::id_of(&m), m)));
    }
    Ok(present)
}

/// Inserts new records with their history (actor [`ACTOR`]).
async fn insert<E>(
    tx: &db::WriteTransaction,
    new: Vec<Planned<E::ActiveModel>>,
    mode: Mode,
    out: &mut Written,
) -> Result<(), DbErr>
where
    E: Record,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + TryIntoModel<E::Model> + Clone + Send,
{
    *out.created.entry(E::COLLECTION).or_default() += new.len();
    out.inserted.extend(new.iter().map(|p| p.id));
    if mode.dry_run {
        return Ok(());
    }
    let mut models = Vec::with_capacity(new.len());
    let mut histories = Vec::with_capacity(new.len());
    let mut terms = Vec::new();
    for planned in new {
        let model = planned.model.try_into_model()?;
        let after = serde_json::to_value(&model).unwrap_or_default();
        let of_record = store::terms_of::<E>(Some(&after)).into_iter();
        terms.extend(of_record.map(|term| (E::COLLECTION, planned.id, term)));
        histories.push(history::ActiveModel {
            id: Set(Uuid::now_v7()),
            collection: Set(E::COLLECTION.to_owned()),
            record_id: Set(planned.id),
            version: Set(1),
            action: Set("create".to_owned()),
            actor: Set(ACTOR.to_owned()),
            at: Set(mode.now),
            changes: Set(store::creation(after)),
        });
        models.push(model.into_active_model());
    }
    for rows in models.chunks(ROWS_PER_STATEMENT) {
        E::insert_many(rows.to_vec())
            .exec_without_returning(tx)
            .await?;
    }
    for rows in histories.chunks(ROWS_PER_STATEMENT) {
        history::Entity::insert_many(rows.to_vec())
            .exec_without_returning(tx)
            .await?;
    }
    store::insert_terms(tx, &terms).await
}

/// Bookkeeping columns no import compares.
const BOOKKEEPING: &[&str] = &["id", "version", "created_at", "updated_at"];

/// Merges the CRM's new values into `current`, field by field: a field
/// whose planned value moved from `last` takes it if Navigator left it as
/// the import set it, and is a conflict otherwise.
async fn merge<E>(
    tx: &db::WriteTransaction,
    current: &E::Model,
    last: &Value,
    planned: E::ActiveModel,
    mode: Mode,
    out: &mut Written,
) -> Result<(), DbErr>
where
    E: Mutable,
    E::Model: Serialize,
    E::ActiveModel: ActiveModelTrait<Entity = E> + TryIntoModel<E::Model> + Clone + Send,
{
    let crm = json_of::<E>(planned.clone())?;
    let now = serde_json::to_value(current).unwrap_or_default();
    let record = E::id_of(current);
    let mut changes = planned;
    let mut any = false;
    for column in E::Column::iter() {
        let field = column.as_str();
        let (was, to, has) = (
            last.get(field).unwrap_or(&Value::Null),
            crm.get(field).unwrap_or(&Value::Null),
            now.get(field).unwrap_or(&Value::Null),
        );
        let moved = !BOOKKEEPING.contains(&field) && was != to && has != to;
        if moved && has == was && !undoes(E::COLLECTION, field, has, to) {
            out.changes.push(Change {
                collection: E::COLLECTION,
                record,
                field: field.to_owned(),
                from: has.clone(),
                to: to.clone(),
            });
            any = true;
            continue;
        }
        if moved && has != was {
            out.conflicts.push(Conflict {
                collection: E::COLLECTION,
                record: Some(record),
                field: field.to_owned(),
                navigator: has.clone(),
                crm: to.clone(),
            });
        }
        changes.not_set(column);
    }
    if any && !mode.dry_run {
        store::update::<E>(tx, ACTOR, current, changes)
            .await
            .map_err(|e| DbErr::Custom(format!("merging into {record}: {e}")))?;
    }
    Ok(())
}

/// Whether setting `field` from `current` to `crm` would undo what
/// Navigator did (rule 13): an import never turns a patient back into a
/// lead, reopens a call or an enrollment, or moves a record to another
/// person.
fn undoes(collection: &str, field: &str, current: &Value, crm: &Value) -> bool {
    match (collection, field) {
        (_, "patient_id" | "patient_status") => true,
        ("patients", "status") => current == "patient",
        ("patients", "converted_at") => crm.is_null(),
        ("calls", "status") => crm == "scheduled",
        ("eap-enrollments", "status") => current == "completed",
        _ => false,
    }
}

/// A planned record as the JSON of its model.
fn json_of<E>(model: E::ActiveModel) -> Result<Value, DbErr>
where
    E: EntityTrait,
    E::Model: Serialize,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let model = model.try_into_model()?;
    Ok(serde_json::to_value(&model).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_import_never_undoes_a_conversion_or_reopens_a_call() {
        assert!(undoes(
            "patients",
            "status",
            &json!("patient"),
            &json!("lead")
        ));
        assert!(!undoes(
            "patients",
            "status",
            &json!("lead"),
            &json!("patient")
        ));
        assert!(undoes(
            "calls",
            "status",
            &json!("completed"),
            &json!("scheduled")
        ));
        assert!(!undoes(
            "calls",
            "status",
            &json!("scheduled"),
            &json!("no_show")
        ));
        assert!(undoes(
            "intake-submissions",
            "patient_id",
            &json!("a"),
            &json!("b")
        ));
        assert!(!undoes(
            "patients",
            "first_name",
            &json!("Ann"),
            &json!("Anne")
        ));
    }
}
