//! The `history` table.

use sea_orm::entity::prelude::*;

/// One row of `history`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub collection: String,
    pub record_id: Uuid,
    pub version: i32,
    pub action: String,
    pub actor: String,
    pub at: DateTimeUtc,
    /// For each changed field, `{"from": old, "to": new}`.
    pub changes: Json,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
