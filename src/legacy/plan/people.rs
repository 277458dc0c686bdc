//! People: lead rows and patient rows grouped into one person per email,
//! the person's record (the patient row's values win, else the earliest
//! submission's, later ones only fill empty fields), one submission per
//! lead row and one call per valid booking.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};

use super::{Known, PersonRef, Plan, date, epoch, stable_id, suppression, text};
use crate::{
    db::entities::{call, intake_submission, patient},
    domain::{CallStatus, Channel, Email, PatientStatus, PractitionerKind},
    legacy::{
        parse::{self, ContactType},
        read::{Row, Table},
        report::Outcome,
    },
};

/// One lead contact row, parsed.
struct Submission<'a> {
    row: &'a Row,
    index: usize,
    contact_id: String,
    email: Email,
    created: Option<DateTime<Utc>>,
    modified: Option<DateTime<Utc>>,
    condition: Option<&'static str>,
    booking: Option<DateTime<Utc>>,
    reminder: Option<DateTime<Utc>>,
    no_show: Option<bool>,
}

/// A patient row with its report entry, warnings so far and `createdon`.
struct PatientRow<'a> {
    row: &'a Row,
    index: usize,
    warnings: Vec<String>,
    created: Option<DateTime<Utc>>,
}

/// One person: their submissions and patient rows.
#[derive(Default)]
struct Person<'a> {
    submissions: Vec<Submission<'a>>,
    patient_rows: Vec<PatientRow<'a>>,
}

/// The values a person's record takes from their rows.
#[derive(Default)]
struct Fields {
    first_name: Option<String>,
    last_name: Option<String>,
    condition: Option<Uuid>,
    physician: Option<Uuid>,
    first_contact: Option<DateTime<Utc>>,
    initial_consult: Option<DateTime<Utc>>,
    converted: Option<DateTime<Utc>>,
    updated: Option<DateTime<Utc>>,
}

impl Plan {
    /// Leads, patients, their submissions, calls and referrals.
    pub(super) fn people(&mut self, export: &super::People, known: &Known) {
        let mut people: BTreeMap<String, Person> = BTreeMap::new();
        let mut contact_email: BTreeMap<&str, String> = BTreeMap::new();
        for row in &export.contacts.rows {
            if let Some(submission) = self.submission(&export.contacts, row, known) {
                let email = self.grouped_by(known, "contact", submission.index, &submission.email);
                contact_email.insert(row.get("contactid").unwrap_or(""), email.clone());
                people
                    .entry(email)
                    .or_default()
                    .submissions
                    .push(submission);
            }
        }
        for row in &export.patients.rows {
            let index = self.report(&export.patients, row);
            let email = match row.get("email").map(Email::parse) {
                Some(Ok(email)) => Some(self.grouped_by(known, "patient", index, &email)),
                _ => row
                    .get("contact_record")
                    .and_then(|c| contact_email.get(c))
                    .cloned(),
            };
            let Some(email) = email else {
                let why = "no valid email and no contact record to find the person by";
                self.reject(index, row, why);
                continue;
            };
            let mut warnings = Vec::new();
            let created = date(row, "createdon", &mut warnings);
            let entry = PatientRow {
                row,
                index,
                warnings,
                created,
            };
            people.entry(email).or_default().patient_rows.push(entry);
        }
        for (email, person) in people {
            self.person(known, &email, person);
        }
    }

    /// The email a row is grouped by: the one it was last imported with, so
    /// that a changed email never moves a row to another person; the
    /// change is reported as a conflict instead.
    fn grouped_by(&mut self, known: &Known, table: &str, index: usize, email: &Email) -> String {
        let id = self.rows[index].id.clone();
        let Some(pinned) = known.pins.get(&(table.to_owned(), id)) else {
            return email.as_str().to_owned();
        };
        if pinned != email.as_str() {
            self.rows[index].conflict(
                "patients",
                None,
                "email",
                pinned.as_str().into(),
                email.as_str().into(),
            );
        }
        pinned.clone()
    }

    /// A lead row parsed, or `None` when it is no lead or is rejected.
    fn submission<'a>(
        &mut self,
        table: &Table,
        row: &'a Row,
        known: &Known,
    ) -> Option<Submission<'a>> {
        match row.get("contact_type").map(parse::contact_type) {
            Some(Some(ContactType::Lead)) => {}
            Some(Some(_)) => return None,
            _ => {
                let index = self.report(table, row);
                self.reject(index, row, "contact_type is missing or not a known option");
                return None;
            }
        }
        let index = self.report(table, row);
        let Some(contact_id) = row.get("contactid") else {
            self.reject(index, row, "no contactid");
            return None;
        };
        let Some(Ok(email)) = row.get("emailaddress1").map(Email::parse) else {
            let why = "a lead needs a valid email to be matched to a person";
            self.reject(index, row, why);
            return None;
        };
        let erased = known
            .erased_rows
            .contains(&(table.name.to_owned(), contact_id.to_owned()))
            || known.suppressed.contains(&suppression(email.as_str()));
        if erased {
            self.rows[index].outcome = Outcome::Skipped;
            return None;
        }
        let mut warnings = Vec::new();
        let submission = Submission {
            row,
            index,
            contact_id: contact_id.to_owned(),
            created: date(row, "createdon", &mut warnings),
            modified: date(row, "modifiedon", &mut warnings),
            condition: option(
                row,
                "medical_condition",
                parse::condition_option,
                &mut warnings,
            ),
            booking: date(row, "booking_date", &mut warnings),
            reminder: date(row, "reminder_date", &mut warnings),
            no_show: option(row, "no_show", parse::yes_no, &mut warnings),
            email,
        };
        self.rows[index].warnings.extend(warnings);
        Some(submission)
    }

    /// One person: their record, patient rows and submissions.
    fn person(&mut self, known: &Known, email: &str, mut person: Person) {
        person
            .patient_rows
            .sort_by_key(|p| (p.created.is_none(), p.created, p.index));
        person
            .submissions
            .sort_by_key(|s| (s.created.is_none(), s.created, s.index));
        let created = (person.patient_rows.iter().map(|p| p.created))
            .chain(person.submissions.iter().map(|s| s.created))
            .flatten()
            .min()
            .unwrap_or_else(epoch);
        let id = (known.existing.patients.get(email).copied())
            .unwrap_or_else(|| stable_id(created, &format!("person:{email}")));
        let erased = known.erased.contains(&id)
            || known.suppressed.contains(&suppression(email))
            || (person.patient_rows.iter().map(|p| ("patient", p.index)))
                .chain(person.submissions.iter().map(|s| ("contact", s.index)))
                .any(|(t, i)| {
                    let key = (t.to_owned(), self.rows[i].id.clone());
                    known.erased_rows.contains(&key)
                });
        if erased {
            self.skip_erased(&person);
            return;
        }
        let fields = self.fields(&mut person);
        let me = PersonRef {
            id,
            physician: fields.physician,
            created,
        };
        self.patients.push(super::Planned {
            id,
            model: person_record(&me, email, &person, fields),
        });
        self.patient_rows(&me, person.patient_rows);
        for submission in &person.submissions {
            self.submission_and_call(&me, submission);
        }
    }

    /// An erased person's rows: reported, and nothing else.
    fn skip_erased(&mut self, person: &Person) {
        let indexes = (person.patient_rows.iter().map(|p| p.index))
            .chain(person.submissions.iter().map(|s| s.index));
        for index in indexes {
            self.rows[index].outcome = Outcome::Skipped;
            self.rows[index].records.clear();
        }
    }

    /// The person's field values: patient rows first, then submissions.
    fn fields(&self, person: &mut Person) -> Fields {
        let mut f = Fields::default();
        for p in &mut person.patient_rows {
            let (row, warnings) = (p.row, &mut p.warnings);
            f.first_name = f.first_name.take().or_else(|| text(row, "firstname"));
            f.last_name = f.last_name.take().or_else(|| text(row, "lastname"));
            if let Some(legacy) = row.get("medical_condition") {
                match self.links.conditions.get(legacy) {
                    Some(found) => f.condition = f.condition.or(Some(*found)),
                    None => warnings.push(
                        "medical_condition names a row missing from the export; left empty".into(),
                    ),
                }
            }
            if let Some(legacy) = row.get("physician") {
                let physician = self.physician(legacy, warnings);
                f.physician = f.physician.or(physician);
            }
            let first_contact = date(row, "first_contact_date", warnings);
            f.first_contact = f.first_contact.or(first_contact);
            let initial_consult = date(row, "initial_consult_date", warnings);
            f.initial_consult = f.initial_consult.or(initial_consult);
            f.converted = f.converted.or(p.created);
            f.updated = f.updated.max(date(row, "modifiedon", warnings));
        }
        for s in &person.submissions {
            f.first_name = f.first_name.take().or_else(|| text(s.row, "firstname"));
            f.last_name = f.last_name.take().or_else(|| text(s.row, "lastname"));
            if f.condition.is_none() {
                f.condition = self.option_condition(s.condition);
            }
            f.first_contact = f.first_contact.or(s.created);
            f.updated = f.updated.max(s.modified);
        }
        f
    }

    fn physician(&self, legacy: &str, warnings: &mut Vec<String>) -> Option<Uuid> {
        match self.links.practitioners.get(legacy) {
            Some(&(found, true)) => Some(found),
            Some(_) => {
                warnings.push("physician names a pharmacist; left empty".into());
                None
            }
            None => {
                warnings
                    .push("physician names a contact missing from the export; left empty".into());
                None
            }
        }
    }

    fn option_condition(&self, abbreviation: Option<&str>) -> Option<Uuid> {
        let key = format!("abbreviation:{}", abbreviation?);
        self.links.conditions.get(&key).copied()
    }

    /// The person's patient rows: the first (by `createdon`) owns the
    /// record; each may hold a referral.
    fn patient_rows(&mut self, me: &PersonRef, rows: Vec<PatientRow>) {
        let mut owner_taken = false;
        for p in rows {
            self.rows[p.index].warnings.extend(p.warnings);
            self.rows[p.index].patient = Some(me.id);
            self.rows[p.index].record("patients", me.id, !owner_taken);
            owner_taken = true;
            let patient_id = p.row.get("patientid").unwrap_or("").to_owned();
            let created = p.created.unwrap_or(me.created);
            let at = PersonRef { created, ..*me };
            self.links.patients.insert(patient_id, at);
            if let Some(trial) = p.row.get("trial_id") {
                self.referral(p.row, p.index, &at, trial);
            }
        }
    }

    /// A lead row's submission, and its call if it booked one.
    fn submission_and_call(&mut self, me: &PersonRef, s: &Submission) {
        let at = s.created.unwrap_or(me.created);
        if s.created.is_none() {
            let why = "createdon is missing or invalid; the submission is dated at the person's first contact";
            self.rows[s.index].warnings.push(why.into());
        }
        let submission_id = stable_id(at, &format!("submission:{}", s.contact_id));
        let condition = self.option_condition(s.condition);
        self.submissions.push(super::Planned {
            id: submission_id,
            model: intake_submission::ActiveModel {
                id: Set(submission_id),
                patient_id: Set(me.id),
                channel: Set(Channel::LegacyImport),
                first_name: Set(text(s.row, "firstname")),
                last_name: Set(text(s.row, "lastname")),
                email: Set(Some(s.email.as_str().to_owned())),
                phone: Set(None),
                medical_condition_id: Set(condition),
                medical_condition_text: Set(text(s.row, "medical_condition")),
                requested_call_at: Set(s.booking),
                payload: Set(s.row.to_json()),
                submitted_at: Set(at),
                erased_at: Set(None),
            },
        });
        let report = &mut self.rows[s.index];
        report.patient = Some(me.id);
        report.record("intake-submissions", submission_id, true);
        if let Some(booking) = s.booking {
            // Dated by the submission, not the booking: a rescheduled
            // booking moves this call rather than planning another.
            let call_id = stable_id(at, &format!("call:{}", s.contact_id));
            let status = match s.no_show {
                Some(true) => CallStatus::NoShow,
                Some(false) => CallStatus::Completed,
                None => CallStatus::Scheduled,
            };
            self.calls.push(super::Planned {
                id: call_id,
                model: call::ActiveModel {
                    id: Set(call_id),
                    patient_id: Set(me.id),
                    navigator: Set(None),
                    navigator_id: Set(None),
                    scheduled_at: Set(booking),
                    reminder_at: Set(s.reminder),
                    status: Set(status),
                    notes: Set(None),
                    version: Set(1),
                    created_at: Set(at),
                    updated_at: Set(s.modified.unwrap_or(at)),
                },
            });
            self.rows[s.index].also("calls", call_id);
        }
        self.rows[s.index].also("patients", me.id);
    }
}

/// The person's record.
fn person_record(me: &PersonRef, email: &str, person: &Person, f: Fields) -> patient::ActiveModel {
    let is_patient = !person.patient_rows.is_empty();
    let status = if is_patient {
        PatientStatus::Patient
    } else {
        PatientStatus::Lead
    };
    let converted_at = is_patient.then(|| f.converted.or(f.initial_consult).unwrap_or(me.created));
    patient::ActiveModel {
        id: Set(me.id),
        status: Set(status),
        first_name: Set(f.first_name),
        last_name: Set(f.last_name),
        email: Set(Some(email.to_owned())),
        phone: Set(None),
        medical_condition_id: Set(f.condition),
        physician_id: Set(f.physician),
        physician_kind: Set(PractitionerKind::Physician),
        first_contact_at: Set(f.first_contact.or(Some(me.created))),
        initial_consult_at: Set(f.initial_consult),
        converted_at: Set(converted_at),
        erased_at: Set(None),
        owner_id: Set(None),
        version: Set(1),
        created_at: Set(me.created),
        updated_at: Set(f.updated.unwrap_or(me.created).max(me.created)),
    }
}

/// An option-set column: `None` when empty; a warning when not an option.
fn option<T>(
    row: &Row,
    column: &str,
    parse: fn(&str) -> Option<T>,
    warnings: &mut Vec<String>,
) -> Option<T> {
    let value = row.get(column)?;
    let parsed = parse(value);
    if parsed.is_none() {
        warnings.push(match column {
            "no_show" => "no_show is neither Yes nor No; the call stays scheduled".into(),
            _ => format!("{column} is not a known option; kept as typed"),
        });
    }
    parsed
}
