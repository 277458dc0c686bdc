//! Reference data: conditions consolidated by abbreviation, hospitals by
//! name and city, specializations by name, practitioners by email.

use sea_orm::{ActiveValue::Set, prelude::Uuid};

use super::{Plan, date, epoch, key_upper, stable_id, text};
use crate::{
    db::entities::{hospital, medical_condition, practitioner, specialization},
    domain::{Email, PractitionerKind},
    legacy::{
        parse::{self, ContactType},
        read::{Row, Table},
    },
};

impl Plan {
    /// Conditions, one per abbreviation (trimmed, case-insensitive); the
    /// first row's name (by id) names a new one.
    pub(super) fn conditions(&mut self, table: &Table) {
        for row in &table.rows {
            let index = self.report(table, row);
            let (Some(legacy_id), Some(abbreviation)) =
                (row.get("medical_condition_id"), row.get("abbreviation"))
            else {
                self.reject(index, row, "no id or no abbreviation");
                continue;
            };
            let abbreviation = key_upper(abbreviation);
            let name = row.get("name");
            let id = stable_id(epoch(), &format!("condition:{abbreviation}"));
            let (id, new) = self
                .conditions
                .find_or_plan(abbreviation.clone(), id, |id| {
                    medical_condition::ActiveModel {
                        id: Set(id),
                        name: Set(name.unwrap_or_default().to_owned()),
                        abbreviation: Set(abbreviation.clone()),
                        version: Set(1),
                        created_at: Set(epoch()),
                        updated_at: Set(epoch()),
                    }
                });
            if new && name.is_none() {
                self.conditions.planned.pop();
                self.conditions.by_key.remove(&abbreviation);
                self.reject(index, row, "a new condition needs a name");
                continue;
            }
            self.rows[index].record("medical-conditions", id, new);
            self.links.conditions.insert(legacy_id.to_owned(), id);
        }
        // Submissions name conditions by abbreviation (the option set).
        let known: Vec<(String, Uuid)> = self
            .conditions
            .by_key
            .iter()
            .map(|(a, id)| (format!("abbreviation:{a}"), *id))
            .collect();
        self.links.conditions.extend(known);
    }

    /// Hospitals, one per name and city.
    pub(super) fn hospitals(&mut self, table: &Table) {
        for row in &table.rows {
            let index = self.report(table, row);
            let (Some(legacy_id), Some(name)) = (row.get("hospital_id"), row.get("name")) else {
                self.reject(index, row, "no id or no name");
                continue;
            };
            let city = row.get("city").unwrap_or("").to_owned();
            if city.is_empty() {
                self.rows[index].warnings.push("no city".into());
            }
            let id = stable_id(epoch(), &format!("hospital:{name}\u{1f}{city}"));
            let (id, new) =
                self.hospitals
                    .find_or_plan((name.to_owned(), city.clone()), id, |id| {
                        hospital::ActiveModel {
                            id: Set(id),
                            name: Set(name.to_owned()),
                            city: Set(city.clone()),
                            country: Set(None),
                            version: Set(1),
                            created_at: Set(epoch()),
                            updated_at: Set(epoch()),
                        }
                    });
            self.rows[index].record("hospitals", id, new);
            self.links.hospitals.insert(legacy_id.to_owned(), id);
        }
    }

    /// Specializations, one per name (trimmed, case-insensitive).
    pub(super) fn specializations(&mut self, table: &Table) {
        for row in &table.rows {
            let index = self.report(table, row);
            let (Some(legacy_id), Some(name)) = (row.get("specialization_id"), row.get("name"))
            else {
                self.reject(index, row, "no id or no name");
                continue;
            };
            let key = name.to_lowercase();
            let id = stable_id(epoch(), &format!("specialization:{key}"));
            let (id, new) =
                self.specializations
                    .find_or_plan(key, id, |id| specialization::ActiveModel {
                        id: Set(id),
                        name: Set(name.to_owned()),
                        version: Set(1),
                        created_at: Set(epoch()),
                        updated_at: Set(epoch()),
                    });
            self.rows[index].record("specializations", id, new);
            self.links.specializations.insert(legacy_id.to_owned(), id);
        }
    }

    /// Physicians and pharmacists from contact rows, one per email (a
    /// practitioner without one is their own).
    pub(super) fn practitioners(&mut self, contacts: &Table) {
        for row in &contacts.rows {
            let kind = match row.get("contact_type").and_then(parse::contact_type) {
                Some(ContactType::Physician) => PractitionerKind::Physician,
                Some(ContactType::Pharmacist) => PractitionerKind::Pharmacist,
                _ => continue,
            };
            let index = self.report(contacts, row);
            let (Some(contact_id), Some(_), Some(_)) = (
                row.get("contactid"),
                row.get("firstname"),
                row.get("lastname"),
            ) else {
                let why = "a practitioner needs an id, a first name and a last name";
                self.reject(index, row, why);
                continue;
            };
            let mut warnings = Vec::new();
            let (key, id, model) = self.practitioner(row, kind, contact_id, &mut warnings);
            self.rows[index].warnings.extend(warnings);
            let (id, new) = self.practitioners.find_or_plan(key, id, |_| model);
            self.rows[index].record("practitioners", id, new);
            let physician = kind == PractitionerKind::Physician;
            let links = std::sync::Arc::make_mut(&mut self.links.practitioners);
            let entry = links.entry(contact_id.to_owned());
            entry.or_insert((id, physician));
        }
    }

    /// A practitioner's natural key (their email, else their contact id),
    /// id and record as `row` has them.
    fn practitioner(
        &self,
        row: &Row,
        kind: PractitionerKind,
        contact_id: &str,
        warnings: &mut Vec<String>,
    ) -> (String, Uuid, practitioner::ActiveModel) {
        let email = match row.get("emailaddress1").map(Email::parse) {
            Some(Ok(email)) => Some(email.as_str().to_owned()),
            Some(Err(_)) => {
                warnings.push("emailaddress1 is not a valid email; left empty".into());
                None
            }
            None => None,
        };
        let mut lookup = |column: &str, found: Option<Option<&Uuid>>| {
            let found = found?.copied();
            if found.is_none() {
                warnings.push(format!(
                    "{column} names a row missing from the export; left empty"
                ));
            }
            found
        };
        let hospital = row.get("hospital").map(|h| self.links.hospitals.get(h));
        let hospital_id = lookup("hospital", hospital);
        let specialization = row
            .get("specialization")
            .map(|s| self.links.specializations.get(s));
        let specialization_id = lookup("specialization", specialization);
        let created = date(row, "createdon", warnings).unwrap_or_else(epoch);
        let modified = date(row, "modifiedon", warnings).unwrap_or(created);
        let key = email
            .clone()
            .unwrap_or_else(|| format!("contact:{contact_id}"));
        let id = stable_id(created, &format!("practitioner:{key}"));
        let model = practitioner::ActiveModel {
            id: Set(id),
            kind: Set(kind),
            first_name: Set(text(row, "firstname").unwrap_or_default()),
            last_name: Set(text(row, "lastname").unwrap_or_default()),
            email: Set(email),
            phone: Set(None),
            job_title: Set(text(row, "job_title")),
            specialization_id: Set(specialization_id),
            license_number: Set(text(row, "medical_license_number")),
            hospital_id: Set(hospital_id),
            version: Set(1),
            created_at: Set(created),
            updated_at: Set(modified),
        };
        (key, id, model)
    }
}
