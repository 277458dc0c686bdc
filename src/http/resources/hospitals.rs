//! `/v1/hospitals`: where practitioners work (reference data, admin
//! writes). Name and city together are unique; deleting a hospital that
//! practitioners use is a 409.

use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, no_references};
use crate::{
    db::entities::hospital::{self as table, Entity},
    domain::Name,
    http::{ApiResult, AppState},
};

const TAG: &str = "hospitals";

crate::view! {
    /// A hospital.
    pub struct View as Hospital from table::Model: versioned {
        operational id: Uuid,
        reference name: String,
        reference city: String,
        reference country: Option<String>,
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "hospitals";
    /// List hospitals.
    list_hospitals: list(Filters) for "viewer";
    /// Create a hospital (admin).
    create_hospital: create(Create) for "admin";
    /// Read a hospital.
    get_hospital: read for "viewer";
    /// Change a hospital (admin).
    update_hospital: update(Patch) for "admin";
    /// Delete a hospital (admin); 409 while practitioners work there.
    delete_hospital: delete for "admin";
    /// A hospital's history.
    get_hospital_history: history for "viewer";
}

/// A new hospital.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewHospital)]
pub struct Create {
    pub name: Name,
    pub city: Name,
    pub country: Option<Name>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, _: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let row = table::ActiveModel {
            name: Set(self.name.into()),
            city: Set(self.city.into()),
            country: Set(self.country.map(Into::into)),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, Box::pin(no_references())))
    }
}

crate::changes! {
    /// Changes to a hospital.
    pub struct Patch as HospitalPatch for Entity {
        name: Name,
        city: Name,
        country: Name | null,
    }
}

impl Change<Entity> for Patch {}

crate::list_filters! {
    entity: Entity, versioned;
    /// Exact city.
    city: String => eq table::Column::City | common::trimmed;
    /// Exact country.
    country: String => eq table::Column::Country | common::trimmed;
    /// Search: every word must start a word of the name or the city (case
    /// and accents do not matter).
    #[param(max_length = 200)]
    q: String => search;
}
