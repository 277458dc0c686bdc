//! `/v1/specializations`: practitioners' specializations (reference data, admin
//! writes). Names are unique; deleting a specialization that practitioners
//! have is a 409.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, no_references, present};
use crate::{
    db::entities::specialization::{self as table, Entity},
    domain::Name,
    http::{ApiResult, AppState},
    patch,
};

const TAG: &str = "specializations";

crate::view! {
    /// A specialization.
    pub struct View as Specialization: versioned {
        operational id: Uuid,
        reference name: String,
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
            name: m.name,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
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

/// Changes to a specialization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SpecializationPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub name: Option<Name>,
}

impl Change<Entity> for Patch {
    fn apply(self, _: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        patch!(m.name = self.name);
        Ok(())
    }
}

crate::list_filters! {
    entity: Entity;
    /// Exact name.
    name: String => eq table::Column::Name | common::trimmed;
}
