//! Care: the one referral a patient row can hold (to the trial of its
//! registry id), and one enrollment per dossier row (in the program of its
//! EAP number).

use std::collections::HashMap;

use sea_orm::{ActiveValue::Set, prelude::Uuid};

use super::{PersonRef, Plan, date, epoch, key_upper, stable_id, text};
use crate::{
    db::entities::{clinical_trial, eap_enrollment, expanded_access_program, trial_referral},
    domain::{
        Eligibility, EnrollmentStatus, PatientStatus, PractitionerKind, ProgramStatus,
        ReferralOutcome, TrialStatus,
    },
    legacy::{parse, read::Row, read::Table},
};

impl Plan {
    /// The referral of a patient row to the trial of `trial`. Its id names
    /// the trial: a row whose `trial_id` changed plans a second referral
    /// and leaves the first as it was (rule 11).
    pub(super) fn referral(&mut self, row: &Row, index: usize, me: &PersonRef, trial: &str) {
        let registry = key_upper(trial);
        let trial_id = self.trial(&registry);
        self.rows[index].also("clinical-trials", trial_id);
        let mut warnings = Vec::new();
        let (eligibility, reason) = eligibility(row, &mut warnings);
        let outcome = match row.get("ct_outcome") {
            None => ReferralOutcome::Pending,
            Some(value) => parse::outcome(value).unwrap_or_else(|| {
                warnings.push("ct_outcome is not a known option; pending".into());
                ReferralOutcome::Pending
            }),
        };
        let referred = date(row, "ct_referral_date", &mut warnings);
        let patient_id = row.get("patientid").unwrap_or("");
        let id = stable_id(me.created, &format!("referral:{patient_id}:{registry}"));
        let (id, new) =
            self.referrals
                .find_or_plan((me.id, trial_id), id, |id| trial_referral::ActiveModel {
                    id: Set(id),
                    patient_id: Set(me.id),
                    patient_status: Set(PatientStatus::Patient),
                    trial_id: Set(trial_id),
                    physician_id: Set(me.physician),
                    physician_kind: Set(PractitionerKind::Physician),
                    imported: Set(true),
                    referred_at: Set(referred),
                    eligibility: Set(eligibility),
                    ineligible_reason: Set(reason),
                    outcome: Set(outcome),
                    version: Set(1),
                    created_at: Set(me.created),
                    updated_at: Set(me.created),
                });
        if !new {
            let why = "a second referral of this person to this trial; merged into the first";
            self.rows[index].warnings.push(why.into());
            return;
        }
        self.rows[index].warnings.extend(warnings);
        self.rows[index].also("trial-referrals", id);
    }

    /// The trial of a registry id, found or planned.
    fn trial(&mut self, registry: &str) -> Uuid {
        let id = stable_id(epoch(), &format!("trial:{registry}"));
        let (id, _) =
            self.trials
                .find_or_plan(registry.to_owned(), id, |id| clinical_trial::ActiveModel {
                    id: Set(id),
                    registry_id: Set(registry.to_owned()),
                    title: Set(None),
                    medical_condition_id: Set(None),
                    status: Set(TrialStatus::Recruiting),
                    version: Set(1),
                    created_at: Set(epoch()),
                    updated_at: Set(epoch()),
                });
        id
    }

    /// One enrollment per dossier row, in the program of its EAP number.
    pub(super) fn enrollments(&mut self, table: &Table) {
        let mut open: HashMap<(Uuid, Uuid), usize> = HashMap::new();
        for row in &table.rows {
            let index = self.report(table, row);
            let Some(dossier_id) = row.get("eap_dossier_id") else {
                self.reject(index, row, "no eap_dossier_id");
                continue;
            };
            let Some(me) = row.get("patient").and_then(|p| self.links.patients.get(p)) else {
                let why = "the patient is missing from the export: the enrollment has no one to belong to";
                self.reject(index, row, why);
                continue;
            };
            let me = *me;
            let Some(number) = row.get("eap_number") else {
                self.reject(index, row, "no eap_number");
                continue;
            };
            let program = self.program(row, index, &key_upper(number));
            let mut warnings = Vec::new();
            let enrolled = date(row, "eap_enrollment_date", &mut warnings);
            self.rows[index].warnings.extend(warnings);
            // One open enrollment per patient and program: an earlier one
            // for the same pair is closed as completed.
            if let Some(&earlier) = open.get(&(me.id, program)) {
                self.enrollments[earlier].model.status = Set(EnrollmentStatus::Completed);
                let why = "the patient had an earlier enrollment in this program; that one is marked completed";
                self.rows[index].warnings.push(why.into());
            }
            // Dated by the person, not the enrollment date: a corrected date
            // updates this enrollment rather than planning another.
            let id = stable_id(me.created, &format!("enrollment:{dossier_id}"));
            let at = enrolled.unwrap_or(me.created);
            self.enrollments.push(super::Planned {
                id,
                model: eap_enrollment::ActiveModel {
                    id: Set(id),
                    patient_id: Set(me.id),
                    patient_status: Set(PatientStatus::Patient),
                    program_id: Set(program),
                    physician_id: Set(me.physician),
                    physician_kind: Set(PractitionerKind::Physician),
                    imported: Set(true),
                    enrolled_at: Set(enrolled),
                    status: Set(EnrollmentStatus::Active),
                    version: Set(1),
                    created_at: Set(at),
                    updated_at: Set(at),
                },
            });
            open.insert((me.id, program), self.enrollments.len() - 1);
            let report = &mut self.rows[index];
            report.patient = Some(me.id);
            report.record("eap-enrollments", id, true);
        }
    }

    /// The program of an EAP number, found or planned; a row naming another
    /// product than the program's is reported, not silently dropped.
    fn program(&mut self, row: &Row, index: usize, number: &str) -> Uuid {
        let product = text(row, "product");
        let id = stable_id(epoch(), &format!("program:{number}"));
        let (id, new) = self.programs.find_or_plan(number.to_owned(), id, |id| {
            expanded_access_program::ActiveModel {
                id: Set(id),
                eap_number: Set(number.to_owned()),
                product: Set(product.clone().unwrap_or_else(|| number.to_owned())),
                medical_condition_id: Set(None),
                status: Set(ProgramStatus::Open),
                version: Set(1),
                created_at: Set(epoch()),
                updated_at: Set(epoch()),
            }
        });
        let warnings = &mut self.rows[index].warnings;
        match (&product, self.links.products.get(&id)) {
            (None, _) if new => {
                warnings.push("no product; the program's product is its EAP number".into())
            }
            (Some(mine), Some(first)) if !mine.trim().eq_ignore_ascii_case(first.trim()) => {
                warnings.push(format!(
                    "product {mine:?} differs from {first:?}, the product of this EAP number's first row; the program keeps {first:?}"
                ))
            }
            _ => {}
        }
        if let Some(product) = product {
            self.links.products.entry(id).or_insert(product);
        }
        self.rows[index].also("expanded-access-programs", id);
        id
    }
}

/// `eligible` and `ineligible_reason`, made consistent (with a warning
/// where the CRM's were not).
fn eligibility(row: &Row, warnings: &mut Vec<String>) -> (Eligibility, Option<String>) {
    let mut eligibility = match row.get("eligible") {
        None => Eligibility::Pending,
        Some(value) => parse::eligibility(value).unwrap_or_else(|| {
            warnings.push("eligible is not a known option; pending".into());
            Eligibility::Pending
        }),
    };
    let mut reason = text(row, "ineligible_reason");
    match (eligibility, reason.is_some()) {
        (Eligibility::Ineligible, false) => {
            reason = Some("Not recorded in the CRM".into());
            warnings.push(
                "ineligible without a reason; reason set to 'Not recorded in the CRM'".into(),
            );
        }
        (Eligibility::Pending, true) => {
            eligibility = Eligibility::Ineligible;
            warnings.push("a reason without eligibility; read as ineligible".into());
        }
        (Eligibility::Eligible, true) => {
            reason = None;
            warnings
                .push("ineligible_reason on an eligible referral; kept only in this report".into());
        }
        _ => {}
    }
    (eligibility, reason)
}

#[cfg(test)]
mod tests {
    use super::{super::Keyed, *};

    #[test]
    fn keyed_records_are_planned_once() {
        let mut keyed: Keyed<String, u8> = Keyed::new(HashMap::new());
        let a = Uuid::from_u128(1);
        assert_eq!(keyed.find_or_plan("K".into(), a, |_| 1), (a, true));
        assert_eq!(
            keyed.find_or_plan("K".into(), Uuid::from_u128(2), |_| 2),
            (a, false)
        );
        assert_eq!(keyed.planned.len(), 1);
    }
}
