//! `/v1/hospitals`: where practitioners work (reference data, admin
//! writes). Name and city together are unique; deleting a hospital that
//! practitioners use is a 409.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, no_references, nullable, present};
use crate::{
    db::entities::hospital::{self as table, Entity},
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

const TAG: &str = "hospitals";

/// A hospital.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Hospital)]
pub struct View {
    pub id: Uuid,
    pub name: String,
    pub city: String,
    pub country: Option<String>,
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
            city: m.city,
            country: m.country,
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

/// A new hospital.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewHospital)]
pub struct Create {
    pub name: Name,
    pub city: Name,
    pub country: Option<Name>,
}

/// Changes to a hospital.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = HospitalPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub city: Option<Name>,
    #[serde(default, deserialize_with = "nullable")]
    pub country: Option<Option<Name>>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Exact city.
    pub city: Option<String>,
    /// Exact country.
    pub country: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_hospitals, create_hospital))
        .routes(routes!(get_hospital, update_hospital, delete_hospital))
        .routes(routes!(get_hospital_history))
}

/// List hospitals.
#[utoipa::path(get, path = "/v1/hospitals", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_hospitals(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(city) = f.city {
        select = select.filter(table::Column::City.eq(city.trim()));
    }
    if let Some(country) = f.country {
        select = select.filter(table::Column::Country.eq(country.trim()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Create a hospital (admin).
#[utoipa::path(post, path = "/v1/hospitals", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn create_hospital(
    State(state): State<AppState>,
    who: Caller<Admin>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        name: Set(body.name.into()),
        city: Set(body.city.into()),
        country: Set(body.country.map(Into::into)),
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

/// Read a hospital.
#[utoipa::path(get, path = "/v1/hospitals/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_hospital(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a hospital (admin).
#[utoipa::path(patch, path = "/v1/hospitals/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn update_hospital(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    common::update::<Entity, View>(&state, &who, id, &if_match, no_references(), |_, m| {
        patch!(m.name = body.name);
        patch!(m.city = body.city);
        patch!(m.country? = body.country);
        Ok(())
    })
    .await
}

/// Delete a hospital (admin); 409 while practitioners work there.
#[utoipa::path(delete, path = "/v1/hospitals/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_hospital(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A hospital's history.
#[utoipa::path(get, path = "/v1/hospitals/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_hospital_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "hospitals", id, &page)
        .await
        .map(Json)
}
