//! `/v1/clinical-trials`: the trials patients are referred to (reference
//! data, admin writes). The registry id (e.g. an NCT number) is unique.

use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References};
use crate::{
    db::entities::clinical_trial::{self as table, Entity},
    domain::{Name, RegistryId, TrialStatus},
    http::{ApiResult, AppState},
};

const TAG: &str = "clinical-trials";

crate::view! {
    /// A clinical trial.
    pub struct View as ClinicalTrial from table::Model: versioned {
        operational id: Uuid,
        reference registry_id: String,
        reference title: Option<String>,
        reference medical_condition_id: Option<Uuid>,
        reference status: TrialStatus,
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "clinical-trials";
    /// List trials.
    list_clinical_trials: list(Filters) for "viewer";
    /// Create a trial (admin).
    create_clinical_trial: create(Create) for "admin";
    /// Read a trial.
    get_clinical_trial: read for "viewer";
    /// Change a trial (admin).
    update_clinical_trial: update(Patch) for "admin";
    /// Delete a trial (admin); 409 while referrals refer to it.
    delete_clinical_trial: delete for "admin";
    /// A trial's history.
    get_clinical_trial_history: history for "viewer";
}

/// A new trial (default status `recruiting`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewClinicalTrial)]
pub struct Create {
    pub registry_id: RegistryId,
    pub title: Option<Name>,
    pub medical_condition_id: Option<Uuid>,
    pub status: Option<TrialStatus>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let refs = common::condition(state, self.medical_condition_id);
        let row = table::ActiveModel {
            registry_id: Set(self.registry_id.into()),
            title: Set(self.title.map(Into::into)),
            medical_condition_id: Set(self.medical_condition_id),
            status: Set(self.status.unwrap_or(TrialStatus::Recruiting)),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, refs))
    }
}

crate::changes! {
    /// Changes to a trial.
    pub struct Patch as ClinicalTrialPatch for Entity {
        registry_id: RegistryId,
        title: Name | null,
        medical_condition_id: Uuid | null,
        status: TrialStatus,
    }
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        common::condition(state, self.medical_condition_id.flatten())
    }
}

crate::list_filters! {
    entity: Entity, versioned;
    /// Exact registry id (trimmed, case-insensitive).
    registry_id: String => eq table::Column::RegistryId | common::code;
    /// For this medical condition.
    medical_condition_id: Uuid => eq table::Column::MedicalConditionId;
    /// With this status.
    status: TrialStatus => eq table::Column::Status;
}
