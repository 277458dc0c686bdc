//! The request flows every collection shares, generic over the entity:
//! read, list, create, update and delete, with `If-Match`,
//! `Idempotency-Key`, history, and responses redacted for the caller's role
//! (the role an operation needs is checked earlier, by its handler's
//! [`Caller`] extractor). A resource supplies only what
//! is its own: the view, how a body becomes columns, and its rules.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Select, prelude::Uuid};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    db::{self, store},
    http::{
        ApiError, ApiResult, AppState, Principal,
        auth::{Admin, Caller, Redact},
        extract::BodyDigest,
        idempotency::{Created, Idempotency},
        pagination::{self, Page, PageParams},
        versioning::{IfMatch, Tagged},
    },
};

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> Self {
        match err {
            store::StoreError::NotFound => ApiError::NotFound,
            store::StoreError::Stale => ApiError::PreconditionFailed,
            store::StoreError::Db(err) => err.into(),
        }
    }
}

/// A fresh id (UUIDv7: time-ordered, so id order is creation order) and the
/// current time, for a new record.
pub fn new_record() -> (Uuid, DateTime<Utc>) {
    (Uuid::now_v7(), Utc::now())
}

/// `GET /v1/{collection}/{id}`, as the caller's role may see it.
pub async fn get<E, V>(state: &AppState, who: &Principal, id: Uuid) -> ApiResult<Tagged<V>>
where
    E: store::Record,
    V: From<E::Model> + Redact,
{
    let view = V::from(store::find::<E>(&state.db, id).await?);
    Ok(Tagged(view.for_role(who.role)))
}

/// `GET /v1/{collection}` with the resource's filters applied to `select`,
/// as the caller's role may see it.
pub async fn list<E, V>(
    state: &AppState,
    who: &Principal,
    select: Select<E>,
    params: &PageParams,
) -> ApiResult<Json<Page<V>>>
where
    E: store::Record,
    E::Model: Sync,
    V: From<E::Model> + Redact,
{
    let listed = store::list(&state.db, select, params.parse()?).await?;
    Ok(Json(pagination::page(listed, |m| {
        V::from(m).for_role(who.role)
    })))
}

/// `POST /v1/{collection}`: inserts `model` as `actor` (replaying the
/// first response for a repeated `Idempotency-Key`). `references` are the
/// courtesy checks of the records the body names, run only if the database
/// refuses the insert on a foreign key ([`refused`]).
pub async fn create<E, V>(
    state: &AppState,
    actor: &str,
    idempotency: &Idempotency,
    digest: &BodyDigest,
    model: E::ActiveModel,
    references: impl Future<Output = ApiResult<()>>,
) -> ApiResult<Response>
where
    E: store::Record,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    V: From<E::Model> + Serialize + crate::http::versioning::Versioned,
{
    let tx = db::begin_write(&state.db).await?;
    if let Some(replayed) = idempotency.replay(&tx, actor, digest).await? {
        return Ok(replayed);
    }
    let created = match store::insert::<E>(&tx, actor, model).await {
        Ok(created) => created,
        Err(err) => return Err(refused(tx, err, references).await),
    };
    let id = E::id_of(&created);
    let view = V::from(created);
    let location = format!("/v1/{}/{id}", E::COLLECTION);
    let response = idempotency
        .respond(&tx, actor, Created::new(location, view.version(), &view)?)
        .await?;
    tx.commit().await?;
    Ok(response)
}

/// `PATCH /v1/{collection}/{id}`: `references` as for [`create`]; `apply`
/// sets the changed columns on the active model and checks the resource's
/// rules against the current record.
pub async fn update<E, V>(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    references: impl Future<Output = ApiResult<()>>,
    apply: impl FnOnce(&E::Model, &mut E::ActiveModel) -> Result<(), ApiError>,
) -> ApiResult<Tagged<V>>
where
    E: store::Mutable,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    V: From<E::Model> + Redact,
{
    let tx = db::begin_write(&state.db).await?;
    let current = store::find_for_update::<E>(&tx, id).await?;
    if_match.check(E::version_of(&current))?;
    let mut changes = current.clone().into_active_model();
    apply(&current, &mut changes)?;
    let updated = match store::update::<E>(&tx, &who.subject, &current, changes).await {
        Ok(updated) => updated,
        Err(err) => return Err(refused(tx, err, references).await),
    };
    tx.commit().await?;
    Ok(Tagged(V::from(updated).for_role(who.role)))
}

/// For a write that names no other record: nothing to explain.
pub fn no_references() -> std::future::Ready<ApiResult<()>> {
    std::future::ready(Ok(()))
}

/// The answer to a write the database refused. On a foreign key, the
/// courtesy checks name the field at fault (a 422), once the transaction
/// has ended (its connection, and on SQLite the write turn, are not held
/// while they read). The foreign keys guarantee what the checks would, so
/// a write that succeeds never runs them: on PostgreSQL each is a round
/// trip. If they all pass (a record went away meanwhile), the schema's 409
/// stands.
async fn refused(
    tx: db::WriteTransaction,
    err: store::StoreError,
    references: impl Future<Output = ApiResult<()>>,
) -> ApiError {
    drop(tx);
    let on_foreign_key = matches!(&err, store::StoreError::Db(err)
        if matches!(db::conflict(err), Some(db::Conflict::ForeignKey(_))));
    if !on_foreign_key {
        return err.into();
    }
    match references.await {
        Err(named) => named,
        Ok(()) => err.into(),
    }
}

/// `DELETE /v1/{collection}/{id}`: admin only (the type of `who` says so);
/// a record still referred to is a 409, never a cascade.
pub async fn delete<E>(
    state: &AppState,
    who: &Caller<Admin>,
    id: Uuid,
    if_match: &IfMatch,
) -> ApiResult<StatusCode>
where
    E: store::Mutable,
    E::Model: Serialize,
{
    let tx = db::begin_write(&state.db).await?;
    let current = store::find_for_update::<E>(&tx, id).await?;
    if_match.check(E::version_of(&current))?;
    store::delete::<E>(&tx, &who.subject, &current).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// For PATCH fields that may be cleared: absent → `None`, `null` →
/// `Some(None)`, a value → `Some(Some(v))`.
pub fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// For PATCH fields that may change but not be cleared: absent → `None`, a
/// value → `Some(v)`, `null` → an error (rather than silently ignored).
pub fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Sets `field` on an active model when a PATCH carried it.
#[macro_export]
macro_rules! patch {
    ($model:ident . $field:ident = $value:expr) => {
        if let Some(value) = $value {
            $model.$field = sea_orm::ActiveValue::Set(value.into());
        }
    };
    ($model:ident . $field:ident ?= $value:expr) => {
        if let Some(value) = $value {
            $model.$field = sea_orm::ActiveValue::Set(value.map(Into::into));
        }
    };
}

/// Courtesy check of a record a write names: a missing record is a 422 on
/// `field`, where the foreign key gives a less precise 409. A write's
/// references are checked after the database refused it ([`refused`]); a
/// rule that needs the record reads it first.
pub async fn referenced<E: store::Record>(
    state: &AppState,
    field: &str,
    id: Option<Uuid>,
) -> ApiResult<Option<E::Model>> {
    let Some(id) = id else { return Ok(None) };
    match store::find::<E>(&state.db, id).await {
        Ok(model) => Ok(Some(model)),
        Err(store::StoreError::NotFound) => {
            Err(ApiError::invalid(field, "names no existing record"))
        }
        Err(err) => Err(err.into()),
    }
}

/// [`referenced`], for a write's references.
pub async fn exists<E: store::Record>(
    state: &AppState,
    field: &str,
    id: Option<Uuid>,
) -> ApiResult<()> {
    referenced::<E>(state, field, id).await.map(drop)
}

/// Courtesy check that `id` names a practitioner of kind physician.
pub async fn physician(state: &AppState, field: &str, id: Option<Uuid>) -> ApiResult<()> {
    use crate::db::entities::practitioner;
    match referenced::<practitioner::Entity>(state, field, id).await? {
        Some(p) if p.kind != crate::domain::PractitionerKind::Physician.as_str() => Err(
            ApiError::invalid(field, "must name a practitioner of kind physician"),
        ),
        _ => Ok(()),
    }
}

/// The rules every referral and enrollment shares: the patient exists
/// (else 422), is converted (else 409), and has a physician: the one given
/// (which must be a physician) or, by default, the patient's own (else
/// 409). Returns the physician's id. The schema enforces the same through
/// its composite foreign keys.
pub async fn journey_physician(
    state: &AppState,
    patient_id: Uuid,
    physician_id: Option<Uuid>,
) -> ApiResult<Uuid> {
    use crate::{db::entities::patient, domain::PatientStatus};
    let patient = referenced::<patient::Entity>(state, "/patient_id", Some(patient_id))
        .await?
        .ok_or_else(|| ApiError::invalid("/patient_id", "names no existing record"))?;
    if patient.status != PatientStatus::Patient.as_str() {
        return Err(ApiError::Conflict("The patient must be converted (POST /v1/patients/{id}/convert) before referrals or enrollments.".into()));
    }
    match physician_id.or(patient.physician_id) {
        Some(id) => {
            physician(state, "/physician_id", Some(id)).await?;
            Ok(id)
        }
        None => Err(ApiError::Conflict(
            "The patient has no physician: assign one to the patient or give physician_id.".into(),
        )),
    }
}
