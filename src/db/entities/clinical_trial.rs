//! The `clinical_trials` table.

use sea_orm::entity::prelude::*;

use crate::domain::TrialStatus;

/// One row of `clinical_trials`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "clinical_trials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub registry_id: String,
    pub title: Option<String>,
    pub medical_condition_id: Option<Uuid>,
    pub status: TrialStatus,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
