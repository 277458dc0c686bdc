//! Erasure (GDPR art. 17): a person's personal data removed everywhere it
//! is kept, leaving a skeleton (ids, statuses, dates) so counts, calls,
//! referrals and enrollments stay consistent.
//!
//! In one transaction: the patient's and their submissions' personal
//! fields are cleared and `erased_at` set (the schema's CHECKs then forbid
//! personal data on those rows); their calls' notes are cleared and their
//! referrals' ineligibility reasons replaced by a marker; every history
//! row of the person's records loses the values of their personal fields
//! (the fact that a field changed stays), including records deleted
//! before, found by their history ([`HOLDERS`]); stored `Idempotency-Key`
//! responses that mention any of those records are deleted; and
//! `erasures` records who erased whom, when and why. A deleted patient is
//! erased the same way: only their history and stored responses are left
//! to scrub.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    prelude::Uuid,
    sea_query::{Condition, Expr, ExprTrait, Query},
};
use serde_json::{Map, Value, json};

use super::{
    begin_write,
    entities::{
        call, eap_enrollment, erasure, history, idempotency_key, intake_submission, patient,
        trial_referral,
    },
    store::{self, Record, StoreError},
};
use crate::db::{Conflict, conflict};

/// The patient's fields that identify the person or their health.
pub const PATIENT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "medical_condition_id",
];
/// A submission's: the patient's, the condition as typed, the raw body.
pub const SUBMISSION_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "medical_condition_id",
    "medical_condition_text",
    "payload",
];
/// A call's free text.
pub const CALL_FIELDS: &[&str] = &["notes"];
/// A referral's free text (often medical).
pub const REFERRAL_FIELDS: &[&str] = &["ineligible_reason"];
/// An enrollment holds no field classed as personal today; it is listed
/// so that its history is found and scrubbed once one is.
pub const ENROLLMENT_FIELDS: &[&str] = &[];

/// A collection whose records hold a person's data: its name in
/// `history`, its table, and its personal fields (columns, and the keys of
/// history's changes). Every record of the person is found by the table's
/// `patient_id` (live records) or by a history row whose `patient_id`
/// named the person (records deleted since, or moved to another person).
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    /// The collection's name in the API and in `history`.
    pub collection: &'static str,
    /// The table.
    pub table: &'static str,
    /// The fields whose values erasure removes.
    pub personal: &'static [&'static str],
}

/// The person's own record.
pub const PATIENTS: Holder = Holder {
    collection: <patient::Entity as Record>::COLLECTION,
    table: "patients",
    personal: PATIENT_FIELDS,
};

/// The records that name the person by `patient_id`.
pub const HOLDERS: &[Holder] = &[
    Holder {
        collection: <intake_submission::Entity as Record>::COLLECTION,
        table: "intake_submissions",
        personal: SUBMISSION_FIELDS,
    },
    Holder {
        collection: <call::Entity as Record>::COLLECTION,
        table: "calls",
        personal: CALL_FIELDS,
    },
    Holder {
        collection: <trial_referral::Entity as Record>::COLLECTION,
        table: "trial_referrals",
        personal: REFERRAL_FIELDS,
    },
    Holder {
        collection: <eap_enrollment::Entity as Record>::COLLECTION,
        table: "eap_enrollments",
        personal: ENROLLMENT_FIELDS,
    },
];

/// What an erased referral's required ineligibility reason says.
pub const ERASED_REASON: &str = "[erased]";

/// Why an erasure did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// No patient has, or ever had, that id.
    #[error("not found")]
    NotFound,
    /// The patient was erased before.
    #[error("already erased")]
    AlreadyErased,
    /// The database refused or failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<StoreError> for EraseError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => EraseError::NotFound,
            // The row was read for update in the same transaction:
            // nothing else moves its version.
            StoreError::Stale => EraseError::Db(DbErr::Custom("stale version".into())),
            StoreError::Db(err) => EraseError::Db(err),
        }
    }
}

/// The erased patient and the record of the erasure.
#[derive(Debug)]
pub struct Erased {
    /// The patient's skeleton; `None` for a patient deleted before.
    pub patient: Option<patient::Model>,
    /// Who, when, why.
    pub erasure: erasure::Model,
}

/// Erases a patient's personal data, whether the patient still exists or
/// was deleted; `actor` is the admin, `reason` why.
pub async fn erase(
    db: &DatabaseConnection,
    actor: &str,
    patient_id: Uuid,
    reason: &str,
) -> Result<Erased, EraseError> {
    let tx = begin_write(db).await?;
    let now = Utc::now();
    let patient = match store::find_for_update::<patient::Entity>(&tx, patient_id).await {
        Ok(before) if before.erased_at.is_some() => return Err(EraseError::AlreadyErased),
        Ok(before) => Some({
            // The CRM rows the import kept of this person (owned by the
            // importer: src/legacy/rows.rs); before the email, which it
            // hashes, is cleared.
            crate::legacy::rows::erase(&tx, patient_id, before.email.as_deref()).await?;
            store::update::<patient::Entity>(
                &tx,
                actor,
                &before,
                patient::ActiveModel {
                    first_name: Set(None),
                    last_name: Set(None),
                    email: Set(None),
                    phone: Set(None),
                    medical_condition_id: Set(None),
                    erased_at: Set(Some(now)),
                    ..Default::default()
                },
            )
            .await?
        }),
        // Deleted: known by their history, erased at most once.
        Err(StoreError::NotFound) => {
            if !has_history(&tx, PATIENTS.collection, patient_id).await? {
                return Err(EraseError::NotFound);
            }
            let erased = erasure::Entity::find()
                .filter(erasure::Column::PatientId.eq(patient_id))
                .one(&tx)
                .await?;
            if erased.is_some() {
                return Err(EraseError::AlreadyErased);
            }
            crate::legacy::rows::erase(&tx, patient_id, None).await?;
            None
        }
        Err(err) => return Err(err.into()),
    };

    // The live records keep their own rules for an erased value (the
    // CHECKs on an erased submission, a referral's required reason).
    intake_submission::Entity::update_many()
        .set(intake_submission::ActiveModel {
            first_name: Set(None),
            last_name: Set(None),
            email: Set(None),
            phone: Set(None),
            medical_condition_id: Set(None),
            medical_condition_text: Set(None),
            payload: Set(json!({})),
            erased_at: Set(Some(now)),
            ..Default::default()
        })
        .filter(intake_submission::Column::PatientId.eq(patient_id))
        .exec(&tx)
        .await?;

    let calls = call::Entity::find()
        .filter(call::Column::PatientId.eq(patient_id))
        .filter(call::Column::Notes.is_not_null())
        .all(&tx)
        .await?;
    for c in &calls {
        let changes = call::ActiveModel {
            notes: Set(None),
            ..Default::default()
        };
        store::update::<call::Entity>(&tx, actor, c, changes).await?;
    }

    let referrals = trial_referral::Entity::find()
        .filter(trial_referral::Column::PatientId.eq(patient_id))
        .filter(trial_referral::Column::IneligibleReason.ne(ERASED_REASON))
        .all(&tx)
        .await?;
    for r in &referrals {
        let changes = trial_referral::ActiveModel {
            ineligible_reason: Set(Some(ERASED_REASON.to_owned())),
            ..Default::default()
        };
        store::update::<trial_referral::Entity>(&tx, actor, r, changes).await?;
    }

    // Then every record that ever held the person's data, live or deleted.
    scrub_history(&tx, PATIENTS.collection, &[patient_id], PATIENTS.personal).await?;
    let mut mentioned = vec![patient_id];
    for holder in HOLDERS {
        let records = records_of(&tx, holder, patient_id).await?;
        scrub_history(&tx, holder.collection, &records, holder.personal).await?;
        mentioned.extend(records);
    }
    forget_idempotent_responses(&tx, &mentioned).await?;

    let erasure = erasure::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient_id),
        actor: Set(actor.to_owned()),
        reason: Set(reason.to_owned()),
        erased_at: Set(now),
    }
    .insert(&tx)
    .await
    // A concurrent erasure of the same deleted patient committed first.
    .map_err(|err| match conflict(&err) {
        Some(Conflict::Unique(_)) => EraseError::AlreadyErased,
        _ => EraseError::Db(err),
    })?;
    tx.commit().await?;
    Ok(Erased { patient, erasure })
}

/// Whether a record has a history (every record created through the API
/// or the importer has one, and keeps it after its deletion).
async fn has_history(
    tx: &impl ConnectionTrait,
    collection: &str,
    record: Uuid,
) -> Result<bool, DbErr> {
    let first: Option<Uuid> = history::Entity::find()
        .select_only()
        .column(history::Column::Id)
        .filter(history::Column::Collection.eq(collection))
        .filter(history::Column::RecordId.eq(record))
        .limit(1)
        .into_tuple()
        .one(tx)
        .await?;
    Ok(first.is_some())
}

/// Every record of `holder` that names the person now (its `patient_id`)
/// or ever did (a history row's `patient_id`, as created, changed or
/// deleted), sorted.
async fn records_of(
    tx: &impl ConnectionTrait,
    holder: &Holder,
    patient_id: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    let live = Query::select()
        .column("id")
        .from(holder.table)
        .and_where(Expr::col("patient_id").eq(patient_id))
        .to_owned();
    let mut records: Vec<Uuid> = tx
        .query_all(&live)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect::<Result<_, _>>()?;
    // The same SQL on both backends: `->` and `->>` read JSON text on
    // SQLite and jsonb on PostgreSQL; history keeps ids as strings.
    let named = |end: &str| {
        Expr::cust(format!("(\"changes\" -> 'patient_id' ->> '{end}')")).eq(patient_id.to_string())
    };
    let named: Vec<Uuid> = history::Entity::find()
        .select_only()
        .column(history::Column::RecordId)
        .distinct()
        .filter(history::Column::Collection.eq(holder.collection))
        .filter(Condition::any().add(named("from")).add(named("to")))
        .into_tuple()
        .all(tx)
        .await?;
    records.extend(named);
    records.sort_unstable();
    records.dedup();
    Ok(records)
}

/// Removes the values of `fields` from every history row of these records:
/// `{"email": {"from": …, "to": …}}` becomes `{"email": {}}`.
async fn scrub_history(
    tx: &impl ConnectionTrait,
    collection: &str,
    records: &[Uuid],
    fields: &[&str],
) -> Result<(), DbErr> {
    if fields.is_empty() {
        return Ok(());
    }
    for chunk in records.chunks(500) {
        let rows = history::Entity::find()
            .filter(history::Column::Collection.eq(collection))
            .filter(history::Column::RecordId.is_in(chunk.iter().copied()))
            .all(tx)
            .await?;
        for row in rows {
            if let Some(changes) = scrubbed(&row.changes, fields) {
                history::Entity::update_many()
                    .col_expr(history::Column::Changes, Expr::value(changes))
                    .filter(history::Column::Id.eq(row.id))
                    .exec(tx)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The changes without the values of `fields`, or `None` if none had one.
fn scrubbed(changes: &Value, fields: &[&str]) -> Option<Value> {
    let Value::Object(changes) = changes else {
        return None;
    };
    let mut touched = false;
    let out: Map<String, Value> = changes
        .iter()
        .map(|(field, change)| {
            let has_value = change.as_object().is_some_and(|c| !c.is_empty());
            if fields.contains(&field.as_str()) && has_value {
                touched = true;
                (field.clone(), json!({}))
            } else {
                (field.clone(), change.clone())
            }
        })
        .collect();
    touched.then_some(Value::Object(out))
}

/// Deletes stored first responses (and their request hashes) that name any
/// of these records: a response body holds the record as it was.
async fn forget_idempotent_responses(
    tx: &impl ConnectionTrait,
    records: &[Uuid],
) -> Result<(), DbErr> {
    for chunk in records.chunks(100) {
        let mut mentions = Condition::any();
        for id in chunk {
            let pattern = format!("%{id}%");
            mentions = mentions
                .add(Expr::col(idempotency_key::Column::Body).like(pattern.clone()))
                .add(Expr::col(idempotency_key::Column::Scope).like(pattern));
        }
        idempotency_key::Entity::delete_many()
            .filter(mentions)
            .exec(tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_keeps_that_a_field_changed_but_not_its_values() {
        let changes = json!({
            "email": {"from": "ann@example.org", "to": "anne@example.org"},
            "status": {"from": "lead", "to": "patient"},
            "phone": {},
        });
        assert_eq!(
            scrubbed(&changes, PATIENT_FIELDS),
            Some(json!({"email": {}, "status": {"from": "lead", "to": "patient"}, "phone": {}}))
        );
    }

    #[test]
    fn each_holder_names_its_entitys_table() {
        use sea_orm::EntityName;
        let tables = [
            (PATIENTS.table, patient::Entity.table_name()),
            (HOLDERS[0].table, intake_submission::Entity.table_name()),
            (HOLDERS[1].table, call::Entity.table_name()),
            (HOLDERS[2].table, trial_referral::Entity.table_name()),
            (HOLDERS[3].table, eap_enrollment::Entity.table_name()),
        ];
        for (declared, entity) in tables {
            assert_eq!(declared, entity);
        }
    }

    #[test]
    fn a_history_row_without_personal_values_is_left_as_it_is() {
        let changes = json!({"status": {"from": "lead", "to": "patient"}});
        assert_eq!(scrubbed(&changes, PATIENT_FIELDS), None);
    }
}
