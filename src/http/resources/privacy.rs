//! A patient's privacy, for admins: erasure of their personal data
//! (GDPR art. 17) and the log of who read it.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use sea_orm::prelude::Uuid;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{
        access_log,
        entities::{access_event, erasure},
        erasure::{EraseError, erase},
    },
    domain::Text,
    http::{
        ApiError, ApiResult, AppState,
        auth::{Admin, Caller},
        extract::{ApiJson, ApiPath, ApiQuery},
        pagination::{Page, PageParams, page},
    },
};

const TAG: &str = "patients";

crate::handler_routes!(erase_patient, get_access_log);

/// Why a person's data is erased.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The ground for erasure (e.g. the request's reference); kept with the
    /// erasure. Must not itself contain the person's data.
    pub reason: Text,
}

/// A completed erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erasure {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// The admin who erased.
    pub actor: String,
    pub reason: String,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub erased_at: DateTime<Utc>,
}

impl From<erasure::Model> for Erasure {
    fn from(m: erasure::Model) -> Self {
        Self {
            id: m.id,
            patient_id: m.patient_id,
            actor: m.actor,
            reason: m.reason,
            erased_at: m.erased_at,
        }
    }
}

/// Erase a person's personal data (admin). Names, email, phone and
/// medical condition are removed from the patient and their intake
/// submissions (and the submissions' bodies), notes from their calls,
/// reasons from their referrals, and the values of those fields from every
/// history entry. Ids, statuses and dates stay, so counts, calls,
/// referrals and enrollments stay consistent. A second erasure is a 409;
/// an erased person's record no longer accepts personal data.
#[utoipa::path(post, path = "/v1/patients/{id}/erase", tag = TAG,
    params(("id" = Uuid, Path)),
    request_body = EraseRequest,
    responses((status = 200, description = "Erased", body = Erasure)),
    security(("bearer" = ["admin"])))]
async fn erase_patient(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body, _): ApiJson<EraseRequest>,
) -> ApiResult<Json<Erasure>> {
    match erase(&state.db, &who.subject, id, body.reason.as_str()).await {
        Ok(erased) => Ok(Json(erased.erasure.into())),
        Err(EraseError::NotFound) => Err(ApiError::NotFound),
        Err(EraseError::AlreadyErased) => Err(ApiError::Conflict(
            "This person's personal data was already erased.".into(),
        )),
        Err(EraseError::Db(err)) => Err(err.into()),
    }
}

/// One read of a person's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLogEntry {
    /// The read's id (the same read lists several patients under one id).
    pub id: Uuid,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// Who read: the token's subject.
    pub actor: String,
    /// Method and route template, e.g. `GET /v1/patients/{id}`.
    pub route: String,
}

impl From<access_event::Model> for AccessLogEntry {
    fn from(m: access_event::Model) -> Self {
        Self {
            id: m.id,
            at: m.at,
            actor: m.actor,
            route: m.route,
        }
    }
}

/// Who read this person's personal data, when and how (admin), oldest
/// first. The log outlives the record: a deleted person's reads stay
/// listed, and an id never read gives an empty page.
#[utoipa::path(get, path = "/v1/patients/{id}/access-log", tag = TAG,
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<AccessLogEntry>)),
    security(("bearer" = ["admin"])))]
async fn get_access_log(
    State(state): State<AppState>,
    _: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AccessLogEntry>>> {
    let request = params.parse()?;
    // Reads still queued in the background writer are part of the answer.
    state.access_log.flush().await?;
    let listed = access_log::reads_of(&state.db, id, request).await?;
    Ok(Json(page(listed, AccessLogEntry::from)))
}
