//! `/v1/specializations`: practitioners' specializations (reference data, admin
//! writes). Names are unique; deleting a specialization that practitioners
//! have is a 409.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, no_references, present};
use crate::{
    db::entities::specialization::{self as table, Entity},
    domain::Name,
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

const TAG: &str = "specializations";

/// A specialization.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Specialization)]
pub struct View {
    pub id: Uuid,
    pub name: String,
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

/// A new specialization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewSpecialization)]
pub struct Create {
    pub name: Name,
}

/// Changes to a specialization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SpecializationPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub name: Option<Name>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Exact name.
    pub name: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_specializations, create_specialization))
        .routes(routes!(
            get_specialization,
            update_specialization,
            delete_specialization
        ))
        .routes(routes!(get_specialization_history))
}

/// List specializations.
#[utoipa::path(get, path = "/v1/specializations", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_specializations(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(name) = f.name {
        select = select.filter(table::Column::Name.eq(name.trim()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Create a specialization (admin).
#[utoipa::path(post, path = "/v1/specializations", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn create_specialization(
    State(state): State<AppState>,
    who: Caller<Admin>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        name: Set(body.name.into()),
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

/// Read a specialization.
#[utoipa::path(get, path = "/v1/specializations/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_specialization(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a specialization (admin).
#[utoipa::path(patch, path = "/v1/specializations/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn update_specialization(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    common::update::<Entity, View>(&state, &who, id, &if_match, no_references(), |_, m| {
        patch!(m.name = body.name);
        Ok(())
    })
    .await
}

/// Delete a specialization (admin); 409 while practitioners have it.
#[utoipa::path(delete, path = "/v1/specializations/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_specialization(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A specialization's history.
#[utoipa::path(get, path = "/v1/specializations/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_specialization_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "specializations", id, &page)
        .await
        .map(Json)
}
