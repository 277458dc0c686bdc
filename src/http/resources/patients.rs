//! `/v1/patients`: one record per person, lead or patient. The status is
//! read-only here: it changes only through conversion. A person must stay
//! reachable (email or phone), their email is unique (normalised), and their
//! physician must be a practitioner of kind physician.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    prelude::Uuid,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, nullable};
use crate::{
    db::entities::{
        call, eap_enrollment, intake_submission, medical_condition,
        patient::{self as table, Entity},
        practitioner, trial_referral,
    },
    domain::{CallStatus, Email, Name, PatientStatus, Phone},
    http::{
        ApiError, ApiResult, AppState,
        access_log::Disclosed,
        auth::{Admin, Caller, Navigator, PERSONAL_DATA, Personal, Redact, Viewer},
        error::Problem,
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
    /// Personal data: omitted for the viewer role.
    #[serde(skip_serializing_if = "Personal::is_withheld")]
    #[schema(value_type = Option<String>)]
    pub first_name: Personal<Option<String>>,
    /// Personal data: omitted for the viewer role.
    #[serde(skip_serializing_if = "Personal::is_withheld")]
    #[schema(value_type = Option<String>)]
    pub last_name: Personal<Option<String>>,
    /// Personal data: omitted for the viewer role.
    #[serde(skip_serializing_if = "Personal::is_withheld")]
    #[schema(value_type = Option<String>)]
    pub email: Personal<Option<String>>,
    /// Personal data: omitted for the viewer role.
    #[serde(skip_serializing_if = "Personal::is_withheld")]
    #[schema(value_type = Option<String>)]
    pub phone: Personal<Option<String>>,
    pub medical_condition_id: Option<Uuid>,
    pub physician_id: Option<Uuid>,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub first_contact_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub initial_consult_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub converted_at: Option<DateTime<Utc>>,
    /// When the person's personal data was erased; the record then keeps
    /// only ids, statuses and dates, and takes no personal data.
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub erased_at: Option<DateTime<Utc>>,
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
            status: PatientStatus::from_text(&m.status).unwrap_or(PatientStatus::Lead),
            first_name: m.first_name.into(),
            last_name: m.last_name.into(),
            email: m.email.into(),
            phone: m.phone.into(),
            medical_condition_id: m.medical_condition_id,
            physician_id: m.physician_id,
            first_contact_at: m.first_contact_at,
            initial_consult_at: m.initial_consult_at,
            converted_at: m.converted_at,
            erased_at: m.erased_at,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Redact for View {
    fn withhold_personal_data(&mut self) {
        self.first_name = Personal::Withheld;
        self.last_name = Personal::Withheld;
        self.email = Personal::Withheld;
        self.phone = Personal::Withheld;
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
    /// Exact email (trimmed, case-insensitive); navigator and above.
    pub email: Option<String>,
    /// With this medical condition.
    pub medical_condition_id: Option<Uuid>,
    /// With this physician.
    pub physician_id: Option<Uuid>,
    /// Name search: every word must start or appear in the first or last name (case-insensitive); navigator and above.
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
        .routes(routes!(convert_patient))
}

/// What `include=` may name on a patient's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Include {
    Calls,
    Submissions,
    Referrals,
    Enrollments,
    Physician,
}

/// Parameters of a patient's read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadParams {
    /// Related records to embed, comma-separated: `calls`, `submissions`,
    /// `referrals`, `enrollments`, `physician` (up to 200 of each, oldest first).
    #[param(
        pattern = "^(calls|submissions|referrals|enrollments|physician)(,(calls|submissions|referrals|enrollments|physician))*$"
    )]
    pub include: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

impl ReadParams {
    fn includes(&self) -> ApiResult<Vec<Include>> {
        let Some(list) = &self.include else {
            return Ok(vec![]);
        };
        list.split(',')
            .map(|name| match name.trim() {
                "calls" => Ok(Include::Calls),
                "submissions" => Ok(Include::Submissions),
                "referrals" => Ok(Include::Referrals),
                "enrollments" => Ok(Include::Enrollments),
                "physician" => Ok(Include::Physician),
                _ => Err(ApiError::BadRequest(
                    "The query string is invalid.".into(),
                    vec![crate::http::error::FieldError::new(
                        "include",
                        "may name only calls, submissions, referrals, enrollments, physician",
                    )],
                )),
            })
            .collect()
    }
}

/// A patient with the related records `include=` asked for: a portal's
/// whole patient page in one request.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PatientWithIncludes)]
pub struct WithIncludes {
    #[serde(flatten)]
    pub patient: View,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<Vec<super::calls::View>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submissions: Option<Vec<super::intake_submissions::View>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrals: Option<Vec<super::trial_referrals::View>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollments: Option<Vec<super::eap_enrollments::View>>,
    /// The physician, or null when the patient has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physician: Option<Option<super::practitioners::View>>,
}

impl Redact for WithIncludes {
    fn withhold_personal_data(&mut self) {
        self.patient.withhold_personal_data();
        self.calls.withhold_personal_data();
        self.submissions.withhold_personal_data();
        self.referrals.withhold_personal_data();
        self.enrollments.withhold_personal_data();
        if let Some(physician) = &mut self.physician {
            physician.withhold_personal_data();
        }
    }
}

impl Versioned for WithIncludes {
    fn version(&self) -> i32 {
        self.patient.version
    }
}

/// Up to 200 of a patient's related records, oldest first.
async fn related<E, V>(state: &AppState, column: E::Column, patient_id: Uuid) -> ApiResult<Vec<V>>
where
    E: crate::db::store::Record,
    E::Model: Sync,
    V: From<E::Model>,
{
    let page = crate::db::store::PageRequest {
        limit: 200,
        after: None,
        count: false,
    };
    let listed =
        crate::db::store::list(&state.db, E::find().filter(column.eq(patient_id)), page).await?;
    Ok(listed.items.into_iter().map(V::from).collect())
}

/// List leads and patients. Filtering by `email` or `q` (name) needs the
/// navigator role: it would tell a viewer whether a person is a patient.
#[utoipa::path(get, path = "/v1/patients", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>),
        (status = 403, description = "A viewer filtered by email or name", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = ["viewer"])))]
async fn list_patients(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Disclosed<Json<Page<View>>>> {
    // Looking a person up by email or name would tell a viewer whether
    // they are a patient: personal data.
    if (f.email.is_some() || f.q.is_some()) && !who.role.allows(PERSONAL_DATA) {
        return Err(ApiError::Forbidden);
    }
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
    let page = common::list::<Entity, View>(&state, &who, select, &f.page).await?;
    let ids: Vec<Uuid> = page.0.items.iter().map(|p| p.id).collect();
    Ok(Disclosed::new(&who, ids, page))
}

/// What a lead's body names, checked only when the database refuses it: its
/// medical condition and its physician (who must be one).
async fn references(
    state: &AppState,
    condition: Option<Uuid>,
    physician: Option<Uuid>,
) -> ApiResult<()> {
    common::exists::<medical_condition::Entity>(state, "/medical_condition_id", condition).await?;
    common::physician(state, "/physician_id", physician).await
}

/// Create a lead (navigator).
#[utoipa::path(post, path = "/v1/patients", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn create_patient(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Disclosed<Response>> {
    if body.email.is_none() && body.phone.is_none() {
        return Err(ApiError::invalid(
            "/email",
            "an email or a phone number is required",
        ));
    }
    let refs = references(&state, body.medical_condition_id, body.physician_id);
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
        erased_at: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created =
        common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model, refs);
    Ok(Disclosed::new(&who, [id], created.await?))
}

/// Read a lead or patient, with `include=` their calls, submissions,
/// referrals, enrollments and physician.
#[utoipa::path(get, path = "/v1/patients/{id}", tag = TAG, params(("id" = Uuid, Path), ReadParams),
    responses((status = 200, body = WithIncludes, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_patient(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> ApiResult<Disclosed<Tagged<WithIncludes>>> {
    let includes = params.includes()?;
    let Tagged(patient) = common::get::<Entity, View>(&state, &who, id).await?;
    let mut page = WithIncludes {
        patient,
        calls: None,
        submissions: None,
        referrals: None,
        enrollments: None,
        physician: None,
    };
    for include in includes {
        match include {
            Include::Calls => {
                page.calls =
                    Some(related::<call::Entity, _>(&state, call::Column::PatientId, id).await?)
            }
            Include::Submissions => {
                page.submissions = Some(
                    related::<intake_submission::Entity, _>(
                        &state,
                        intake_submission::Column::PatientId,
                        id,
                    )
                    .await?,
                )
            }
            Include::Referrals => {
                page.referrals = Some(
                    related::<trial_referral::Entity, _>(
                        &state,
                        trial_referral::Column::PatientId,
                        id,
                    )
                    .await?,
                )
            }
            Include::Enrollments => {
                page.enrollments = Some(
                    related::<eap_enrollment::Entity, _>(
                        &state,
                        eap_enrollment::Column::PatientId,
                        id,
                    )
                    .await?,
                )
            }
            Include::Physician => {
                let physician = match page.patient.physician_id {
                    Some(pid) => practitioner::Entity::find_by_id(pid)
                        .one(&state.db)
                        .await?
                        .map(Into::into),
                    None => None,
                };
                page.physician = Some(physician);
            }
        }
    }
    Ok(Disclosed::new(&who, [id], Tagged(page.for_role(who.role))))
}

/// Convert a lead into a patient (navigator), after at least one completed
/// call. Sets `converted_at` and, if empty, `initial_consult_at` from the
/// earliest completed call. A second conversion is a 409.
#[utoipa::path(post, path = "/v1/patients/{id}/convert", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 200, description = "Converted", body = View, headers(("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn convert_patient(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<Disclosed<Tagged<View>>> {
    let tx = crate::db::begin_write(&state.db).await?;
    let current = crate::db::store::find_for_update::<Entity>(&tx, id).await?;
    if_match.check(current.version)?;
    if current.status == PatientStatus::Patient.as_str() {
        return Err(ApiError::Conflict(
            "The patient is already converted.".into(),
        ));
    }
    let first_completed = call::Entity::find()
        .filter(call::Column::PatientId.eq(id))
        .filter(call::Column::Status.eq(CallStatus::Completed.as_str()))
        .order_by_asc(call::Column::ScheduledAt)
        .one(&tx)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict("A lead is converted only after at least one completed call.".into())
        })?;
    let mut changes = current.clone().into_active_model();
    changes.status = Set(PatientStatus::Patient.as_str().to_owned());
    changes.converted_at = Set(Some(Utc::now()));
    if current.initial_consult_at.is_none() {
        changes.initial_consult_at = Set(Some(first_completed.scheduled_at));
    }
    // The row is locked since it was read: a concurrent conversion waits,
    // then finds the patient converted (409 above).
    let converted =
        crate::db::store::update::<Entity>(&tx, &who.subject, &current, changes).await?;
    tx.commit().await?;
    Ok(Disclosed::new(&who, [id], Tagged(converted.into())))
}

/// Change a lead or patient (navigator).
#[utoipa::path(patch, path = "/v1/patients/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn update_patient(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Disclosed<Tagged<View>>> {
    let refs = references(
        &state,
        body.medical_condition_id.flatten(),
        body.physician_id.flatten(),
    );
    let updated =
        common::update::<Entity, View>(&state, &who, id, &if_match, refs, |current, m| {
            if current.erased_at.is_some() {
                return Err(ApiError::Conflict(
                    "This person's personal data was erased; the record takes no changes.".into(),
                ));
            }
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
        })
        .await?;
    Ok(Disclosed::new(&who, [id], updated))
}

/// Delete a lead or patient (admin); 409 while calls, submissions,
/// referrals or enrollments refer to them.
#[utoipa::path(delete, path = "/v1/patients/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_patient(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A lead's or patient's history.
#[utoipa::path(get, path = "/v1/patients/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["navigator"])))]
async fn get_patient_history(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Disclosed<Json<Page<HistoryEntry>>>> {
    let history = history::list(&state, "patients", id, &page).await?;
    Ok(Disclosed::new(&who, [id], Json(history)))
}
