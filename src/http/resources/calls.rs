//! `/v1/calls`: every booking with a lead or patient, kept with its outcome.
//! A call that happened (completed) or was missed (no-show) cannot go back
//! to scheduled; navigators cancel, only admins delete.

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, no_references, nullable, present};
use crate::{
    db::entities::{
        call::{self as table, Entity},
        patient,
    },
    domain::{CallStatus, Name, Text},
    http::{
        ApiError, ApiResult, AppState,
        access_log::Disclosed,
        auth::{Admin, Caller, Navigator, Personal, Redact, Viewer},
        extract::{ApiJson, ApiPath, ApiQuery},
        history::{self, HistoryEntry},
        idempotency::{Idempotency, IdempotencyKeyHeader},
        pagination::{NoOtherParams, Page, PageParams, parsed},
        versioning::{IfMatch, IfMatchHeader, Tagged, Versioned},
    },
    patch,
};

const TAG: &str = "calls";

/// A call with a lead or patient.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Call)]
pub struct View {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// The patient navigator who holds the call.
    pub navigator: Option<String>,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub scheduled_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub reminder_at: Option<DateTime<Utc>>,
    pub status: CallStatus,
    /// What was said. Personal data: omitted for the viewer role.
    #[serde(skip_serializing_if = "Personal::is_withheld")]
    #[schema(value_type = Option<String>)]
    pub notes: Personal<Option<String>>,
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
            navigator: m.navigator,
            scheduled_at: m.scheduled_at,
            reminder_at: m.reminder_at,
            status: CallStatus::from_text(&m.status).unwrap_or(CallStatus::Scheduled),
            notes: m.notes.into(),
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Redact for View {
    fn withhold_personal_data(&mut self) {
        self.notes = Personal::Withheld;
    }
}

impl Versioned for View {
    fn version(&self) -> i32 {
        self.version
    }
}

/// A new call (default status `scheduled`; a past call may be logged as
/// completed or no-show directly).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCall)]
pub struct Create {
    pub patient_id: Uuid,
    pub navigator: Option<Name>,
    pub scheduled_at: DateTime<Utc>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub status: Option<CallStatus>,
    pub notes: Option<Text>,
}

/// Changes to a call; the person it is with cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CallPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "nullable")]
    pub navigator: Option<Option<Name>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    pub reminder_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<CallStatus>,
    #[serde(default, deserialize_with = "nullable")]
    pub notes: Option<Option<Text>>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Calls with this person.
    pub patient_id: Option<Uuid>,
    /// With this status.
    pub status: Option<CallStatus>,
    /// Held by this navigator.
    pub navigator: Option<String>,
    /// Scheduled at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub scheduled_from: Option<DateTime<Utc>>,
    /// Scheduled before.
    #[serde(default, deserialize_with = "parsed")]
    pub scheduled_to: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_calls, create_call))
        .routes(routes!(get_call, update_call, delete_call))
        .routes(routes!(get_call_history))
}

/// List calls.
#[utoipa::path(get, path = "/v1/calls", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_calls(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Disclosed<Json<Page<View>>>> {
    let mut select = Entity::find();
    if let Some(id) = f.patient_id {
        select = select.filter(table::Column::PatientId.eq(id));
    }
    if let Some(status) = f.status {
        select = select.filter(table::Column::Status.eq(status.as_str()));
    }
    if let Some(navigator) = f.navigator {
        select = select.filter(table::Column::Navigator.eq(navigator.trim()));
    }
    if let Some(from) = f.scheduled_from {
        select = select.filter(table::Column::ScheduledAt.gte(from));
    }
    if let Some(to) = f.scheduled_to {
        select = select.filter(table::Column::ScheduledAt.lt(to));
    }
    let page = common::list::<Entity, View>(&state, &who, select, &f.page).await?;
    let patients: Vec<Uuid> = page.0.items.iter().map(|v| v.patient_id).collect();
    Ok(Disclosed::new(&who, patients, page))
}

/// Book or log a call (navigator).
#[utoipa::path(post, path = "/v1/calls", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn create_call(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let refs = common::exists::<patient::Entity>(&state, "/patient_id", Some(body.patient_id));
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        patient_id: Set(body.patient_id),
        navigator: Set(body.navigator.map(Into::into)),
        scheduled_at: Set(body.scheduled_at),
        reminder_at: Set(body.reminder_at),
        status: Set(body
            .status
            .unwrap_or(CallStatus::Scheduled)
            .as_str()
            .to_owned()),
        notes: Set(body.notes.map(Into::into)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model, refs).await
}

/// Read a call.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_call(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Disclosed<Tagged<View>>> {
    let view = common::get::<Entity, View>(&state, &who, id).await?;
    Ok(Disclosed::new(&who, [view.0.patient_id], view))
}

/// Change a call (navigator): reschedule, record its outcome, cancel.
#[utoipa::path(patch, path = "/v1/calls/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn update_call(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    common::update::<Entity, View>(
        &state,
        &who,
        id,
        &if_match,
        no_references(),
        |current, m| {
            if let Some(next) = body.status {
                let now = CallStatus::from_text(&current.status).unwrap_or(CallStatus::Scheduled);
                if !now.can_become(next) {
                    return Err(ApiError::Conflict(format!(
                        "A {now} call cannot become {next}."
                    )));
                }
            }
            patch!(m.navigator? = body.navigator);
            patch!(m.scheduled_at = body.scheduled_at);
            patch!(m.reminder_at? = body.reminder_at);
            patch!(m.status = body.status.map(|s| s.as_str()));
            patch!(m.notes? = body.notes);
            Ok(())
        },
    )
    .await
}

/// Delete a call (admin; navigators cancel instead).
#[utoipa::path(delete, path = "/v1/calls/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_call(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A call's history.
#[utoipa::path(get, path = "/v1/calls/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["navigator"])))]
async fn get_call_history(
    State(state): State<AppState>,
    _: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "calls", id, &page).await.map(Json)
}
