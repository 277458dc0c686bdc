//! Writing a plan: kind by kind in dependency order, in batches, each batch
//! one transaction holding its records, their history and their legacy ids.
//! A record whose id already exists is skipped, so a second run writes
//! nothing and a run killed half-way resumes where it stopped.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect, TryIntoModel, prelude::Uuid,
};
use serde::Serialize;

use super::{
    plan::{ACTOR, Existing, Plan, Planned},
    report::RowReport,
};
use crate::db::{
    self,
    entities::{
        call, clinical_trial, eap_enrollment, expanded_access_program, history, hospital,
        intake_submission, legacy_id, medical_condition, patient, practitioner, specialization,
        trial_referral,
    },
    store::{self, Record},
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
}

/// The records the database already has, by natural key.
pub async fn existing(db: &DatabaseConnection) -> Result<Existing, DbErr> {
    let mut found = Existing::default();
    let rows: Vec<(Uuid, String)> = medical_condition::Entity::find()
        .select_only()
        .columns([
            medical_condition::Column::Id,
            medical_condition::Column::Abbreviation,
        ])
        .into_tuple()
        .all(db)
        .await?;
    found.conditions = rows
        .into_iter()
        .map(|(id, a)| (a.to_uppercase(), id))
        .collect();
    let rows: Vec<(Uuid, String, String)> = hospital::Entity::find()
        .select_only()
        .columns([
            hospital::Column::Id,
            hospital::Column::Name,
            hospital::Column::City,
        ])
        .into_tuple()
        .all(db)
        .await?;
    found.hospitals = rows.into_iter().map(|(id, n, c)| ((n, c), id)).collect();
    let rows: Vec<(Uuid, String)> = specialization::Entity::find()
        .select_only()
        .columns([specialization::Column::Id, specialization::Column::Name])
        .into_tuple()
        .all(db)
        .await?;
    found.specializations = rows
        .into_iter()
        .map(|(id, n)| (n.to_lowercase(), id))
        .collect();
    let rows: Vec<(Uuid, Option<String>)> = practitioner::Entity::find()
        .select_only()
        .columns([practitioner::Column::Id, practitioner::Column::Email])
        .into_tuple()
        .all(db)
        .await?;
    found.practitioners = rows
        .into_iter()
        .filter_map(|(id, e)| e.map(|e| (e, id)))
        .collect();
    let rows: Vec<(Uuid, Option<String>)> = patient::Entity::find()
        .select_only()
        .columns([patient::Column::Id, patient::Column::Email])
        .into_tuple()
        .all(db)
        .await?;
    found.patients = rows
        .into_iter()
        .filter_map(|(id, e)| e.map(|e| (e, id)))
        .collect();
    let rows: Vec<(Uuid, String)> = clinical_trial::Entity::find()
        .select_only()
        .columns([
            clinical_trial::Column::Id,
            clinical_trial::Column::RegistryId,
        ])
        .into_tuple()
        .all(db)
        .await?;
    found.trials = rows.into_iter().map(|(id, r)| (r, id)).collect();
    let rows: Vec<(Uuid, String)> = expanded_access_program::Entity::find()
        .select_only()
        .columns([
            expanded_access_program::Column::Id,
            expanded_access_program::Column::EapNumber,
        ])
        .into_tuple()
        .all(db)
        .await?;
    found.programs = rows
        .into_iter()
        .map(|(id, n)| (super::plan::key_upper(&n), id))
        .collect();
    Ok(found)
}

/// The (legacy table, legacy id, collection) of these rows that an earlier
/// import already mapped.
pub async fn known(
    db: &DatabaseConnection,
    rows: &[RowReport],
) -> Result<HashSet<(String, String, String)>, DbErr> {
    let mut known = HashSet::new();
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.id.clone())
        .filter(|id| !id.is_empty())
        .collect();
    for batch in ids.chunks(BATCH) {
        let mapped = legacy_id::Entity::find()
            .filter(legacy_id::Column::LegacyId.is_in(batch.to_vec()))
            .all(db)
            .await?;
        known.extend(
            mapped
                .into_iter()
                .map(|m| (m.legacy_table, m.legacy_id, m.collection)),
        );
    }
    Ok(known)
}

/// Records where each row went (`legacy_ids`): every record of every
/// imported row. Existing mappings are left as they are.
pub async fn links(
    db: &DatabaseConnection,
    rows: &[RowReport],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut mappings: Vec<legacy_id::ActiveModel> = rows
        .iter()
        .filter(|r| r.outcome != super::Outcome::Rejected && !r.id.is_empty())
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
    for batch in mappings.chunks(BATCH) {
        let tx = db::begin_write(db).await?;
        for rows in batch.chunks(ROWS_PER_STATEMENT) {
            legacy_id::Entity::insert_many(rows.to_vec())
                .on_conflict_do_nothing_on([
                    legacy_id::Column::LegacyTable,
                    legacy_id::Column::LegacyId,
                    legacy_id::Column::Collection,
                ])
                .exec_without_returning(&tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Writes the plan (or, in a dry run, only looks up what it would write).
pub async fn write(
    db: &DatabaseConnection,
    plan: &mut Plan,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Written, DbErr> {
    let mut written = Written::default();
    kind::<medical_condition::Entity>(
        db,
        std::mem::take(&mut plan.conditions),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<hospital::Entity>(
        db,
        std::mem::take(&mut plan.hospitals),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<specialization::Entity>(
        db,
        std::mem::take(&mut plan.specializations),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<practitioner::Entity>(
        db,
        std::mem::take(&mut plan.practitioners),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<clinical_trial::Entity>(
        db,
        std::mem::take(&mut plan.trials),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<expanded_access_program::Entity>(
        db,
        std::mem::take(&mut plan.programs),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<patient::Entity>(
        db,
        std::mem::take(&mut plan.patients),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<intake_submission::Entity>(
        db,
        std::mem::take(&mut plan.submissions),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<call::Entity>(
        db,
        std::mem::take(&mut plan.calls),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<trial_referral::Entity>(
        db,
        std::mem::take(&mut plan.referrals),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    kind::<eap_enrollment::Entity>(
        db,
        std::mem::take(&mut plan.enrollments),
        dry_run,
        now,
        &mut written,
    )
    .await?;
    Ok(written)
}

async fn kind<E>(
    db: &DatabaseConnection,
    planned: Vec<Planned<E::ActiveModel>>,
    dry_run: bool,
    now: DateTime<Utc>,
    written: &mut Written,
) -> Result<(), DbErr>
where
    E: Record,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + TryIntoModel<E::Model> + Clone + Send,
{
    let started = std::time::Instant::now();
    // In id order (ids are time-ordered), so each batch appends to the
    // primary-key and history indexes instead of touching pages all over.
    let total = planned.len();
    let mut planned = planned;
    planned.sort_by_key(|p| p.id);
    let mut remaining = planned.into_iter();
    loop {
        let chunk: Vec<Planned<E::ActiveModel>> = remaining.by_ref().take(BATCH).collect();
        if chunk.is_empty() {
            break;
        }
        let tx = if dry_run {
            db::begin_trial(db).await?
        } else {
            db::begin_write(db).await?
        };
        let mut present = HashSet::new();
        for ids in chunk.chunks(ROWS_PER_STATEMENT * 10) {
            let ids: Vec<Uuid> = ids.iter().map(|p| p.id).collect();
            let found: Vec<Uuid> = E::find()
                .select_only()
                .column(E::id_column())
                .filter(E::id_column().is_in(ids))
                .into_tuple()
                .all(&tx)
                .await?;
            present.extend(found);
        }
        let rows = chunk.len();
        let new: Vec<Planned<E::ActiveModel>> = chunk
            .into_iter()
            .filter(|p| !present.contains(&p.id))
            .collect();
        *written.created.entry(E::COLLECTION).or_default() += new.len();
        written.inserted.extend(new.iter().map(|p| p.id));
        if dry_run {
            tx.rollback().await?;
            continue;
        }
        let inserted = new.len();
        let mut models = Vec::with_capacity(inserted);
        let mut histories = Vec::with_capacity(inserted);
        for planned in new {
            let model = planned.model.try_into_model()?;
            let after = serde_json::to_value(&model).unwrap_or_default();
            store::index_terms::<E>(&tx, planned.id, None, Some(&after)).await?;
            histories.push(history::ActiveModel {
                id: Set(Uuid::now_v7()),
                collection: Set(E::COLLECTION.to_owned()),
                record_id: Set(planned.id),
                version: Set(1),
                action: Set("create".to_owned()),
                actor: Set(ACTOR.to_owned()),
                at: Set(now),
                changes: Set(store::creation(after)),
            });
            models.push(model.into_active_model());
        }
        for rows in models.chunks(ROWS_PER_STATEMENT) {
            E::insert_many(rows.to_vec())
                .exec_without_returning(&tx)
                .await?;
        }
        for rows in histories.chunks(ROWS_PER_STATEMENT) {
            history::Entity::insert_many(rows.to_vec())
                .exec_without_returning(&tx)
                .await?;
        }
        tx.commit().await?;
        tracing::debug!(
            collection = E::COLLECTION,
            rows,
            inserted,
            "import batch committed"
        );
    }
    tracing::info!(
        collection = E::COLLECTION,
        records = total,
        ms = started.elapsed().as_millis() as u64,
        "written"
    );
    Ok(())
}
