//! SeaORM entities: one module per table, columns exactly as the migrations
//! create them. Enumerations are stored as text (checked by the schema) and
//! converted to domain enums by the API layer.

pub mod access_event;
pub mod access_event_patient;
pub mod call;
pub mod clinical_trial;
pub mod eap_enrollment;
pub mod erasure;
pub mod expanded_access_program;
pub mod history;
pub mod hospital;
pub mod idempotency_key;
pub mod intake_submission;
pub mod legacy_id;
pub mod legacy_row;
pub mod medical_condition;
pub mod patient;
pub mod practitioner;
pub mod specialization;
pub mod staff;
pub mod trial_referral;
