//! `/v1/practitioners`: physicians and pharmacists, each with their own
//! fields; apart from leads and patients. Email is unique among
//! practitioners (normalised). Navigators create and update; admins delete.
//! Their names and work contacts are a professional directory (reference
//! data), not patients' personal data.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, nullable, present};
use crate::{
    db::entities::{
        hospital,
        practitioner::{self as table, Entity},
        specialization,
    },
    domain::{Email, Name, Phone, PractitionerKind},
    http::{ApiResult, AppState},
    patch,
};

const TAG: &str = "practitioners";

crate::view! {
    /// A physician or pharmacist.
    pub struct View as Practitioner: versioned {
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
            kind: m.kind,
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            job_title: m.job_title,
            specialization_id: m.specialization_id,
            license_number: m.license_number,
            hospital_id: m.hospital_id,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
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

/// Changes to a practitioner; `null` clears an optional field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PractitionerPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub kind: Option<PractitionerKind>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub first_name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub last_name: Option<Name>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<Email>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<Phone>>,
    #[serde(default, deserialize_with = "nullable")]
    pub job_title: Option<Option<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub specialization_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    pub license_number: Option<Option<Name>>,
    #[serde(default, deserialize_with = "nullable")]
    pub hospital_id: Option<Option<Uuid>>,
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        references(
            state,
            self.hospital_id.flatten(),
            self.specialization_id.flatten(),
        )
    }

    fn apply(self, _: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        patch!(m.kind = self.kind);
        patch!(m.first_name = self.first_name);
        patch!(m.last_name = self.last_name);
        patch!(m.email? = self.email);
        patch!(m.phone? = self.phone);
        patch!(m.job_title? = self.job_title);
        patch!(m.specialization_id? = self.specialization_id);
        patch!(m.license_number? = self.license_number);
        patch!(m.hospital_id? = self.hospital_id);
        Ok(())
    }
}

crate::list_filters! {
    entity: Entity;
    /// Physicians or pharmacists.
    kind: PractitionerKind => eq table::Column::Kind;
    /// Working at this hospital.
    hospital_id: Uuid => eq table::Column::HospitalId;
    /// With this specialization.
    specialization_id: Uuid => eq table::Column::SpecializationId;
    /// Exact email (trimmed, case-insensitive).
    email: String => eq table::Column::Email | common::email, reads;
    /// Search: every word must start a word of the first or last name, the
    /// email or the license number (case and accents do not matter).
    #[param(max_length = 200)]
    q: String => search;
}
