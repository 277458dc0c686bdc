//! The `trial_referrals` table.

use sea_orm::entity::prelude::*;

use crate::domain::{Eligibility, PatientStatus, PractitionerKind, ReferralOutcome};

/// One row of `trial_referrals`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "trial_referrals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub patient_id: Uuid,
    #[serde(skip)]
    pub patient_status: PatientStatus,
    pub trial_id: Uuid,
    pub physician_id: Option<Uuid>,
    #[serde(skip)]
    pub physician_kind: PractitionerKind,
    /// Imported from the CRM (which may lack a physician).
    pub imported: bool,
    pub referred_at: Option<DateTimeUtc>,
    pub eligibility: Eligibility,
    pub ineligible_reason: Option<String>,
    pub outcome: ReferralOutcome,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
