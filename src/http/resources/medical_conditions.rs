//! `/v1/medical-conditions`: the one consolidated list (reference data,
//! admin writes). Name and abbreviation are each unique; abbreviations are
//! stored upper-case so `dmd` and `DMD` are one condition.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, no_references, present};
use crate::{
    db::entities::medical_condition::{self as table, Entity},
    domain::{Abbreviation, Name},
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

const TAG: &str = "medical-conditions";

/// A medical condition.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MedicalCondition)]
pub struct View {
    pub id: Uuid,
    pub name: String,
    pub abbreviation: String,
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
            name: m.name,
            abbreviation: m.abbreviation,
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

/// A new medical condition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewMedicalCondition)]
pub struct Create {
    pub name: Name,
    pub abbreviation: Abbreviation,
}

/// Changes to a medical condition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MedicalConditionPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub abbreviation: Option<Abbreviation>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Exact abbreviation (case-insensitive).
    pub abbreviation: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_medical_conditions, create_medical_condition))
        .routes(routes!(
            get_medical_condition,
            update_medical_condition,
            delete_medical_condition
        ))
        .routes(routes!(get_medical_condition_history))
}

/// List medical conditions.
#[utoipa::path(get, path = "/v1/medical-conditions", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_medical_conditions(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(abbreviation) = f.abbreviation {
        select = select.filter(table::Column::Abbreviation.eq(abbreviation.trim().to_uppercase()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Create a medical condition (admin).
#[utoipa::path(post, path = "/v1/medical-conditions", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn create_medical_condition(
    State(state): State<AppState>,
    who: Caller<Admin>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        name: Set(body.name.into()),
        abbreviation: Set(body.abbreviation.into()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(
        &state,
        &who.subject,
        &idempotency,
        &digest,
        model,
        no_references(),
    )
    .await
}

/// Read a medical condition.
#[utoipa::path(get, path = "/v1/medical-conditions/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_medical_condition(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a medical condition (admin).
#[utoipa::path(patch, path = "/v1/medical-conditions/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn update_medical_condition(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    common::update::<Entity, View>(&state, &who, id, &if_match, no_references(), |_, m| {
        patch!(m.name = body.name);
        patch!(m.abbreviation = body.abbreviation);
        Ok(())
    })
    .await
}

/// Delete a medical condition (admin); 409 while anything refers to it.
#[utoipa::path(delete, path = "/v1/medical-conditions/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_medical_condition(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A medical condition's history.
#[utoipa::path(get, path = "/v1/medical-conditions/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_medical_condition_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "medical-conditions", id, &page)
        .await
        .map(Json)
}
