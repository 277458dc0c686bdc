//! `/v1/medical-conditions`: the one consolidated list (reference data,
//! admin writes). Name and abbreviation are each unique; abbreviations are
//! stored upper-case so `dmd` and `DMD` are one condition.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, no_references, present};
use crate::{
    db::entities::medical_condition::{self as table, Entity},
    domain::{Abbreviation, Name},
    http::{ApiResult, AppState},
    patch,
};

const TAG: &str = "medical-conditions";

crate::view! {
    /// A medical condition.
    pub struct View as MedicalCondition: versioned {
        operational id: Uuid,
        reference name: String,
        reference abbreviation: String,
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
            abbreviation: m.abbreviation,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "medical-conditions";
    /// List medical conditions.
    list_medical_conditions: list(Filters) for "viewer";
    /// Create a medical condition (admin).
    create_medical_condition: create(Create) for "admin";
    /// Read a medical condition.
    get_medical_condition: read for "viewer";
    /// Change a medical condition (admin).
    update_medical_condition: update(Patch) for "admin";
    /// Delete a medical condition (admin); 409 while anything refers to it.
    delete_medical_condition: delete for "admin";
    /// A medical condition's history.
    get_medical_condition_history: history for "viewer";
}

/// A new medical condition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewMedicalCondition)]
pub struct Create {
    pub name: Name,
    pub abbreviation: Abbreviation,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, _: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let row = table::ActiveModel {
            name: Set(self.name.into()),
            abbreviation: Set(self.abbreviation.into()),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, Box::pin(no_references())))
    }
}

/// Changes to a medical condition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MedicalConditionPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub name: Option<Name>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub abbreviation: Option<Abbreviation>,
}

impl Change<Entity> for Patch {
    fn apply(self, _: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        patch!(m.name = self.name);
        patch!(m.abbreviation = self.abbreviation);
        Ok(())
    }
}

crate::list_filters! {
    entity: Entity;
    /// Exact abbreviation (case-insensitive).
    abbreviation: String => eq table::Column::Abbreviation | common::code;
}
