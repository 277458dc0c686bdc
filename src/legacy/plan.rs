//! From rows to records: the whole target model computed in memory, with
//! ids derived from the legacy data (so a second run plans the very same
//! records), and one report entry per legacy row.
//!
//! The rules are FORMAT.md's: one person per normalised email; the patient
//! row's values win, else the earliest submission's, later ones only fill
//! empty fields; one submission per lead row, one call per valid booking;
//! conditions consolidated by abbreviation; one trial per registry id and
//! one program per EAP number.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use sha2::{Digest, Sha256};

use super::{
    parse::{self, ContactType},
    read::{Row, Table},
    report::{Outcome, RowReport},
};
use crate::{
    db::entities::{
        call, clinical_trial, eap_enrollment, expanded_access_program, hospital, intake_submission,
        medical_condition, patient, practitioner, specialization, trial_referral,
    },
    domain::{
        CallStatus, Eligibility, Email, EnrollmentStatus, PatientStatus, ProgramStatus,
        ReferralOutcome, TrialStatus,
    },
};

/// The actor recorded in history for everything the import writes.
pub const ACTOR: &str = "legacy-import";

/// A record to write.
pub struct Planned<A> {
    pub id: Uuid,
    pub model: A,
}

/// Records that already exist in the database, by natural key: the
/// importer joins them instead of creating duplicates.
#[derive(Default)]
pub struct Existing {
    pub conditions: HashMap<String, Uuid>,
    pub hospitals: HashMap<(String, String), Uuid>,
    pub specializations: HashMap<String, Uuid>,
    pub practitioners: HashMap<String, Uuid>,
    pub patients: HashMap<String, Uuid>,
    pub trials: HashMap<String, Uuid>,
    pub programs: HashMap<String, Uuid>,
}

/// Everything the import will write, in dependency order, and the report.
#[derive(Default)]
pub struct Plan {
    pub conditions: Vec<Planned<medical_condition::ActiveModel>>,
    pub hospitals: Vec<Planned<hospital::ActiveModel>>,
    pub specializations: Vec<Planned<specialization::ActiveModel>>,
    pub practitioners: Vec<Planned<practitioner::ActiveModel>>,
    pub trials: Vec<Planned<clinical_trial::ActiveModel>>,
    pub programs: Vec<Planned<expanded_access_program::ActiveModel>>,
    pub patients: Vec<Planned<patient::ActiveModel>>,
    pub submissions: Vec<Planned<intake_submission::ActiveModel>>,
    pub calls: Vec<Planned<call::ActiveModel>>,
    pub referrals: Vec<Planned<trial_referral::ActiveModel>>,
    pub enrollments: Vec<Planned<eap_enrollment::ActiveModel>>,
    pub rows: Vec<RowReport>,
    /// Warnings of lead rows, by row position, until their report entry exists.
    pending_warnings: HashMap<usize, Vec<String>>,
}

/// The export's tables.
pub struct Export {
    pub medical_conditions: Table,
    pub hospitals: Table,
    pub specializations: Table,
    pub contacts: Table,
    pub patients: Table,
    pub dossiers: Table,
}

/// A time-ordered (UUIDv7) id whose random part is derived from `key`: the
/// same legacy data always yields the same id, and ids still sort by time.
fn stable_id(at: DateTime<Utc>, key: &str) -> Uuid {
    let hash = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&hash[..10]);
    uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis().max(0) as u64, &bytes)
        .into_uuid()
}

/// The time given to reference data, which the CRM does not date.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn text(row: &Row, column: &str) -> Option<String> {
    row.get(column).map(str::to_owned)
}

/// Reads a date column: `None` when empty; a warning when present but invalid.
fn date(row: &Row, column: &str, warnings: &mut Vec<String>) -> Option<DateTime<Utc>> {
    let value = row.get(column)?;
    let parsed = parse::datetime(value);
    if parsed.is_none() {
        warnings.push(format!("{column} is not a valid date-time; left out"));
    }
    parsed
}

/// A key compared without case or whitespace (registry ids, EAP numbers,
/// abbreviations).
pub(super) fn key_upper(value: &str) -> String {
    value.split_whitespace().collect::<String>().to_uppercase()
}

/// One lead contact row, parsed.
struct Submission {
    row: usize,
    contact_id: String,
    email: Email,
    created: Option<DateTime<Utc>>,
    modified: Option<DateTime<Utc>>,
    first_name: Option<String>,
    last_name: Option<String>,
    condition: Option<&'static str>,
    booking: Option<DateTime<Utc>>,
    reminder: Option<DateTime<Utc>>,
    no_show: Option<bool>,
}

/// A patient row with its warnings so far and its `createdon`.
type PatientRow<'a> = (&'a Row, Vec<String>, Option<DateTime<Utc>>);

/// One person: their submissions and patient rows.
#[derive(Default)]
struct Person {
    submissions: Vec<Submission>,
    patient_rows: Vec<usize>,
}

impl Plan {
    /// Plans the import of `export` into a database holding `existing`.
    pub fn build(export: &Export, existing: &Existing, now: DateTime<Utc>) -> Plan {
        let mut plan = Plan::default();
        let conditions = plan.conditions(&export.medical_conditions, existing, now);
        let hospitals = plan.keyed_reference(&export.hospitals, existing, now);
        let specializations = plan.specializations(&export.specializations, existing, now);
        let (practitioners, physicians) = plan.practitioners(
            &export.contacts,
            existing,
            &hospitals,
            &specializations,
            now,
        );
        plan.people(
            export,
            existing,
            &conditions,
            &practitioners,
            &physicians,
            now,
        );
        plan
    }

    fn report(&mut self, table: &'static str, row: &Row, id_column: &str) -> usize {
        self.rows.push(RowReport::new(
            table,
            row.get(id_column).unwrap_or("").to_owned(),
        ));
        let index = self.rows.len() - 1;
        if let Some(why) = &row.malformed {
            self.rows[index].warnings.push(format!("the row {why}"));
        }
        index
    }

    fn reject(&mut self, index: usize, row: &Row, reason: impl Into<String>) {
        let report = &mut self.rows[index];
        report.outcome = Outcome::Rejected;
        report.reason = Some(reason.into());
        report.row = Some(row.to_json());
    }

    /// Consolidates conditions by abbreviation (trimmed, case-insensitive);
    /// returns the legacy id → condition id map and abbreviation → id.
    fn conditions(
        &mut self,
        table: &Table,
        existing: &Existing,
        now: DateTime<Utc>,
    ) -> HashMap<String, Uuid> {
        let mut by_abbreviation: HashMap<String, Uuid> = existing.conditions.clone();
        let mut by_legacy = HashMap::new();
        let mut planned: HashMap<String, usize> = HashMap::new();
        for row in &table.rows {
            let index = self.report(table.name, row, "medical_condition_id");
            let (Some(legacy_id), Some(abbreviation)) =
                (row.get("medical_condition_id"), row.get("abbreviation"))
            else {
                self.reject(index, row, "no id or no abbreviation");
                continue;
            };
            let abbreviation = key_upper(abbreviation);
            let id = match by_abbreviation.get(&abbreviation) {
                Some(id) => {
                    self.rows[index].merge("medical-conditions", *id);
                    *id
                }
                None => {
                    let Some(name) = row.get("name") else {
                        self.reject(index, row, "a new condition needs a name");
                        continue;
                    };
                    let id = stable_id(epoch(), &format!("condition:{abbreviation}"));
                    self.conditions.push(Planned {
                        id,
                        model: medical_condition::ActiveModel {
                            id: Set(id),
                            name: Set(name.to_owned()),
                            abbreviation: Set(abbreviation.clone()),
                            version: Set(1),
                            created_at: Set(now),
                            updated_at: Set(now),
                        },
                    });
                    planned.insert(abbreviation.clone(), self.conditions.len() - 1);
                    by_abbreviation.insert(abbreviation, id);
                    self.rows[index].own("medical-conditions", id);
                    id
                }
            };
            by_legacy.insert(legacy_id.to_owned(), id);
        }
        // Submissions name conditions by abbreviation (the option set).
        for (abbreviation, id) in &by_abbreviation {
            by_legacy.insert(format!("abbreviation:{abbreviation}"), *id);
        }
        by_legacy
    }

    /// Hospitals, one per name and city.
    fn keyed_reference(
        &mut self,
        table: &Table,
        existing: &Existing,
        now: DateTime<Utc>,
    ) -> HashMap<String, Uuid> {
        let mut by_key: HashMap<(String, String), Uuid> = existing.hospitals.clone();
        let mut planned: HashMap<(String, String), usize> = HashMap::new();
        let mut by_legacy = HashMap::new();
        for row in &table.rows {
            let index = self.report(table.name, row, "hospital_id");
            let (Some(legacy_id), Some(name)) = (row.get("hospital_id"), row.get("name")) else {
                self.reject(index, row, "no id or no name");
                continue;
            };
            let city = row.get("city").unwrap_or("").to_owned();
            if city.is_empty() {
                self.rows[index].warnings.push("no city".into());
            }
            let key = (name.to_owned(), city.clone());
            let id = if let Some(id) = by_key.get(&key) {
                self.rows[index].merge("hospitals", *id);
                *id
            } else {
                let id = stable_id(epoch(), &format!("hospital:{name}\u{1f}{city}"));
                self.hospitals.push(Planned {
                    id,
                    model: hospital::ActiveModel {
                        id: Set(id),
                        name: Set(name.to_owned()),
                        city: Set(city),
                        country: Set(None),
                        version: Set(1),
                        created_at: Set(now),
                        updated_at: Set(now),
                    },
                });
                planned.insert(key.clone(), self.hospitals.len() - 1);
                by_key.insert(key, id);
                self.rows[index].own("hospitals", id);
                id
            };
            by_legacy.insert(legacy_id.to_owned(), id);
        }
        by_legacy
    }

    /// Specializations, one per name (trimmed, case-insensitive).
    fn specializations(
        &mut self,
        table: &Table,
        existing: &Existing,
        now: DateTime<Utc>,
    ) -> HashMap<String, Uuid> {
        let mut by_name: HashMap<String, Uuid> = existing.specializations.clone();
        let mut planned: HashMap<String, usize> = HashMap::new();
        let mut by_legacy = HashMap::new();
        for row in &table.rows {
            let index = self.report(table.name, row, "specialization_id");
            let (Some(legacy_id), Some(name)) = (row.get("specialization_id"), row.get("name"))
            else {
                self.reject(index, row, "no id or no name");
                continue;
            };
            let key = name.to_lowercase();
            let id = if let Some(id) = by_name.get(&key) {
                self.rows[index].merge("specializations", *id);
                *id
            } else {
                let id = stable_id(epoch(), &format!("specialization:{key}"));
                self.specializations.push(Planned {
                    id,
                    model: specialization::ActiveModel {
                        id: Set(id),
                        name: Set(name.to_owned()),
                        version: Set(1),
                        created_at: Set(now),
                        updated_at: Set(now),
                    },
                });
                planned.insert(key.clone(), self.specializations.len() - 1);
                by_name.insert(key, id);
                self.rows[index].own("specializations", id);
                id
            };
            by_legacy.insert(legacy_id.to_owned(), id);
        }
        by_legacy
    }

    /// Physicians and pharmacists from contact rows, one per email. Returns
    /// contact id → practitioner id, and the set of physicians' ids.
    fn practitioners(
        &mut self,
        contacts: &Table,
        existing: &Existing,
        hospitals: &HashMap<String, Uuid>,
        specializations: &HashMap<String, Uuid>,
        now: DateTime<Utc>,
    ) -> (HashMap<String, Uuid>, HashMap<Uuid, bool>) {
        let mut by_email: HashMap<String, Uuid> = existing.practitioners.clone();
        let mut planned: HashMap<String, usize> = HashMap::new();
        let mut by_contact = HashMap::new();
        let mut is_physician = HashMap::new();
        for row in &contacts.rows {
            let kind = match row.get("contact_type").and_then(parse::contact_type) {
                Some(ContactType::Physician) => "physician",
                Some(ContactType::Pharmacist) => "pharmacist",
                _ => continue,
            };
            let index = self.report(contacts.name, row, "contactid");
            let mut warnings = Vec::new();
            let (Some(contact_id), Some(first), Some(last)) = (
                row.get("contactid"),
                row.get("firstname"),
                row.get("lastname"),
            ) else {
                self.reject(
                    index,
                    row,
                    "a practitioner needs an id, a first name and a last name",
                );
                continue;
            };
            let email = match row.get("emailaddress1").map(Email::parse) {
                Some(Ok(email)) => Some(email.as_str().to_owned()),
                Some(Err(_)) => {
                    warnings.push("emailaddress1 is not a valid email; left empty".into());
                    None
                }
                None => None,
            };
            let lookup = |column: &str, map: &HashMap<String, Uuid>, warnings: &mut Vec<String>| {
                let legacy = row.get(column)?;
                let found = map.get(legacy).copied();
                if found.is_none() {
                    warnings.push(format!(
                        "{column} names a row missing from the export; left empty"
                    ));
                }
                found
            };
            let hospital_id = lookup("hospital", hospitals, &mut warnings);
            let specialization_id = lookup("specialization", specializations, &mut warnings);
            let created = date(row, "createdon", &mut warnings).unwrap_or(now);
            let modified = date(row, "modifiedon", &mut warnings).unwrap_or(created);
            self.rows[index].warnings.extend(warnings);
            if let Some(id) = email.as_ref().and_then(|e| by_email.get(e)) {
                self.rows[index].merge("practitioners", *id);
                by_contact.insert(contact_id.to_owned(), *id);
                is_physician.entry(*id).or_insert(kind == "physician");
                continue;
            }
            let id = stable_id(
                created,
                &format!("practitioner:{}", email.as_deref().unwrap_or(contact_id)),
            );
            self.practitioners.push(Planned {
                id,
                model: practitioner::ActiveModel {
                    id: Set(id),
                    kind: Set(kind.to_owned()),
                    first_name: Set(first.to_owned()),
                    last_name: Set(last.to_owned()),
                    email: Set(email.clone()),
                    phone: Set(None),
                    job_title: Set(text(row, "job_title")),
                    specialization_id: Set(specialization_id),
                    license_number: Set(text(row, "medical_license_number")),
                    hospital_id: Set(hospital_id),
                    version: Set(1),
                    created_at: Set(created),
                    updated_at: Set(modified),
                },
            });
            if let Some(email) = email {
                planned.insert(email.clone(), self.practitioners.len() - 1);
                by_email.insert(email, id);
            }
            self.rows[index].own("practitioners", id);
            by_contact.insert(contact_id.to_owned(), id);
            is_physician.insert(id, kind == "physician");
        }
        (by_contact, is_physician)
    }

    /// Leads, patients, their submissions, calls, referrals and enrollments.
    fn people(
        &mut self,
        export: &Export,
        existing: &Existing,
        conditions: &HashMap<String, Uuid>,
        practitioners: &HashMap<String, Uuid>,
        physicians: &HashMap<Uuid, bool>,
        now: DateTime<Utc>,
    ) {
        // Group lead rows (submissions) by normalised email.
        let mut people: BTreeMap<String, Person> = BTreeMap::new();
        let mut contact_email: HashMap<String, String> = HashMap::new();
        for (position, row) in export.contacts.rows.iter().enumerate() {
            match row.get("contact_type").map(parse::contact_type) {
                Some(Some(ContactType::Lead)) => {}
                Some(Some(_)) => continue,
                _ => {
                    let index = self.report(export.contacts.name, row, "contactid");
                    self.reject(index, row, "contact_type is missing or not a known option");
                    continue;
                }
            }
            let Some(contact_id) = row.get("contactid") else {
                let index = self.report(export.contacts.name, row, "contactid");
                self.reject(index, row, "no contactid");
                continue;
            };
            let Some(Ok(email)) = row.get("emailaddress1").map(Email::parse) else {
                let index = self.report(export.contacts.name, row, "contactid");
                self.reject(
                    index,
                    row,
                    "a lead needs a valid email to be matched to a person",
                );
                continue;
            };
            let mut warnings = Vec::new();
            let submission = Submission {
                row: position,
                contact_id: contact_id.to_owned(),
                created: date(row, "createdon", &mut warnings),
                modified: date(row, "modifiedon", &mut warnings),
                first_name: text(row, "firstname"),
                last_name: text(row, "lastname"),
                condition: row.get("medical_condition").and_then(|v| {
                    let found = parse::condition_option(v);
                    if found.is_none() {
                        warnings
                            .push("medical_condition is not a known option; kept as typed".into());
                    }
                    found
                }),
                booking: date(row, "booking_date", &mut warnings),
                reminder: date(row, "reminder_date", &mut warnings),
                no_show: row.get("no_show").and_then(|v| {
                    let parsed = parse::yes_no(v);
                    if parsed.is_none() {
                        warnings
                            .push("no_show is neither Yes nor No; the call stays scheduled".into());
                    }
                    parsed
                }),
                email: email.clone(),
            };
            // Warnings are attached when the submission is reported below.
            contact_email.insert(contact_id.to_owned(), email.as_str().to_owned());
            let person = people.entry(email.as_str().to_owned()).or_default();
            person.submissions.push(submission);
            if !warnings.is_empty() {
                self.pending_warnings.insert(position, warnings);
            }
        }
        // Patient rows join the person of their email, else of their contact.
        for (position, row) in export.patients.rows.iter().enumerate() {
            let email = match row.get("email").map(Email::parse) {
                Some(Ok(email)) => Some(email.as_str().to_owned()),
                _ => row
                    .get("contact_record")
                    .and_then(|c| contact_email.get(c))
                    .cloned(),
            };
            match email {
                Some(email) => people.entry(email).or_default().patient_rows.push(position),
                None => {
                    let index = self.report(export.patients.name, row, "patientid");
                    self.reject(
                        index,
                        row,
                        "no valid email and no contact record to find the person by",
                    );
                }
            }
        }
        let mut patient_person: HashMap<String, (Uuid, Option<Uuid>)> = HashMap::new();
        let mut trial_ids: HashMap<String, Uuid> = existing.trials.clone();
        let mut referral_keys: HashMap<(Uuid, Uuid), usize> = HashMap::new();
        for (email, mut person) in people {
            person
                .submissions
                .sort_by_key(|s| (s.created.is_none(), s.created, s.row));
            self.person(
                export,
                existing,
                conditions,
                practitioners,
                physicians,
                &email,
                &person,
                now,
                &mut patient_person,
                &mut trial_ids,
                &mut referral_keys,
            );
        }
        self.enrollments(&export.dossiers, existing, &patient_person, now);
    }
}

impl Plan {
    /// One person: the patient record, their submissions and calls, and the
    /// referrals of their patient rows.
    #[allow(clippy::too_many_arguments)]
    fn person(
        &mut self,
        export: &Export,
        existing: &Existing,
        conditions: &HashMap<String, Uuid>,
        practitioners: &HashMap<String, Uuid>,
        physicians: &HashMap<Uuid, bool>,
        email: &str,
        person: &Person,
        now: DateTime<Utc>,
        patient_person: &mut HashMap<String, (Uuid, Option<Uuid>)>,
        trial_ids: &mut HashMap<String, Uuid>,
        referral_keys: &mut HashMap<(Uuid, Uuid), usize>,
    ) {
        let mut rows: Vec<PatientRow> = person
            .patient_rows
            .iter()
            .map(|&i| {
                let row = &export.patients.rows[i];
                let mut warnings = Vec::new();
                let created = date(row, "createdon", &mut warnings);
                (row, warnings, created)
            })
            .collect();
        rows.sort_by_key(|(_, _, created)| (created.is_none(), *created));
        let created = rows
            .iter()
            .filter_map(|(_, _, c)| *c)
            .chain(person.submissions.iter().filter_map(|s| s.created))
            .min()
            .unwrap_or(now);
        let id = existing
            .patients
            .get(email)
            .copied()
            .unwrap_or_else(|| stable_id(created, &format!("person:{email}")));

        let (mut first_name, mut last_name) = (None, None);
        let (mut condition, mut physician) = (None, None);
        let (mut first_contact, mut initial_consult, mut converted) = (None, None, None);
        let mut updated = created;
        for (row, warnings, row_created) in rows.iter_mut() {
            first_name = first_name.or_else(|| text(row, "firstname"));
            last_name = last_name.or_else(|| text(row, "lastname"));
            if let Some(legacy) = row.get("medical_condition") {
                match conditions.get(legacy) {
                    Some(found) => condition = condition.or(Some(*found)),
                    None => warnings.push(
                        "medical_condition names a row missing from the export; left empty".into(),
                    ),
                }
            }
            if let Some(legacy) = row.get("physician") {
                match practitioners.get(legacy) {
                    Some(found) if physicians.get(found).copied().unwrap_or(false) => {
                        physician = physician.or(Some(*found))
                    }
                    Some(_) => warnings.push("physician names a pharmacist; left empty".into()),
                    None => warnings.push(
                        "physician names a contact missing from the export; left empty".into(),
                    ),
                }
            }
            first_contact = first_contact.or_else(|| date(row, "first_contact_date", warnings));
            initial_consult =
                initial_consult.or_else(|| date(row, "initial_consult_date", warnings));
            converted = converted.or(*row_created);
            if let Some(modified) = date(row, "modifiedon", warnings) {
                updated = updated.max(modified);
            }
        }
        for submission in &person.submissions {
            first_name = first_name.or_else(|| submission.first_name.clone());
            last_name = last_name.or_else(|| submission.last_name.clone());
            if condition.is_none() {
                condition = submission
                    .condition
                    .and_then(|a| conditions.get(&format!("abbreviation:{a}")).copied());
            }
            if let Some(modified) = submission.modified {
                updated = updated.max(modified);
            }
        }
        let is_patient = !rows.is_empty();
        let converted_at = is_patient.then(|| converted.or(initial_consult).unwrap_or(created));
        self.patients.push(Planned {
            id,
            model: patient::ActiveModel {
                id: Set(id),
                status: Set(if is_patient {
                    PatientStatus::Patient
                } else {
                    PatientStatus::Lead
                }
                .as_str()
                .to_owned()),
                first_name: Set(first_name),
                last_name: Set(last_name),
                email: Set(Some(email.to_owned())),
                phone: Set(None),
                medical_condition_id: Set(condition),
                physician_id: Set(physician),
                physician_kind: Set("physician".to_owned()),
                first_contact_at: Set(first_contact
                    .or(person.submissions.iter().find_map(|s| s.created))
                    .or(Some(created))),
                initial_consult_at: Set(initial_consult),
                converted_at: Set(converted_at),
                erased_at: Set(None),
                owner_id: Set(None),
                version: Set(1),
                created_at: Set(created),
                updated_at: Set(updated),
            },
        });

        // The person's record is owned by their first patient row; a lead's
        // rows each own their submission and point at the person.
        let mut owner_taken = false;
        for (row, warnings, row_created) in rows {
            let index = self.report(export.patients.name, row, "patientid");
            self.rows[index].warnings.extend(warnings);
            if owner_taken {
                self.rows[index].merge("patients", id)
            } else {
                self.rows[index].own("patients", id)
            }
            owner_taken = true;
            let patient_id = row.get("patientid").unwrap_or("").to_owned();
            patient_person.insert(patient_id.clone(), (id, physician));
            if let Some(trial) = row.get("trial_id") {
                self.referral(
                    row,
                    index,
                    &patient_id,
                    id,
                    physician,
                    trial,
                    row_created.unwrap_or(created),
                    now,
                    trial_ids,
                    referral_keys,
                );
            }
        }
        for submission in &person.submissions {
            let row = &export.contacts.rows[submission.row];
            let index = self.report(export.contacts.name, row, "contactid");
            if let Some(warnings) = self.pending_warnings.remove(&submission.row) {
                self.rows[index].warnings.extend(warnings);
            }
            let at = submission.created.unwrap_or(created);
            if submission.created.is_none() {
                self.rows[index].warnings.push("createdon is missing or invalid; the submission is dated at the person's first contact".into());
            }
            let submission_id = stable_id(at, &format!("submission:{}", submission.contact_id));
            self.submissions.push(Planned {
                id: submission_id,
                model: intake_submission::ActiveModel {
                    id: Set(submission_id),
                    patient_id: Set(id),
                    channel: Set("legacy_import".to_owned()),
                    first_name: Set(submission.first_name.clone()),
                    last_name: Set(submission.last_name.clone()),
                    email: Set(Some(submission.email.as_str().to_owned())),
                    phone: Set(None),
                    medical_condition_id: Set(submission
                        .condition
                        .and_then(|a| conditions.get(&format!("abbreviation:{a}")).copied())),
                    medical_condition_text: Set(row.get("medical_condition").map(str::to_owned)),
                    requested_call_at: Set(submission.booking),
                    payload: Set(row.to_json()),
                    submitted_at: Set(at),
                    erased_at: Set(None),
                },
            });
            self.rows[index].own("intake-submissions", submission_id);
            if let Some(booking) = submission.booking {
                let call_id = stable_id(booking, &format!("call:{}", submission.contact_id));
                let status = match submission.no_show {
                    Some(true) => CallStatus::NoShow,
                    Some(false) => CallStatus::Completed,
                    None => CallStatus::Scheduled,
                };
                self.calls.push(Planned {
                    id: call_id,
                    model: call::ActiveModel {
                        id: Set(call_id),
                        patient_id: Set(id),
                        navigator: Set(None),
                        scheduled_at: Set(booking),
                        reminder_at: Set(submission.reminder),
                        status: Set(status.as_str().to_owned()),
                        notes: Set(None),
                        navigator_id: Set(None),
                        version: Set(1),
                        created_at: Set(at),
                        updated_at: Set(submission.modified.unwrap_or(at)),
                    },
                });
                self.rows[index].also("calls", call_id);
            }
            self.rows[index].also("patients", id);
        }
    }

    /// The one referral a patient row can hold, to the trial of its
    /// registry id (created once per distinct id).
    #[allow(clippy::too_many_arguments)]
    fn referral(
        &mut self,
        row: &Row,
        index: usize,
        patient_id: &str,
        person: Uuid,
        physician: Option<Uuid>,
        trial: &str,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
        trial_ids: &mut HashMap<String, Uuid>,
        referral_keys: &mut HashMap<(Uuid, Uuid), usize>,
    ) {
        let registry = key_upper(trial);
        let trial_id = match trial_ids.get(&registry) {
            Some(id) => {
                self.rows[index].also("clinical-trials", *id);
                *id
            }
            None => {
                let id = stable_id(epoch(), &format!("trial:{registry}"));
                self.trials.push(Planned {
                    id,
                    model: clinical_trial::ActiveModel {
                        id: Set(id),
                        registry_id: Set(registry.clone()),
                        title: Set(None),
                        medical_condition_id: Set(None),
                        status: Set(TrialStatus::Recruiting.as_str().to_owned()),
                        version: Set(1),
                        created_at: Set(now),
                        updated_at: Set(now),
                    },
                });
                trial_ids.insert(registry, id);
                self.rows[index].also("clinical-trials", id);
                id
            }
        };
        let mut warnings = Vec::new();
        if referral_keys.contains_key(&(person, trial_id)) {
            self.rows[index].warnings.push(
                "a second referral of this person to this trial; merged into the first".into(),
            );
            return;
        }
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
                warnings.push(
                    "ineligible_reason on an eligible referral; kept only in this report".into(),
                );
            }
            _ => {}
        }
        let outcome = match row.get("ct_outcome") {
            None => ReferralOutcome::Pending,
            Some(value) => parse::outcome(value).unwrap_or_else(|| {
                warnings.push("ct_outcome is not a known option; pending".into());
                ReferralOutcome::Pending
            }),
        };
        let referred = date(row, "ct_referral_date", &mut warnings);
        self.rows[index].warnings.extend(warnings);
        let id = stable_id(
            referred.unwrap_or(created),
            &format!("referral:{patient_id}"),
        );
        self.referrals.push(Planned {
            id,
            model: trial_referral::ActiveModel {
                id: Set(id),
                patient_id: Set(person),
                patient_status: Set("patient".to_owned()),
                trial_id: Set(trial_id),
                physician_id: Set(physician),
                physician_kind: Set("physician".to_owned()),
                imported: Set(true),
                referred_at: Set(referred),
                eligibility: Set(eligibility.as_str().to_owned()),
                ineligible_reason: Set(reason),
                outcome: Set(outcome.as_str().to_owned()),
                version: Set(1),
                created_at: Set(created),
                updated_at: Set(created),
            },
        });
        referral_keys.insert((person, trial_id), self.referrals.len() - 1);
        self.rows[index].also("trial-referrals", id);
    }

    /// One enrollment per dossier row, in the program of its EAP number.
    fn enrollments(
        &mut self,
        table: &Table,
        existing: &Existing,
        patients: &HashMap<String, (Uuid, Option<Uuid>)>,
        now: DateTime<Utc>,
    ) {
        let mut programs: HashMap<String, Uuid> = existing.programs.clone();
        let mut open: HashMap<(Uuid, Uuid), usize> = HashMap::new();
        for row in &table.rows {
            let index = self.report(table.name, row, "eap_dossier_id");
            let Some(dossier_id) = row.get("eap_dossier_id") else {
                self.reject(index, row, "no eap_dossier_id");
                continue;
            };
            let Some(&(person, physician)) = row.get("patient").and_then(|p| patients.get(p))
            else {
                self.reject(index, row, "the patient is missing from the export: the enrollment has no one to belong to");
                continue;
            };
            let Some(number) = row.get("eap_number") else {
                self.reject(index, row, "no eap_number");
                continue;
            };
            let number = key_upper(number);
            let program = match programs.get(&number) {
                Some(id) => {
                    self.rows[index].also("expanded-access-programs", *id);
                    *id
                }
                None => {
                    let product = text(row, "product").unwrap_or_else(|| {
                        self.rows[index]
                            .warnings
                            .push("no product; the program's product is its EAP number".into());
                        number.clone()
                    });
                    let id = stable_id(epoch(), &format!("program:{number}"));
                    self.programs.push(Planned {
                        id,
                        model: expanded_access_program::ActiveModel {
                            id: Set(id),
                            eap_number: Set(number.clone()),
                            product: Set(product),
                            medical_condition_id: Set(None),
                            status: Set(ProgramStatus::Open.as_str().to_owned()),
                            version: Set(1),
                            created_at: Set(now),
                            updated_at: Set(now),
                        },
                    });
                    programs.insert(number, id);
                    self.rows[index].also("expanded-access-programs", id);
                    id
                }
            };
            let mut warnings = Vec::new();
            let enrolled = date(row, "eap_enrollment_date", &mut warnings);
            self.rows[index].warnings.extend(warnings);
            // One open enrollment per patient and program: an earlier one
            // for the same pair is closed as completed.
            if let Some(&earlier) = open.get(&(person, program)) {
                self.enrollments[earlier].model.status =
                    Set(EnrollmentStatus::Completed.as_str().to_owned());
                self.rows[index].warnings.push("the patient had an earlier enrollment in this program; that one is marked completed".into());
            }
            let id = stable_id(enrolled.unwrap_or(now), &format!("enrollment:{dossier_id}"));
            self.enrollments.push(Planned {
                id,
                model: eap_enrollment::ActiveModel {
                    id: Set(id),
                    patient_id: Set(person),
                    patient_status: Set("patient".to_owned()),
                    program_id: Set(program),
                    physician_id: Set(physician),
                    physician_kind: Set("physician".to_owned()),
                    imported: Set(true),
                    enrolled_at: Set(enrolled),
                    status: Set(EnrollmentStatus::Active.as_str().to_owned()),
                    version: Set(1),
                    created_at: Set(enrolled.unwrap_or(now)),
                    updated_at: Set(enrolled.unwrap_or(now)),
                },
            });
            open.insert((person, program), self.enrollments.len() - 1);
            self.rows[index].own("eap-enrollments", id);
        }
    }
}
