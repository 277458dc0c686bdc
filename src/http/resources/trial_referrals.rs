//! `/v1/trial-referrals`: a converted patient referred to a clinical trial,
//! with a physician (by default the patient's). One referral per patient and
//! trial; `ineligible_reason` is required exactly when the patient is
//! ineligible (checked here and by the schema).

use axum::{Json, extract::State, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common::{self, nullable, present};
use crate::{
    db::entities::{
        clinical_trial,
        trial_referral::{self as table, Entity},
    },
    domain::{Eligibility, ReferralOutcome, Text},
    http::{
        ApiError, ApiResult, AppState,
        auth::{Admin, Caller, Navigator, Personal, Redact, Viewer},
        extract::{ApiJson, ApiPath, ApiQuery},
        history::{self, HistoryEntry},
        idempotency::{Idempotency, IdempotencyKeyHeader},
        pagination::{NoOtherParams, Page, PageParams},
        versioning::{IfMatch, IfMatchHeader, Tagged, Versioned},
    },
    patch,
};

const TAG: &str = "trial-referrals";

/// A patient's referral to a trial.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TrialReferral)]
pub struct View {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub trial_id: Uuid,
    /// Empty only on records imported from the CRM, which did not require one.
    pub physician_id: Option<Uuid>,
    /// Imported from the legacy CRM.
    pub imported: bool,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub referred_at: Option<DateTime<Utc>>,
    pub eligibility: Eligibility,
    /// Why the patient is ineligible (often medical). Personal data:
    /// omitted for the viewer role.
    #[serde(skip_serializing_if = "Personal::is_withheld")]
    #[schema(value_type = Option<String>)]
    pub ineligible_reason: Personal<Option<String>>,
    pub outcome: ReferralOutcome,
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
            trial_id: m.trial_id,
            physician_id: m.physician_id,
            imported: m.imported,
            referred_at: m.referred_at,
            eligibility: Eligibility::from_text(&m.eligibility).unwrap_or(Eligibility::Pending),
            ineligible_reason: m.ineligible_reason.into(),
            outcome: ReferralOutcome::from_text(&m.outcome).unwrap_or(ReferralOutcome::Pending),
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Redact for View {
    fn withhold_personal_data(&mut self) {
        self.ineligible_reason = Personal::Withheld;
    }
}

impl Versioned for View {
    fn version(&self) -> i32 {
        self.version
    }
}

/// A new referral (defaults: referred now, eligibility and outcome
/// `pending`, the patient's physician).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewTrialReferral)]
pub struct Create {
    pub patient_id: Uuid,
    pub trial_id: Uuid,
    pub physician_id: Option<Uuid>,
    pub referred_at: Option<DateTime<Utc>>,
    pub eligibility: Option<Eligibility>,
    /// Required exactly when `eligibility` is `ineligible`.
    pub ineligible_reason: Option<Text>,
    pub outcome: Option<ReferralOutcome>,
}

/// Changes to a referral; its patient and trial cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TrialReferralPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub physician_id: Option<Uuid>,
    #[serde(default, deserialize_with = "nullable")]
    pub referred_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub eligibility: Option<Eligibility>,
    /// Required exactly when the resulting eligibility is `ineligible`.
    #[serde(default, deserialize_with = "nullable")]
    pub ineligible_reason: Option<Option<Text>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub outcome: Option<ReferralOutcome>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Of this patient.
    pub patient_id: Option<Uuid>,
    /// To this trial.
    pub trial_id: Option<Uuid>,
    /// By this physician.
    pub physician_id: Option<Uuid>,
    /// With this eligibility.
    pub eligibility: Option<Eligibility>,
    /// With this outcome.
    pub outcome: Option<ReferralOutcome>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

/// `ineligible_reason` must be present exactly when ineligible.
fn check_reason(eligibility: Eligibility, has_reason: bool) -> ApiResult<()> {
    match (eligibility == Eligibility::Ineligible, has_reason) {
        (true, false) => Err(ApiError::invalid(
            "/ineligible_reason",
            "is required when eligibility is ineligible",
        )),
        (false, true) => Err(ApiError::invalid(
            "/ineligible_reason",
            "is only allowed when eligibility is ineligible",
        )),
        _ => Ok(()),
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_trial_referrals, create_trial_referral))
        .routes(routes!(
            get_trial_referral,
            update_trial_referral,
            delete_trial_referral
        ))
        .routes(routes!(get_trial_referral_history))
}

/// List referrals.
#[utoipa::path(get, path = "/v1/trial-referrals", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_trial_referrals(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Json<Page<View>>> {
    let mut select = Entity::find();
    if let Some(id) = f.patient_id {
        select = select.filter(table::Column::PatientId.eq(id));
    }
    if let Some(id) = f.trial_id {
        select = select.filter(table::Column::TrialId.eq(id));
    }
    if let Some(id) = f.physician_id {
        select = select.filter(table::Column::PhysicianId.eq(id));
    }
    if let Some(eligibility) = f.eligibility {
        select = select.filter(table::Column::Eligibility.eq(eligibility.as_str()));
    }
    if let Some(outcome) = f.outcome {
        select = select.filter(table::Column::Outcome.eq(outcome.as_str()));
    }
    common::list::<Entity, View>(&state, &who, select, &f.page).await
}

/// Refer a converted patient to a trial (navigator).
#[utoipa::path(post, path = "/v1/trial-referrals", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = View, headers(("Location" = String), ("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn create_trial_referral(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    idempotency: Idempotency,
    ApiJson(body, digest): ApiJson<Create>,
) -> ApiResult<Response> {
    let eligibility = body.eligibility.unwrap_or(Eligibility::Pending);
    check_reason(eligibility, body.ineligible_reason.is_some())?;
    let refs = common::exists::<clinical_trial::Entity>(&state, "/trial_id", Some(body.trial_id));
    let physician_id =
        common::journey_physician(&state, body.patient_id, body.physician_id).await?;
    let (id, now) = common::new_record();
    let model = table::ActiveModel {
        id: Set(id),
        patient_id: Set(body.patient_id),
        patient_status: Set("patient".to_owned()),
        trial_id: Set(body.trial_id),
        physician_id: Set(Some(physician_id)),
        physician_kind: Set("physician".to_owned()),
        imported: Set(false),
        referred_at: Set(Some(body.referred_at.unwrap_or(now))),
        eligibility: Set(eligibility.as_str().to_owned()),
        ineligible_reason: Set(body.ineligible_reason.map(Into::into)),
        outcome: Set(body
            .outcome
            .unwrap_or(ReferralOutcome::Pending)
            .as_str()
            .to_owned()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    common::create::<Entity, View>(&state, &who.subject, &idempotency, &digest, model, refs).await
}

/// Read a referral.
#[utoipa::path(get, path = "/v1/trial-referrals/{id}", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_trial_referral(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Tagged<View>> {
    common::get::<Entity, View>(&state, &who, id).await
}

/// Change a referral (navigator): eligibility, reason, outcome, physician.
#[utoipa::path(patch, path = "/v1/trial-referrals/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader), request_body = Patch,
    responses((status = 200, body = View, headers(("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn update_trial_referral(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(body, _): ApiJson<Patch>,
) -> ApiResult<Tagged<View>> {
    let refs = common::physician(&state, "/physician_id", body.physician_id);
    common::update::<Entity, View>(&state, &who, id, &if_match, refs, |current, m| {
        let eligibility = body.eligibility.unwrap_or(
            Eligibility::from_text(&current.eligibility).unwrap_or(Eligibility::Pending),
        );
        let has_reason = body
            .ineligible_reason
            .as_ref()
            .map_or(current.ineligible_reason.is_some(), Option::is_some);
        // Leaving ineligibility clears the reason unless the body sets one.
        let clears_reason = eligibility != Eligibility::Ineligible
            && body.ineligible_reason.is_none()
            && current.ineligible_reason.is_some();
        check_reason(eligibility, has_reason && !clears_reason)?;
        patch!(m.physician_id = body.physician_id.map(Some));
        patch!(m.referred_at? = body.referred_at);
        patch!(m.eligibility = body.eligibility.map(|e| e.as_str()));
        patch!(m.ineligible_reason? = body.ineligible_reason);
        if clears_reason {
            m.ineligible_reason = Set(None);
        }
        patch!(m.outcome = body.outcome.map(|o| o.as_str()));
        Ok(())
    })
    .await
}

/// Delete a referral (admin).
#[utoipa::path(delete, path = "/v1/trial-referrals/{id}", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"])))]
async fn delete_trial_referral(
    State(state): State<AppState>,
    who: Caller<Admin>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    common::delete::<Entity>(&state, &who, id, &if_match).await
}

/// A referral's history.
#[utoipa::path(get, path = "/v1/trial-referrals/{id}/history", tag = TAG, params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<HistoryEntry>)), security(("bearer" = ["viewer"])))]
async fn get_trial_referral_history(
    State(state): State<AppState>,
    _: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    history::list(&state, "trial-referrals", id, &page)
        .await
        .map(Json)
}
