//! The `patients` table.

use sea_orm::entity::prelude::*;

use crate::domain::{PatientStatus, PractitionerKind};

/// One row of `patients`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub status: PatientStatus,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub medical_condition_id: Option<Uuid>,
    pub physician_id: Option<Uuid>,
    #[serde(skip)]
    pub physician_kind: PractitionerKind,
    pub first_contact_at: Option<DateTimeUtc>,
    pub initial_consult_at: Option<DateTimeUtc>,
    pub converted_at: Option<DateTimeUtc>,
    /// When the person's personal data was erased (GDPR art. 17).
    pub erased_at: Option<DateTimeUtc>,
    /// The navigator responsible for the person (staff).
    pub owner_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
