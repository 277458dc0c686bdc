//! `/v1/eap-enrollments`: a converted patient's enrollment in an Expanded
//! Access Program, with a physician (by default the patient's). One open
//! (pending or active) enrollment per patient and program.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References};
use crate::{
    db::entities::{
        eap_enrollment::{self as table, Entity},
        expanded_access_program,
    },
    domain::{EnrollmentStatus, PatientStatus, PractitionerKind},
    http::{ApiResult, AppState},
};

const TAG: &str = "eap-enrollments";

crate::view! {
    /// A patient's enrollment in a program.
    pub struct View as EapEnrollment from table::Model: versioned, about patient_id {
        operational id: Uuid,
        operational patient_id: Uuid,
        operational program_id: Uuid,
        /// Empty only on records imported from the CRM, which did not require one.
        operational physician_id: Option<Uuid>,
        /// Imported from the legacy CRM.
        operational imported: bool,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational enrolled_at: Option<DateTime<Utc>>,
        operational status: EnrollmentStatus,
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "eap-enrollments";
    /// List enrollments.
    list_eap_enrollments: list(Filters) for "viewer";
    /// Enroll a converted patient in a program (navigator).
    create_eap_enrollment: create(Create) for "navigator";
    /// Read an enrollment.
    get_eap_enrollment: read for "viewer";
    /// Change an enrollment (navigator).
    update_eap_enrollment: update(Patch) for "navigator";
    /// Delete an enrollment (admin).
    delete_eap_enrollment: delete for "admin";
    /// An enrollment's history.
    get_eap_enrollment_history: history for "viewer";
}

/// A new enrollment (default status `pending`, enrolled now; physician by
/// default the patient's).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewEapEnrollment)]
pub struct Create {
    pub patient_id: Uuid,
    pub program_id: Uuid,
    pub physician_id: Option<Uuid>,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub status: Option<EnrollmentStatus>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let refs = Box::pin(common::exists::<expanded_access_program::Entity>(
            state,
            "/program_id",
            Some(self.program_id),
        ));
        let physician_id =
            common::journey_physician(state, self.patient_id, self.physician_id).await?;
        let row = table::ActiveModel {
            patient_id: Set(self.patient_id),
            patient_status: Set(PatientStatus::Patient),
            program_id: Set(self.program_id),
            physician_id: Set(Some(physician_id)),
            physician_kind: Set(PractitionerKind::Physician),
            imported: Set(false),
            enrolled_at: Set(Some(self.enrolled_at.unwrap_or_else(Utc::now))),
            status: Set(self.status.unwrap_or(EnrollmentStatus::Pending)),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, refs))
    }
}

crate::changes! {
    /// Changes to an enrollment; its patient and program cannot change.
    pub struct Patch as EapEnrollmentPatch for Entity {
        physician_id: Uuid,
        enrolled_at: DateTime<Utc> | null,
        status: EnrollmentStatus,
    }
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        Box::pin(common::physician(state, "/physician_id", self.physician_id))
    }
}

crate::list_filters! {
    entity: Entity, versioned, dates {
        enrolled_at (enrolled_from, enrolled_to): table::Column::EnrolledAt,
    };
    /// Of this patient.
    patient_id: Uuid => eq table::Column::PatientId;
    /// In this program.
    program_id: Uuid => eq table::Column::ProgramId;
    /// With this physician.
    physician_id: Uuid => eq table::Column::PhysicianId;
    /// With this status.
    status: EnrollmentStatus => eq table::Column::Status;
}
