//! The `legacy_ids` table.

use sea_orm::entity::prelude::*;

/// One CRM row and the record it became or was merged into.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "legacy_ids")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The CRM export file the row came from (`contact`, `patient`, ...).
    pub legacy_table: String,
    /// The row's CRM id.
    pub legacy_id: String,
    /// The API collection of the record (`patients`, ...).
    pub collection: String,
    pub record_id: Uuid,
    pub imported_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
