//! `/v1/practitioners`: physicians and pharmacists, each with their own
//! fields; apart from leads and patients. Email is unique among
//! practitioners (normalised). Navigators create and update; admins delete.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, nullable, present};
use crate::{
    db::entities::{
        hospital,
        practitioner::{self as table, Entity},
        specialization,
    },
    domain::{Email, Name, Phone, PractitionerKind},
    http::{
        ApiError, ApiResult, AppState,
        auth::{Admin, Caller, Navigator, Redact, Viewer},
        extract::{ApiJson, ApiPath, ApiQuery},
        history::{self, HistoryEntry},
        idempotency::{Idempotency, IdempotencyKeyHeader},
        pagination::{NoOtherParams, Page, PageParams},
        versioning::{IfMatch, IfMatchHeader, Tagged, Versioned},
    },
    patch,
};

const TAG: &str = "practitioners";

/// A physician or pharmacist.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Practitioner)]
pub struct View {
    pub id: Uuid,
    pub kind: PractitionerKind,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub specialization_id: Option<Uuid>,
    pub license_number: Option<String>,
    pub hospital_id: Option<Uuid>,
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
            kind: PractitionerKind::from_text(&m.kind).unwrap_or(PractitionerKind::Physician),
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            job_title: m.job_title,
            specialization_id: m.specialization_id,
            license_number: m.license_number,
            hospital_id: m.hospital_id,
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

/// A new practitioner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPractitioner)]
pub struct Create {
    pub kind: PractitionerKind,
    pub first_name: Name,
    pub last_name: Name,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub job_title: Option<Name>,
    pub specialization_id: Option<Uuid>,
    pub license_number: Option<Name>,
    pub hospital_id: Option<Uuid>,
}

/// Changes to a practitioner; `null` clears an optional field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PractitionerPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub kind: Option<PractitionerKind>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub first_name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub last_name: Option<Name>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<Email>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<Phone>>,
    #[serde(default, deserialize_with = "nullable")]
    pub job_title: Option<Option<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub specialization_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    pub license_number: Option<Option<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub hospital_id: Option<Option<Uuid>>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Physicians or pharmacists.
    pub kind: Option<PractitionerKind>,
    /// Working at this hospital.
    pub hospital_id: Option<Uuid>,
    /// With this specialization.
    pub specialization_id: Option<Uuid>,
    /// Exact email (trimmed, case-insensitive).
    pub email: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_practitioners, create_practitioner))
        .routes(routes!(
            get_practitioner,
            update_practitioner,
            delete_practitioner
        ))
        .routes(routes!(get_practitioner_history))
}

/// List practitioners.
#[utoipa::path(get, path = "/v1/practitioners", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_practitioners(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(kind) = f.kind {
        select = select.filter(table::Column::Kind.eq(kind.as_str()));
    }
    if let Some(hospital_id) = f.hospital_id {
        select = select.filter(table::Column::HospitalId.eq(hospital_id));
    }
    if let Some(specialization_id) = f.specialization_id {
        select = select.filter(table::Column::SpecializationId.eq(specialization_id));
    }
    if let Some(email) = f.email {
        select = select.filter(table::Column::Email.eq(email.trim().to_lowercase()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// What a practitioner's body names, checked only when the database
/// refuses it: their hospital and specialization.
async fn references(
    state: &AppState,
    hospital: Option<Uuid>,
    specialization: Option<Uuid>,
) -> ApiResult<()> {
    common::exists::<hospital::Entity>(state, "/hospital_id", hospital).await?;
    common::exists::<specialization::Entity>(state, "/specialization_id", specialization).await
}

/// Create a practitioner (navigator).
#[utoipa::path(post, path = "/v1/practitioners", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn create_practitioner(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let refs = references(&state, body.hospital_id, body.specialization_id);
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        kind: Set(body.kind.as_str().to_owned()),
        first_name: Set(body.first_name.into()),
        last_name: Set(body.last_name.into()),
        email: Set(body.email.map(Into::into)),
        phone: Set(body.phone.map(Into::into)),
        job_title: Set(body.job_title.map(Into::into)),
        specialization_id: Set(body.specialization_id),
        license_number: Set(body.license_number.map(Into::into)),
        hospital_id: Set(body.hospital_id),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model, refs).await
}

/// Read a practitioner.
#[utoipa::path(get, path = "/v1/practitioners/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_practitioner(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a practitioner (navigator). A physician that patients, referrals
/// or enrollments name cannot become a pharmacist (409).
#[utoipa::path(patch, path = "/v1/practitioners/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn update_practitioner(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    let refs = references(
        &state,
        body.hospital_id.flatten(),
        body.specialization_id.flatten(),
    );
    common::update::<Entity, View>(&state, &who, id, &if_match, refs, |_, m| {
        patch!(m.kind = body.kind.map(|k| k.as_str()));
        patch!(m.first_name = body.first_name);
        patch!(m.last_name = body.last_name);
        patch!(m.email? = body.email);
        patch!(m.phone? = body.phone);
        patch!(m.job_title? = body.job_title);
        patch!(m.specialization_id? = body.specialization_id);
        patch!(m.license_number? = body.license_number);
        patch!(m.hospital_id? = body.hospital_id);
        Ok::<(), ApiError>(())
    })
    .await
}

/// Delete a practitioner (admin); 409 while patients, referrals or enrollments name them.
#[utoipa::path(delete, path = "/v1/practitioners/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_practitioner(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A practitioner's history.
#[utoipa::path(get, path = "/v1/practitioners/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_practitioner_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "practitioners", id, &page)
        .await
        .map(Json)
}
