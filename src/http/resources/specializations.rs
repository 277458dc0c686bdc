//! `/v1/specializations`: practitioners' specializations (reference data, admin
//! writes). Names are unique; deleting a specialization that practitioners
//! have is a 409.

use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, no_references};
use crate::{
    db::entities::specialization::{self as table, Entity},
    domain::Name,
    http::{ApiResult, AppState},
};

const TAG: &str = "specializations";

crate::view! {
    /// A specialization.
    pub struct View as Specialization from table::Model: versioned {
        operational id: Uuid,
        reference name: String,
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "specializations";
    /// List specializations.
    list_specializations: list(Filters) for "viewer";
    /// Create a specialization (admin).
    create_specialization: create(Create) for "admin";
    /// Read a specialization.
    get_specialization: read for "viewer";
    /// Change a specialization (admin).
    update_specialization: update(Patch) for "admin";
    /// Delete a specialization (admin); 409 while practitioners have it.
    delete_specialization: delete for "admin";
    /// A specialization's history.
    get_specialization_history: history for "viewer";
}

/// A new specialization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewSpecialization)]
pub struct Create {
    pub name: Name,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, _: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let row = table::ActiveModel {
            name: Set(self.name.into()),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, Box::pin(no_references())))
    }
}

crate::changes! {
    /// Changes to a specialization.
    pub struct Patch as SpecializationPatch for Entity {
        name: Name,
    }
}

impl Change<Entity> for Patch {}

crate::list_filters! {
    entity: Entity, versioned;
    /// Exact name.
    name: String => eq table::Column::Name | common::trimmed;
}
