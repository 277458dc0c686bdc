//! Erasure (GDPR art. 17): a person's personal data removed everywhere it
//! is kept, leaving a skeleton (ids, statuses, dates) so counts, calls,
//! referrals and enrollments stay consistent.
//!
//! In one transaction: the patient's and their submissions' personal
//! fields are cleared and `erased_at` set (the schema's CHECKs then forbid
//! personal data on those rows); their calls' notes are cleared and their
//! referrals' ineligibility reasons replaced by a marker; every history
//! snapshot of those records loses the values of those fields (the fact
//! that a field changed stays); stored `Idempotency-Key` responses that
//! mention those records are deleted; and `erasures` records who erased
//! whom, when and why.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    prelude::Uuid,
    sea_query::{Condition, Expr, ExprTrait},
};
use serde_json::{Map, Value, json};

use super::{
    begin_write,
    entities::{
        call, erasure, history, idempotency_key, intake_submission, patient, trial_referral,
    },
    store::{self, Record, StoreError},
};

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

/// What an erased referral's required ineligibility reason says.
pub const ERASED_REASON: &str = "[erased]";

/// Why an erasure did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// No patient has that id.
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
    /// The patient's skeleton.
    pub patient: patient::Model,
    /// Who, when, why.
    pub erasure: erasure::Model,
}

/// Erases a patient's personal data; `actor` is the admin, `reason` why.
pub async fn erase(
    db: &DatabaseConnection,
    actor: &str,
    patient_id: Uuid,
    reason: &str,
) -> Result<Erased, EraseError> {
    let tx = begin_write(db).await?;
    let before = store::find_for_update::<patient::Entity>(&tx, patient_id).await?;
    if before.erased_at.is_some() {
        return Err(EraseError::AlreadyErased);
    }
    let now = Utc::now();
    // The CRM rows the import kept of this person (owned by the importer:
    // src/legacy/rows.rs); before the email is cleared, which it hashes.
    crate::legacy::rows::erase(&tx, patient_id, before.email.as_deref()).await?;
    let patient = store::update::<patient::Entity>(
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
    .await?;

    let submissions: Vec<Uuid> = intake_submission::Entity::find()
        .select_only()
        .column(intake_submission::Column::Id)
        .filter(intake_submission::Column::PatientId.eq(patient_id))
        .into_tuple()
        .all(&tx)
        .await?;
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
        .all(&tx)
        .await?;
    for c in calls.iter().filter(|c| c.notes.is_some()) {
        let changes = call::ActiveModel {
            notes: Set(None),
            ..Default::default()
        };
        store::update::<call::Entity>(&tx, actor, c, changes).await?;
    }

    let referrals = trial_referral::Entity::find()
        .filter(trial_referral::Column::PatientId.eq(patient_id))
        .all(&tx)
        .await?;
    for r in referrals.iter().filter(|r| {
        r.ineligible_reason
            .as_deref()
            .is_some_and(|t| t != ERASED_REASON)
    }) {
        let changes = trial_referral::ActiveModel {
            ineligible_reason: Set(Some(ERASED_REASON.to_owned())),
            ..Default::default()
        };
        store::update::<trial_referral::Entity>(&tx, actor, r, changes).await?;
    }

    let calls: Vec<Uuid> = calls.iter().map(|c| c.id).collect();
    let referrals: Vec<Uuid> = referrals.iter().map(|r| r.id).collect();
    scrub_history::<patient::Entity>(&tx, &[patient_id], PATIENT_FIELDS).await?;
    scrub_history::<intake_submission::Entity>(&tx, &submissions, SUBMISSION_FIELDS).await?;
    scrub_history::<call::Entity>(&tx, &calls, CALL_FIELDS).await?;
    scrub_history::<trial_referral::Entity>(&tx, &referrals, REFERRAL_FIELDS).await?;

    let mentioned: Vec<Uuid> = [vec![patient_id], submissions, calls, referrals].concat();
    forget_idempotent_responses(&tx, &mentioned).await?;

    let erasure = erasure::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient_id),
        actor: Set(actor.to_owned()),
        reason: Set(reason.to_owned()),
        erased_at: Set(now),
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    Ok(Erased { patient, erasure })
}

/// Removes the values of `fields` from every history row of these records:
/// `{"email": {"from": …, "to": …}}` becomes `{"email": {}}`.
async fn scrub_history<E: Record>(
    tx: &impl ConnectionTrait,
    records: &[Uuid],
    fields: &[&str],
) -> Result<(), DbErr> {
    for chunk in records.chunks(500) {
        let rows = history::Entity::find()
            .filter(history::Column::Collection.eq(E::COLLECTION))
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
    fn a_history_row_without_personal_values_is_left_as_it_is() {
        let changes = json!({"status": {"from": "lead", "to": "patient"}});
        assert_eq!(scrubbed(&changes, PATIENT_FIELDS), None);
    }
}
