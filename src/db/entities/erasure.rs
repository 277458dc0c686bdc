//! The `erasures` table (append-only).

use sea_orm::entity::prelude::*;

/// Who erased whose personal data, when and why.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "erasures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    /// The admin's subject.
    pub actor: String,
    pub reason: String,
    pub erased_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
