//! One module per collection. Each declares its wire types (views, create
//! and patch bodies), its filters and its rules, and routes to the shared
//! flows of [`common`].

pub mod calls;
pub mod clinical_trials;
pub mod common;
pub mod eap_enrollments;
pub mod expanded_access_programs;
pub mod hospitals;
pub mod intake_submissions;
pub mod legacy_ids;
pub mod medical_conditions;
pub mod patients;
pub mod practitioners;
pub mod privacy;
pub mod specializations;
pub mod trial_referrals;
