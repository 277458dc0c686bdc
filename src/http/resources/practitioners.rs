//! `/v1/practitioners`: physicians and pharmacists, each with their own
//! fields; apart from leads and patients. Email is unique among
//! practitioners (normalised). Navigators create and update; admins delete.
//! Their names and work contacts are a professional directory (reference
//! data), not patients' personal data.

use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References};
use crate::{
    db::entities::{
        hospital,
        practitioner::{self as table, Entity},
        specialization,
    },
    domain::{Email, Name, Phone, PractitionerKind},
    http::{ApiResult, AppState},
};

const TAG: &str = "practitioners";

crate::view! {
    /// A physician or pharmacist.
    pub struct View as Practitioner from table::Model: versioned {
        operational id: Uuid,
        reference kind: PractitionerKind,
        reference first_name: String,
        reference last_name: String,
        reference email: Option<String>,
        reference phone: Option<String>,
        reference job_title: Option<String>,
        reference specialization_id: Option<Uuid>,
        reference license_number: Option<String>,
        reference hospital_id: Option<Uuid>,
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "practitioners";
    /// List practitioners.
    list_practitioners: list(Filters) for "viewer";
    /// Create a practitioner (navigator).
    create_practitioner: create(Create) for "navigator";
    /// Read a practitioner.
    get_practitioner: read for "viewer";
    /// Change a practitioner (navigator). A physician that patients, referrals
    /// or enrollments name cannot become a pharmacist (409).
    update_practitioner: update(Patch) for "navigator";
    /// Delete a practitioner (admin); 409 while patients, referrals or enrollments name them.
    delete_practitioner: delete for "admin";
    /// A practitioner's history.
    get_practitioner_history: history for "viewer";
}

/// What a practitioner's body names, checked only when the database
/// refuses it: their hospital and specialization.
fn references(
    state: &AppState,
    hospital: Option<Uuid>,
    specialization: Option<Uuid>,
) -> References<'_> {
    Box::pin(async move {
        common::exists::<hospital::Entity>(state, "/hospital_id", hospital).await?;
        common::exists::<specialization::Entity>(state, "/specialization_id", specialization).await
    })
}

/// A new practitioner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPractitioner)]
pub struct Create {
    pub kind: PractitionerKind,
    pub first_name: Name,
    pub last_name: Name,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub job_title: Option<Name>,
    pub specialization_id: Option<Uuid>,
    pub license_number: Option<Name>,
    pub hospital_id: Option<Uuid>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let refs = references(state, self.hospital_id, self.specialization_id);
        let row = table::ActiveModel {
            kind: Set(self.kind),
            first_name: Set(self.first_name.into()),
            last_name: Set(self.last_name.into()),
            email: Set(self.email.map(Into::into)),
            phone: Set(self.phone.map(Into::into)),
            job_title: Set(self.job_title.map(Into::into)),
            specialization_id: Set(self.specialization_id),
            license_number: Set(self.license_number.map(Into::into)),
            hospital_id: Set(self.hospital_id),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, refs))
    }
}

crate::changes! {
    /// Changes to a practitioner; `null` clears an optional field.
    pub struct Patch as PractitionerPatch for Entity {
        kind: PractitionerKind,
        first_name: Name,
        last_name: Name,
        email: Email | null,
        phone: Phone | null,
        job_title: Name | null,
        specialization_id: Uuid | null,
        license_number: Name | null,
        hospital_id: Uuid | null,
    }
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        references(
            state,
            self.hospital_id.flatten(),
            self.specialization_id.flatten(),
        )
    }
}

crate::list_filters! {
    entity: Entity, versioned;
    /// Physicians or pharmacists.
    kind: PractitionerKind => eq table::Column::Kind;
    /// Working at this hospital.
    hospital_id: Uuid => eq table::Column::HospitalId;
    /// With this specialization.
    specialization_id: Uuid => eq table::Column::SpecializationId;
    /// Exact email (trimmed, case-insensitive).
    email: String => eq table::Column::Email | common::email, reads(email);
    /// Search: every word must start a word of the first or last name, the
    /// email or the license number (case and accents do not matter).
    #[param(max_length = 200)]
    q: String => search;
}
