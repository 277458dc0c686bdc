//! `/v1/expanded-access-programs`: the programs patients are enrolled in
//! (reference data, admin writes). The EAP number is unique.

use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References};
use crate::{
    db::entities::expanded_access_program::{self as table, Entity},
    domain::{Name, ProgramStatus},
    http::{ApiResult, AppState},
};

const TAG: &str = "expanded-access-programs";

crate::view! {
    /// An Expanded Access Program.
    pub struct View as ExpandedAccessProgram from table::Model: versioned {
        operational id: Uuid,
        reference eap_number: String,
        reference product: String,
        reference medical_condition_id: Option<Uuid>,
        reference status: ProgramStatus,
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

crate::changes! {
    /// Changes to a program.
    pub struct Patch as ExpandedAccessProgramPatch for Entity {
        eap_number: Name,
        product: Name,
        medical_condition_id: Uuid | null,
        status: ProgramStatus,
    }
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        common::condition(state, self.medical_condition_id.flatten())
    }
}

crate::list_filters! {
    entity: Entity, versioned;
    /// Exact EAP number.
    eap_number: String => eq table::Column::EapNumber | common::trimmed;
    /// For this medical condition.
    medical_condition_id: Uuid => eq table::Column::MedicalConditionId;
    /// With this status.
    status: ProgramStatus => eq table::Column::Status;
}
