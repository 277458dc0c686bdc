//! The `legacy_rows` table.

use sea_orm::entity::prelude::*;

/// A CRM row's values as last imported.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "legacy_rows")]
pub struct Model {
    /// The CRM export file the row came from (`contact`, `patient`, ...).
    #[sea_orm(primary_key, auto_increment = false)]
    pub legacy_table: String,
    /// The row's CRM id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub legacy_id: String,
    /// The patient the row belongs to, if any: the row is their personal data.
    pub patient_id: Option<Uuid>,
    /// Every column of the row as written in the export; `None` once the
    /// patient was erased.
    pub row_values: Option<Json>,
    /// Once the patient was erased: a hash of their normalised email.
    pub suppressed: Option<String>,
    pub imported_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
