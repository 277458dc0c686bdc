//! `/v1/patients`: one record per person, lead or patient. The status is
//! read-only here: it changes only through conversion. A person must stay
//! reachable (email or phone), their email is unique (normalised), and their
//! physician must be a practitioner of kind physician.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, QueryFilter,
    prelude::Uuid,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, nullable};
use crate::{
    db::entities::{
        medical_condition,
        patient::{self as table, Entity},
    },
    domain::{Email, Name, PatientStatus, Phone, Role},
    http::{
        ApiError, ApiResult, AppState, Principal,
        extract::{ApiJson, ApiPath, ApiQuery},
        history::{self, HistoryEntry},
        idempotency::{Idempotency, IdempotencyKeyHeader},
        pagination::{NoOtherParams, Page, PageParams},
        versioning::{IfMatch, IfMatchHeader, Tagged, Versioned},
    },
    patch,
};

const TAG: &str = "patients";

/// A lead or patient.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Patient)]
pub struct View {
    pub id: Uuid,
    pub status: PatientStatus,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub medical_condition_id: Option<Uuid>,
    pub physician_id: Option<Uuid>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub initial_consult_at: Option<DateTime<Utc>>,
    pub converted_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<table::Model> for View {
    fn from(m: table::Model) -> Self {
        Self {
            id: m.id,
            status: PatientStatus::from_text(&m.status).unwrap_or(PatientStatus::Lead),
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            medical_condition_id: m.medical_condition_id,
            physician_id: m.physician_id,
            first_contact_at: m.first_contact_at,
            initial_consult_at: m.initial_consult_at,
            converted_at: m.converted_at,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Versioned for View {
    fn version(&self) -> i32 {
        self.version
    }
}

/// A new lead (email or phone required). Status and conversion are not
/// set here: every person starts as a lead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPatient)]
pub struct Create {
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub medical_condition_id: Option<Uuid>,
    pub physician_id: Option<Uuid>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub initial_consult_at: Option<DateTime<Utc>>,
}

/// Changes to a lead or patient; `null` clears a field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PatientPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: Option<Option<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: Option<Option<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<Email>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<Phone>>,
    #[serde(default, deserialize_with = "nullable")]
    pub medical_condition_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    pub physician_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    pub first_contact_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub initial_consult_at: Option<Option<DateTime<Utc>>>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Leads or patients.
    pub status: Option<PatientStatus>,
    /// Exact email (trimmed, case-insensitive).
    pub email: Option<String>,
    /// With this medical condition.
    pub medical_condition_id: Option<Uuid>,
    /// With this physician.
    pub physician_id: Option<Uuid>,
    /// Name search: every word must start or appear in the first or last name (case-insensitive).
    #[param(max_length = 200)]
    pub q: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_patients, create_patient))
        .routes(routes!(get_patient, update_patient, delete_patient))
        .routes(routes!(get_patient_history))
}

/// List leads and patients.
#[utoipa::path(get, path = "/v1/patients", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = [])))]
async fn list_patients(
    State(state): State<AppState>,
    who: Principal,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(status) = f.status {
        select = select.filter(table::Column::Status.eq(status.as_str()));
    }
    if let Some(email) = f.email {
        select = select.filter(table::Column::Email.eq(email.trim().to_lowercase()));
    }
    if let Some(id) = f.medical_condition_id {
        select = select.filter(table::Column::MedicalConditionId.eq(id));
    }
    if let Some(id) = f.physician_id {
        select = select.filter(table::Column::PhysicianId.eq(id));
    }
    if let Some(q) = f.q {
        if q.chars().count() > 200 {
            return Err(ApiError::BadRequest(
                "The query string is invalid.".into(),
                vec![crate::http::error::FieldError::new(
                    "q",
                    "must be at most 200 characters",
                )],
            ));
        }
        for word in q.split_whitespace() {
            let pattern = format!(
                "%{}%",
                word.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            let like = |column: table::Column| {
                Expr::expr(Func::lower(Expr::col(column)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            select = select.filter(
                Condition::any()
                    .add(like(table::Column::FirstName))
                    .add(like(table::Column::LastName)),
            );
        }
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Create a lead (navigator).
#[utoipa::path(post, path = "/v1/patients", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = [])))]
async fn create_patient(
    State(state): State<AppState>,
    who: Principal,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    who.require(Role::Navigator)?;
    if body.email.is_none() && body.phone.is_none() {
        return Err(ApiError::invalid(
            "/email",
            "an email or a phone number is required",
        ));
    }
    common::referenced::<medical_condition::Entity>(
        &state,
        "/medical_condition_id",
        body.medical_condition_id,
    )
    .await?;
    common::physician(&state, "/physician_id", body.physician_id).await?;
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        status: Set(PatientStatus::Lead.as_str().to_owned()),
        first_name: Set(body.first_name.map(Into::into)),
        last_name: Set(body.last_name.map(Into::into)),
        email: Set(body.email.map(Into::into)),
        phone: Set(body.phone.map(Into::into)),
        medical_condition_id: Set(body.medical_condition_id),
        physician_id: Set(body.physician_id),
        physician_kind: Set("physician".to_owned()),
        first_contact_at: Set(Some(body.first_contact_at.unwrap_or(now))),
        initial_consult_at: Set(body.initial_consult_at),
        converted_at: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model).await
}

/// Read a lead or patient.
#[utoipa::path(get, path = "/v1/patients/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = [])))]
async fn get_patient(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a lead or patient (navigator).
#[utoipa::path(patch, path = "/v1/patients/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = [])))]
async fn update_patient(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    who.require(Role::Navigator)?;
    common::referenced::<medical_condition::Entity>(
        &state,
        "/medical_condition_id",
        body.medical_condition_id.flatten(),
    )
    .await?;
    common::physician(&state, "/physician_id", body.physician_id.flatten()).await?;
    common::update::<Entity, View>(
        &state,
        &who,
        Role::Navigator,
        id,
        &if_match,
        |current, m| {
            let email = body
                .email
                .as_ref()
                .map_or(current.email.is_some(), Option::is_some);
            let phone = body
                .phone
                .as_ref()
                .map_or(current.phone.is_some(), Option::is_some);
            if !email && !phone {
                return Err(ApiError::invalid(
                    "/email",
                    "an email or a phone number is required",
                ));
            }
            patch!(m.first_name? = body.first_name);
            patch!(m.last_name? = body.last_name);
            patch!(m.email? = body.email);
            patch!(m.phone? = body.phone);
            patch!(m.medical_condition_id? = body.medical_condition_id);
            patch!(m.physician_id? = body.physician_id);
            patch!(m.first_contact_at? = body.first_contact_at);
            patch!(m.initial_consult_at? = body.initial_consult_at);
            Ok(())
        },
    )
    .await
}

/// Delete a lead or patient (admin); 409 while calls, submissions,
/// referrals or enrollments refer to them.
#[utoipa::path(delete, path = "/v1/patients/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = [])))]
async fn delete_patient(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A lead's or patient's history.
#[utoipa::path(get, path = "/v1/patients/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = [])))]
async fn get_patient_history(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    who.require(Role::Viewer)?;
    history::list(&state, "patients", id, &page).await.map(Json)
}
