//! `/v1/clinical-trials`: the trials patients are referred to (reference
//! data, admin writes). The registry id (e.g. an NCT number) is trimmed,
//! upper-cased and unique.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, nullable, present};
use crate::{
    db::entities::{
        clinical_trial::{self as table, Entity},
        medical_condition,
    },
    domain::{Name, RegistryId, TrialStatus},
    http::{
        ApiResult, AppState,
        auth::{Admin, Caller, Redact, Viewer},
        extract::{ApiJson, ApiPath, ApiQuery},
        history::{self, HistoryEntry},
        idempotency::{Idempotency, IdempotencyKeyHeader},
        pagination::{NoOtherParams, Page, PageParams},
        versioning::{IfMatch, IfMatchHeader, Tagged, Versioned},
    },
    patch,
};

const TAG: &str = "clinical-trials";

/// A clinical trial.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ClinicalTrial)]
pub struct View {
    pub id: Uuid,
    pub registry_id: String,
    pub title: Option<String>,
    pub medical_condition_id: Option<Uuid>,
    pub status: TrialStatus,
    pub version: i32,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<table::Model> for View {
    fn from(m: table::Model) -> Self {
        Self {
            id: m.id,
            registry_id: m.registry_id,
            title: m.title,
            medical_condition_id: m.medical_condition_id,
            status: TrialStatus::from_text(&m.status).unwrap_or(TrialStatus::Recruiting),
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// No personal data of patients.
impl Redact for View {}

impl Versioned for View {
    fn version(&self) -> i32 {
        self.version
    }
}

/// A new trial (default status `recruiting`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewClinicalTrial)]
pub struct Create {
    pub registry_id: RegistryId,
    pub title: Option<Name>,
    pub medical_condition_id: Option<Uuid>,
    pub status: Option<TrialStatus>,
}

/// Changes to a trial.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClinicalTrialPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub registry_id: Option<RegistryId>,
    #[serde(default, deserialize_with = "nullable")]
    pub title: Option<Option<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub medical_condition_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<TrialStatus>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Exact registry id (trimmed, case-insensitive).
    pub registry_id: Option<String>,
    /// For this medical condition.
    pub medical_condition_id: Option<Uuid>,
    /// With this status.
    pub status: Option<TrialStatus>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clinical_trials, create_clinical_trial))
        .routes(routes!(
            get_clinical_trial,
            update_clinical_trial,
            delete_clinical_trial
        ))
        .routes(routes!(get_clinical_trial_history))
}

/// List trials.
#[utoipa::path(get, path = "/v1/clinical-trials", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_clinical_trials(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(registry_id) = f.registry_id {
        select = select.filter(table::Column::RegistryId.eq(registry_id.trim().to_uppercase()));
    }
    if let Some(id) = f.medical_condition_id {
        select = select.filter(table::Column::MedicalConditionId.eq(id));
    }
    if let Some(status) = f.status {
        select = select.filter(table::Column::Status.eq(status.as_str()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Create a trial (admin).
#[utoipa::path(post, path = "/v1/clinical-trials", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn create_clinical_trial(
    State(state): State<AppState>,
    who: Caller<Admin>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let refs = common::exists::<medical_condition::Entity>(
        &state,
        "/medical_condition_id",
        body.medical_condition_id,
    );
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        registry_id: Set(body.registry_id.into()),
        title: Set(body.title.map(Into::into)),
        medical_condition_id: Set(body.medical_condition_id),
        status: Set(body
            .status
            .unwrap_or(TrialStatus::Recruiting)
            .as_str()
            .to_owned()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model, refs).await
}

/// Read a trial.
#[utoipa::path(get, path = "/v1/clinical-trials/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_clinical_trial(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a trial (admin).
#[utoipa::path(patch, path = "/v1/clinical-trials/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn update_clinical_trial(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    let refs = common::exists::<medical_condition::Entity>(
        &state,
        "/medical_condition_id",
        body.medical_condition_id.flatten(),
    );
    common::update::<Entity, View>(&state, &who, id, &if_match, refs, |_, m| {
        patch!(m.registry_id = body.registry_id);
        patch!(m.title? = body.title);
        patch!(m.medical_condition_id? = body.medical_condition_id);
        patch!(m.status = body.status.map(|s| s.as_str()));
        Ok(())
    })
    .await
}

/// Delete a trial (admin); 409 while referrals refer to it.
#[utoipa::path(delete, path = "/v1/clinical-trials/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_clinical_trial(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A trial's history.
#[utoipa::path(get, path = "/v1/clinical-trials/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_clinical_trial_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "clinical-trials", id, &page)
        .await
        .map(Json)
}
