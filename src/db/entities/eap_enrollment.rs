//! The `eap_enrollments` table.

use sea_orm::entity::prelude::*;

use crate::domain::{EnrollmentStatus, PatientStatus, PractitionerKind};

/// One row of `eap_enrollments`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "eap_enrollments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    #[serde(skip)]
    pub patient_status: PatientStatus,
    pub program_id: Uuid,
    pub physician_id: Option<Uuid>,
    #[serde(skip)]
    pub physician_kind: PractitionerKind,
    /// Imported from the CRM (which may lack a physician).
    pub imported: bool,
    pub enrolled_at: Option<DateTimeUtc>,
    pub status: EnrollmentStatus,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
