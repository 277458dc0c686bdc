//! The `expanded_access_programs` table.

use sea_orm::entity::prelude::*;

use crate::domain::ProgramStatus;

/// One row of `expanded_access_programs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "expanded_access_programs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub eap_number: String,
    pub product: String,
    pub medical_condition_id: Option<Uuid>,
    pub status: ProgramStatus,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
