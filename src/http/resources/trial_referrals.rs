//! `/v1/trial-referrals`: a converted patient referred to a clinical trial,
//! with a physician (by default the patient's). One referral per patient and
//! trial; `ineligible_reason` is required exactly when the patient is
//! ineligible (checked here and by the schema).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, Writes};
use crate::{
    db::entities::{
        clinical_trial,
        trial_referral::{self as table, Entity},
    },
    domain::{Eligibility, PatientStatus, PractitionerKind, ReferralOutcome, Text},
    http::{ApiError, ApiResult, AppState},
};

const TAG: &str = "trial-referrals";

crate::view! {
    /// A patient's referral to a trial.
    pub struct View as TrialReferral from table::Model: versioned, about patient_id {
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

crate::changes! {
    /// Changes to a referral; its patient and trial cannot change.
    pub struct Patch as TrialReferralPatch for Entity {
        physician_id: Uuid,
        referred_at: DateTime<Utc> | null,
        eligibility: Eligibility,
        /// Required exactly when the resulting eligibility is `ineligible`.
        ineligible_reason: Text | null,
        outcome: ReferralOutcome,
    }
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
        self.write(m);
        if clears_reason {
            m.ineligible_reason = Set(None);
        }
        Ok(())
    }
}

crate::list_filters! {
    entity: Entity, versioned, dates {
        referred_at (referred_from, referred_to): table::Column::ReferredAt,
    };
    /// Of this patient.
    patient_id: Uuid => eq table::Column::PatientId;
    /// To this trial.
    trial_id: Uuid => eq table::Column::TrialId;
    /// By this physician.
    physician_id: Uuid => eq table::Column::PhysicianId;
    /// With this eligibility.
    eligibility: Eligibility => eq table::Column::Eligibility;
    /// With this outcome. Awaiting an eligibility decision:
    /// `eligibility=pending`; awaiting an outcome: `eligibility=eligible&outcome=pending`.
    outcome: ReferralOutcome => eq table::Column::Outcome;
}
