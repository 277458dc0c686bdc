//! `/v1/expanded-access-programs`: the programs patients are enrolled in
//! (reference data, admin writes). The EAP number is unique.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, nullable, present};
use crate::{
    db::entities::expanded_access_program::{self as table, Entity},
    domain::{Name, ProgramStatus},
    http::{ApiResult, AppState},
    patch,
};

const TAG: &str = "expanded-access-programs";

crate::view! {
    /// An Expanded Access Program.
    pub struct View as ExpandedAccessProgram: versioned {
        operational id: Uuid,
        reference eap_number: String,
        reference product: String,
        reference medical_condition_id: Option<Uuid>,
        reference status: ProgramStatus,
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
            eap_number: m.eap_number,
            product: m.product,
            medical_condition_id: m.medical_condition_id,
            status: m.status,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "expanded-access-programs";
    /// List programs.
    list_expanded_access_programs: list(Filters) for "viewer";
    /// Create a program (admin).
    create_expanded_access_program: create(Create) for "admin";
    /// Read a program.
    get_expanded_access_program: read for "viewer";
    /// Change a program (admin).
    update_expanded_access_program: update(Patch) for "admin";
    /// Delete a program (admin); 409 while enrollments refer to it.
    delete_expanded_access_program: delete for "admin";
    /// A program's history.
    get_expanded_access_program_history: history for "viewer";
}

/// A new program (default status `open`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewExpandedAccessProgram)]
pub struct Create {
    pub eap_number: Name,
    pub product: Name,
    pub medical_condition_id: Option<Uuid>,
    pub status: Option<ProgramStatus>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let refs = common::condition(state, self.medical_condition_id);
        let row = table::ActiveModel {
            eap_number: Set(self.eap_number.into()),
            product: Set(self.product.into()),
            medical_condition_id: Set(self.medical_condition_id),
            status: Set(self.status.unwrap_or(ProgramStatus::Open)),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, refs))
    }
}

/// Changes to a program.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ExpandedAccessProgramPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub eap_number: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub product: Option<Name>,
    #[serde(default, deserialize_with = "nullable")]
    pub medical_condition_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<ProgramStatus>,
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        common::condition(state, self.medical_condition_id.flatten())
    }

    fn apply(self, _: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        patch!(m.eap_number = self.eap_number);
        patch!(m.product = self.product);
        patch!(m.medical_condition_id? = self.medical_condition_id);
        patch!(m.status = self.status);
        Ok(())
    }
}

crate::list_filters! {
    entity: Entity;
    /// Exact EAP number.
    eap_number: String => eq table::Column::EapNumber | common::trimmed;
    /// For this medical condition.
    medical_condition_id: Uuid => eq table::Column::MedicalConditionId;
    /// With this status.
    status: ProgramStatus => eq table::Column::Status;
}
