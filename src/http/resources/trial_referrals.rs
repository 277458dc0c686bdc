//! `/v1/trial-referrals`: a converted patient referred to a clinical trial,
//! with a physician (by default the patient's). One referral per patient and
//! trial; `ineligible_reason` is required exactly when the patient is
//! ineligible (checked here and by the schema).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, Select, prelude::Uuid};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::common::{self, Change, Filter, NewRecord, References, nullable, present};
use crate::db::store::DateOrder;
use crate::{
    db::entities::{
        clinical_trial,
        trial_referral::{self as table, Entity},
    },
    domain::{Eligibility, PatientStatus, PractitionerKind, ReferralOutcome, Text},
    http::{
        ApiError, ApiResult, AppState,
        pagination::{NoOtherParams, PageParams, parsed},
    },
    patch,
};

const TAG: &str = "trial-referrals";

crate::view! {
    /// A patient's referral to a trial.
    pub struct View as TrialReferral: versioned, about patient_id {
        operational id: Uuid,
        operational patient_id: Uuid,
        operational trial_id: Uuid,
        /// Empty only on records imported from the CRM, which did not require one.
        operational physician_id: Option<Uuid>,
        /// Imported from the legacy CRM.
        operational imported: bool,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational referred_at: Option<DateTime<Utc>>,
        operational eligibility: Eligibility,
        /// Why the patient is ineligible (often medical).
        health ineligible_reason: Option<String>,
        operational outcome: ReferralOutcome,
        operational version: i32,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational created_at: DateTime<Utc>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational updated_at: DateTime<Utc>,
    }
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
            eligibility: m.eligibility,
            ineligible_reason: m.ineligible_reason,
            outcome: m.outcome,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "trial-referrals";
    /// List referrals.
    list_trial_referrals: list(Filters) for "viewer";
    /// Refer a converted patient to a trial (navigator).
    create_trial_referral: create(Create) for "navigator";
    /// Read a referral.
    get_trial_referral: read for "viewer";
    /// Change a referral (navigator): eligibility, reason, outcome, physician.
    update_trial_referral: update(Patch) for "navigator";
    /// Delete a referral (admin).
    delete_trial_referral: delete for "admin";
    /// A referral's history.
    get_trial_referral_history: history for "viewer";
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

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let eligibility = self.eligibility.unwrap_or(Eligibility::Pending);
        check_reason(eligibility, self.ineligible_reason.is_some())?;
        let refs = Box::pin(common::exists::<clinical_trial::Entity>(
            state,
            "/trial_id",
            Some(self.trial_id),
        ));
        let physician_id =
            common::journey_physician(state, self.patient_id, self.physician_id).await?;
        let row = table::ActiveModel {
            patient_id: Set(self.patient_id),
            patient_status: Set(PatientStatus::Patient),
            trial_id: Set(self.trial_id),
            physician_id: Set(Some(physician_id)),
            physician_kind: Set(PractitionerKind::Physician),
            imported: Set(false),
            referred_at: Set(Some(self.referred_at.unwrap_or_else(Utc::now))),
            eligibility: Set(eligibility),
            ineligible_reason: Set(self.ineligible_reason.map(Into::into)),
            outcome: Set(self.outcome.unwrap_or(ReferralOutcome::Pending)),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, refs))
    }
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

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        Box::pin(common::physician(state, "/physician_id", self.physician_id))
    }

    fn apply(self, current: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        let eligibility = self.eligibility.unwrap_or(current.eligibility);
        let has_reason = self
            .ineligible_reason
            .as_ref()
            .map_or(current.ineligible_reason.is_some(), Option::is_some);
        // Leaving ineligibility clears the reason unless the body sets one.
        let clears_reason = eligibility != Eligibility::Ineligible
            && self.ineligible_reason.is_none()
            && current.ineligible_reason.is_some();
        check_reason(eligibility, has_reason && !clears_reason)?;
        patch!(m.physician_id = self.physician_id.map(Some));
        patch!(m.referred_at? = self.referred_at);
        patch!(m.eligibility = self.eligibility);
        patch!(m.ineligible_reason? = self.ineligible_reason);
        if clears_reason {
            m.ineligible_reason = Set(None);
        }
        patch!(m.outcome = self.outcome);
        Ok(())
    }
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
    /// With this outcome. Awaiting an eligibility decision:
    /// `eligibility=pending`; awaiting an outcome: `eligibility=eligible&outcome=pending`.
    pub outcome: Option<ReferralOutcome>,
    /// Referred at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub referred_from: Option<DateTime<Utc>>,
    /// Referred before.
    #[serde(default, deserialize_with = "parsed")]
    pub referred_to: Option<DateTime<Utc>>,
    /// Created at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    #[serde(default, deserialize_with = "parsed")]
    pub created_to: Option<DateTime<Utc>>,
    /// Changed at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub updated_from: Option<DateTime<Utc>>,
    /// Changed before.
    #[serde(default, deserialize_with = "parsed")]
    pub updated_to: Option<DateTime<Utc>>,
    /// Order by a date, oldest first, or newest first after `-`
    /// (`-referred_at`); referrals without that date are not listed.
    /// Default: creation order.
    #[param(pattern = "^-?(referred_at|created_at|updated_at)$")]
    pub sort: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

impl Filter<Entity> for Filters {
    fn page(&self) -> &PageParams {
        &self.page
    }

    fn order(&self) -> ApiResult<Option<DateOrder<table::Column>>> {
        use table::Column::*;
        common::date_order(
            self.sort.as_deref(),
            &[
                ("referred_at", ReferredAt),
                ("created_at", CreatedAt),
                ("updated_at", UpdatedAt),
            ],
        )
    }

    fn select(self, mut select: Select<Entity>) -> ApiResult<Select<Entity>> {
        if let Some(id) = self.patient_id {
            select = select.filter(table::Column::PatientId.eq(id));
        }
        if let Some(id) = self.trial_id {
            select = select.filter(table::Column::TrialId.eq(id));
        }
        if let Some(id) = self.physician_id {
            select = select.filter(table::Column::PhysicianId.eq(id));
        }
        if let Some(eligibility) = self.eligibility {
            select = select.filter(table::Column::Eligibility.eq(eligibility));
        }
        if let Some(outcome) = self.outcome {
            select = select.filter(table::Column::Outcome.eq(outcome));
        }
        use table::Column::{CreatedAt, ReferredAt, UpdatedAt};
        select = common::between(select, ReferredAt, self.referred_from, self.referred_to);
        select = common::between(select, CreatedAt, self.created_from, self.created_to);
        select = common::between(select, UpdatedAt, self.updated_from, self.updated_to);
        Ok(select)
    }
}
