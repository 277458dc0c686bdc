//! The `access_event_patients` table (append-only).

use sea_orm::entity::prelude::*;

/// A patient whose data an access event returned. The pair is the
/// entity's key for SeaORM only: the table has none since migration 5, just
/// an index on `patient_id` (see `docs/data-model.md`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "access_event_patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: Uuid,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
