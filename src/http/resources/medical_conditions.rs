//! `/v1/medical-conditions`: the one consolidated list (reference data,
//! admin writes). Name and abbreviation are each unique; abbreviations are
//! stored upper-case so `dmd` and `DMD` are one condition.

use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, no_references};
use crate::{
    db::entities::medical_condition::{self as table, Entity},
    domain::{Abbreviation, Name},
    http::{ApiResult, AppState},
};

const TAG: &str = "medical-conditions";

crate::view! {
    /// A medical condition.
    pub struct View as MedicalCondition from table::Model: versioned {
        operational id: Uuid,
        reference name: String,
        reference abbreviation: String,
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

crate::changes! {
    /// Changes to a medical condition.
    pub struct Patch as MedicalConditionPatch for Entity {
        name: Name,
        abbreviation: Abbreviation,
    }
}

impl Change<Entity> for Patch {}

crate::list_filters! {
    entity: Entity, versioned;
    /// Exact abbreviation (case-insensitive).
    abbreviation: String => eq table::Column::Abbreviation | common::code;
}
