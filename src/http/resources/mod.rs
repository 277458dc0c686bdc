//! One module per collection. Each declares its view (its fields with
//! their privacy class, [`declare`]), its operations and the roles they
//! need ([`routes`]), its filters, and how its bodies become rows by its
//! rules; the flows every collection shares are in [`common`].

pub mod calls;
pub mod clinical_trials;
pub mod common;
pub mod declare;
pub mod duplicates;
pub mod eap_enrollments;
pub mod expanded_access_programs;
pub mod export;
pub mod hospitals;
pub mod intake_submissions;
pub mod legacy_ids;
pub mod medical_conditions;
pub mod metrics;
pub mod patients;
pub mod practitioners;
pub mod privacy;
pub mod routes;
pub mod specializations;
pub mod staff;
pub mod trial_referrals;

use declare::{Declaration, Declared};

/// The privacy declaration of every view the API shows, for the OpenAPI
/// document and the docs.
pub fn declarations() -> [&'static Declaration; 12] {
    [
        medical_conditions::View::DECLARATION,
        hospitals::View::DECLARATION,
        specializations::View::DECLARATION,
        practitioners::View::DECLARATION,
        patients::View::DECLARATION,
        intake_submissions::View::DECLARATION,
        calls::View::DECLARATION,
        expanded_access_programs::View::DECLARATION,
        eap_enrollments::View::DECLARATION,
        clinical_trials::View::DECLARATION,
        trial_referrals::View::DECLARATION,
        staff::View::DECLARATION,
    ]
}
