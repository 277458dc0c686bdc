//! The `calls` table.

use sea_orm::entity::prelude::*;

use crate::domain::CallStatus;

/// One row of `calls`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub navigator: Option<String>,
    pub scheduled_at: DateTimeUtc,
    pub reminder_at: Option<DateTimeUtc>,
    pub status: CallStatus,
    pub notes: Option<String>,
    /// The navigator who holds the call (staff); `navigator` keeps the
    /// free text the CRM had.
    pub navigator_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
