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
pub fn declarations() -> [&'static Declaration; 13] {
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
        legacy_ids::View::DECLARATION,
        staff::View::DECLARATION,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{
        entities::{call, eap_enrollment, intake_submission, patient, trial_referral},
        erasure,
        store::Record,
    };

    /// The column behind a view's field, where the two names differ.
    fn column(field: &str) -> &str {
        match field {
            "medical_condition" => "medical_condition_text",
            other => other,
        }
    }

    /// A field declared personal or health data in a view about a patient
    /// is one that erasure removes: adding one to a view without erasure
    /// reaching it fails here.
    #[test]
    fn erasure_reaches_every_personal_and_health_field_the_views_declare() {
        let views = [
            (patients::View::DECLARATION, patient::Entity::COLLECTION),
            (
                intake_submissions::View::DECLARATION,
                intake_submission::Entity::COLLECTION,
            ),
            (calls::View::DECLARATION, call::Entity::COLLECTION),
            (
                trial_referrals::View::DECLARATION,
                trial_referral::Entity::COLLECTION,
            ),
            (
                eap_enrollments::View::DECLARATION,
                eap_enrollment::Entity::COLLECTION,
            ),
        ];
        let holders: Vec<_> = std::iter::once(erasure::PATIENTS)
            .chain(erasure::HOLDERS.iter().copied())
            .collect();
        for (declaration, collection) in views {
            let holder = holders
                .iter()
                .find(|h| h.collection == collection)
                .unwrap_or_else(|| panic!("erasure does not reach {collection}"));
            for field in declaration
                .fields
                .iter()
                .filter(|f| f.class.is_about_a_person())
            {
                assert!(
                    holder.personal.contains(&column(field.name)),
                    "erasure of {collection} misses {}",
                    field.name
                );
            }
        }
        let about_a_patient = declarations().into_iter().filter(|d| d.is_logged()).count();
        // The fifth is a CRM row as last imported, which erasure empties
        // through `legacy::rows::erase`.
        assert_eq!(
            about_a_patient, 5,
            "a new view about a patient: add it above"
        );
    }
}
