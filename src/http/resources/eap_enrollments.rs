//! `/v1/eap-enrollments`: a converted patient's enrollment in an Expanded
//! Access Program, with a physician (by default the patient's). One open
//! (pending or active) enrollment per patient and program.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, nullable, present};
use crate::{
    db::entities::{
        eap_enrollment::{self as table, Entity},
        expanded_access_program,
    },
    domain::EnrollmentStatus,
    http::{
        ApiResult, AppState,
        auth::{Admin, Caller, Navigator, Redact, Viewer},
        extract::{ApiJson, ApiPath, ApiQuery},
        history::{self, HistoryEntry},
        idempotency::{Idempotency, IdempotencyKeyHeader},
        pagination::{NoOtherParams, Page, PageParams},
        versioning::{IfMatch, IfMatchHeader, Tagged, Versioned},
    },
    patch,
};

const TAG: &str = "eap-enrollments";

/// A patient's enrollment in a program.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EapEnrollment)]
pub struct View {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub program_id: Uuid,
    /// Empty only on records imported from the CRM, which did not require one.
    pub physician_id: Option<Uuid>,
    /// Imported from the legacy CRM.
    pub imported: bool,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub enrolled_at: Option<DateTime<Utc>>,
    pub status: EnrollmentStatus,
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
            patient_id: m.patient_id,
            program_id: m.program_id,
            physician_id: m.physician_id,
            imported: m.imported,
            enrolled_at: m.enrolled_at,
            status: EnrollmentStatus::from_text(&m.status).unwrap_or(EnrollmentStatus::Pending),
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

/// A new enrollment (default status `pending`, enrolled now; physician by
/// default the patient's).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewEapEnrollment)]
pub struct Create {
    pub patient_id: Uuid,
    pub program_id: Uuid,
    pub physician_id: Option<Uuid>,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub status: Option<EnrollmentStatus>,
}

/// Changes to an enrollment; its patient and program cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EapEnrollmentPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub physician_id: Option<Uuid>,
    #[serde(default, deserialize_with = "nullable")]
    pub enrolled_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<EnrollmentStatus>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Of this patient.
    pub patient_id: Option<Uuid>,
    /// In this program.
    pub program_id: Option<Uuid>,
    /// With this physician.
    pub physician_id: Option<Uuid>,
    /// With this status.
    pub status: Option<EnrollmentStatus>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_eap_enrollments, create_eap_enrollment))
        .routes(routes!(
            get_eap_enrollment,
            update_eap_enrollment,
            delete_eap_enrollment
        ))
        .routes(routes!(get_eap_enrollment_history))
}

/// List enrollments.
#[utoipa::path(get, path = "/v1/eap-enrollments", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_eap_enrollments(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(id) = f.patient_id {
        select = select.filter(table::Column::PatientId.eq(id));
    }
    if let Some(id) = f.program_id {
        select = select.filter(table::Column::ProgramId.eq(id));
    }
    if let Some(id) = f.physician_id {
        select = select.filter(table::Column::PhysicianId.eq(id));
    }
    if let Some(status) = f.status {
        select = select.filter(table::Column::Status.eq(status.as_str()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Enroll a converted patient in a program (navigator).
#[utoipa::path(post, path = "/v1/eap-enrollments", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn create_eap_enrollment(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let refs = common::exists::<expanded_access_program::Entity>(
        &state,
        "/program_id",
        Some(body.program_id),
    );
    let physician_id =
        common::journey_physician(&state, body.patient_id, body.physician_id).await?;
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        patient_id: Set(body.patient_id),
        patient_status: Set("patient".to_owned()),
        program_id: Set(body.program_id),
        physician_id: Set(Some(physician_id)),
        physician_kind: Set("physician".to_owned()),
        imported: Set(false),
        enrolled_at: Set(Some(body.enrolled_at.unwrap_or(now))),
        status: Set(body
            .status
            .unwrap_or(EnrollmentStatus::Pending)
            .as_str()
            .to_owned()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model, refs).await
}

/// Read an enrollment.
#[utoipa::path(get, path = "/v1/eap-enrollments/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_eap_enrollment(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change an enrollment (navigator).
#[utoipa::path(patch, path = "/v1/eap-enrollments/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn update_eap_enrollment(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    let refs = common::physician(&state, "/physician_id", body.physician_id);
    common::update::<Entity, View>(&state, &who, id, &if_match, refs, |_, m| {
        patch!(m.physician_id = body.physician_id.map(Some));
        patch!(m.enrolled_at? = body.enrolled_at);
        patch!(m.status = body.status.map(|s| s.as_str()));
        Ok(())
    })
    .await
}

/// Delete an enrollment (admin).
#[utoipa::path(delete, path = "/v1/eap-enrollments/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_eap_enrollment(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// An enrollment's history.
#[utoipa::path(get, path = "/v1/eap-enrollments/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_eap_enrollment_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "eap-enrollments", id, &page)
        .await
        .map(Json)
}
