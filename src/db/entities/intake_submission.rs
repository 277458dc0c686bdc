//! The `intake_submissions` table.

use sea_orm::entity::prelude::*;

use crate::domain::Channel;

/// One row of `intake_submissions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "intake_submissions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    pub channel: Channel,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `None` only once erased.
    pub email: Option<String>,
    pub phone: Option<String>,
    pub medical_condition_id: Option<Uuid>,
    pub medical_condition_text: Option<String>,
    pub requested_call_at: Option<DateTimeUtc>,
    /// The submission exactly as received, kept in full.
    pub payload: Json,
    pub submitted_at: DateTimeUtc,
    /// When the submitter's personal data was erased.
    pub erased_at: Option<DateTimeUtc>,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
