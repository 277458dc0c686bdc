//! `/v1/expanded-access-programs`: the programs patients are enrolled in
//! (reference data, admin writes). The EAP number is unique.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, nullable, present};
use crate::{
    db::entities::{
        expanded_access_program::{self as table, Entity},
        medical_condition,
    },
    domain::{Name, ProgramStatus},
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

const TAG: &str = "expanded-access-programs";

/// An Expanded Access Program.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ExpandedAccessProgram)]
pub struct View {
    pub id: Uuid,
    pub eap_number: String,
    pub product: String,
    pub medical_condition_id: Option<Uuid>,
    pub status: ProgramStatus,
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
            eap_number: m.eap_number,
            product: m.product,
            medical_condition_id: m.medical_condition_id,
            status: ProgramStatus::from_text(&m.status).unwrap_or(ProgramStatus::Open),
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

/// A new program (default status `open`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewExpandedAccessProgram)]
pub struct Create {
    pub eap_number: Name,
    pub product: Name,
    pub medical_condition_id: Option<Uuid>,
    pub status: Option<ProgramStatus>,
}

/// Changes to a program.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ExpandedAccessProgramPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub eap_number: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub product: Option<Name>,
    #[serde(default, deserialize_with = "nullable")]
    pub medical_condition_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<ProgramStatus>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Exact EAP number.
    pub eap_number: Option<String>,
    /// For this medical condition.
    pub medical_condition_id: Option<Uuid>,
    /// With this status.
    pub status: Option<ProgramStatus>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list_expanded_access_programs,
            create_expanded_access_program
        ))
        .routes(routes!(
            get_expanded_access_program,
            update_expanded_access_program,
            delete_expanded_access_program
        ))
        .routes(routes!(get_expanded_access_program_history))
}

/// List programs.
#[utoipa::path(get, path = "/v1/expanded-access-programs", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_expanded_access_programs(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(number) = f.eap_number {
        select = select.filter(table::Column::EapNumber.eq(number.trim()));
    }
    if let Some(id) = f.medical_condition_id {
        select = select.filter(table::Column::MedicalConditionId.eq(id));
    }
    if let Some(status) = f.status {
        select = select.filter(table::Column::Status.eq(status.as_str()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Create a program (admin).
#[utoipa::path(post, path = "/v1/expanded-access-programs", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn create_expanded_access_program(
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
        eap_number: Set(body.eap_number.into()),
        product: Set(body.product.into()),
        medical_condition_id: Set(body.medical_condition_id),
        status: Set(body
            .status
            .unwrap_or(ProgramStatus::Open)
            .as_str()
            .to_owned()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model, refs).await
}

/// Read a program.
#[utoipa::path(get, path = "/v1/expanded-access-programs/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_expanded_access_program(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a program (admin).
#[utoipa::path(patch, path = "/v1/expanded-access-programs/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["admin"])))]
async fn update_expanded_access_program(
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
        patch!(m.eap_number = body.eap_number);
        patch!(m.product = body.product);
        patch!(m.medical_condition_id? = body.medical_condition_id);
        patch!(m.status = body.status.map(|s| s.as_str()));
        Ok(())
    })
    .await
}

/// Delete a program (admin); 409 while enrollments refer to it.
#[utoipa::path(delete, path = "/v1/expanded-access-programs/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_expanded_access_program(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A program's history.
#[utoipa::path(get, path = "/v1/expanded-access-programs/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_expanded_access_program_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "expanded-access-programs", id, &page)
        .await
        .map(Json)
}
