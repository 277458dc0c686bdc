//! From rows to records: what an export stands for in the target model,
//! with ids derived from the legacy data only (so the same export always
//! plans the very same records, whenever it runs: rule 15), and one report
//! entry per legacy row.
//!
//! Split by what it plans: [`reference`] (conditions, hospitals,
//! specializations, practitioners), [`people`] (persons, their submissions
//! and calls) and [`care`] (referrals, enrollments). Records with a natural
//! key go through one [`Keyed`] "find or plan" each.

mod care;
mod people;
mod reference;

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    sync::Arc,
};

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::prelude::Uuid;
use sha2::{Digest, Sha256};

use super::{
    parse,
    read::{Row, Table},
    report::{Outcome, RowReport},
};
use crate::db::entities::{
    call, clinical_trial, eap_enrollment, expanded_access_program, hospital, intake_submission,
    medical_condition, patient, practitioner, specialization, trial_referral,
};

/// The actor recorded in history for everything the import writes.
pub const ACTOR: &str = "legacy-import";

/// A record to write.
pub struct Planned<A> {
    pub id: Uuid,
    pub model: A,
}

/// Records of one kind found by a natural key: those the database has, and
/// those planned so far. The one "find or plan" of every keyed kind.
pub struct Keyed<K, A> {
    by_key: HashMap<K, Uuid>,
    /// The records to write.
    pub planned: Vec<Planned<A>>,
}

impl<K: Eq + Hash, A> Keyed<K, A> {
    /// Starts from the records the database has.
    pub fn new(existing: HashMap<K, Uuid>) -> Self {
        Self {
            by_key: existing,
            planned: Vec::new(),
        }
    }

    /// The record of `key`, found; or planned with id `id` as `make` builds
    /// it. The flag says whether it was planned by this call.
    pub fn find_or_plan(&mut self, key: K, id: Uuid, make: impl FnOnce(Uuid) -> A) -> (Uuid, bool) {
        if let Some(found) = self.by_key.get(&key) {
            return (*found, false);
        }
        self.by_key.insert(key, id);
        self.planned.push(Planned {
            id,
            model: make(id),
        });
        (id, true)
    }
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

/// What earlier imports and Navigator left that planning must respect.
#[derive(Default)]
pub struct Known {
    /// Records by natural key.
    pub existing: Existing,
    /// The email of the person each lead or patient row joined when last
    /// imported, by (file, id): a changed email never moves a row to
    /// another person (rule 11).
    pub pins: HashMap<(String, String), String>,
    /// Rows of erased people, by (file, id).
    pub erased_rows: HashSet<(String, String)>,
    /// [`suppression`] hashes of erased people's emails.
    pub suppressed: HashSet<String>,
    /// Erased patients.
    pub erased: HashSet<Uuid>,
}

/// The export's reference tables: small, planned once, before any
/// practitioner or person.
pub struct Reference {
    pub medical_conditions: Table,
    pub hospitals: Table,
    pub specializations: Table,
}

impl Reference {
    /// Every table, in the order they are planned.
    pub fn tables(&self) -> [&Table; 3] {
        [
            &self.medical_conditions,
            &self.hospitals,
            &self.specializations,
        ]
    }
}

/// The people's rows of one partition of the export: every lead, patient
/// and dossier row of the people whose key falls in it.
pub struct People {
    pub contacts: Table,
    pub patients: Table,
    pub dossiers: Table,
}

impl People {
    /// Every table, in the order they are planned.
    pub fn tables(&self) -> [&Table; 3] {
        [&self.contacts, &self.patients, &self.dossiers]
    }
}

/// What planning people takes from the reference data and from the
/// partitions planned before it: where reference rows went, and the
/// trials and programs known so far (found or planned), so that each is
/// planned once however many partitions name it.
#[derive(Clone, Default)]
pub struct Base {
    links: Links,
    trials: HashMap<String, Uuid>,
    programs: HashMap<String, Uuid>,
}

impl Base {
    /// Adds where some practitioners' contact rows went.
    pub fn add_practitioners(&mut self, links: HashMap<String, (Uuid, bool)>) {
        Arc::make_mut(&mut self.links.practitioners).extend(links);
    }
}

/// Where legacy ids went, for the lookups of later files.
#[derive(Default, Clone)]
struct Links {
    /// Legacy condition id, or `abbreviation:X`, → condition.
    conditions: HashMap<String, Uuid>,
    hospitals: HashMap<String, Uuid>,
    specializations: HashMap<String, Uuid>,
    /// Contact id → practitioner, and whether a physician.
    /// Shared, not copied, by every partition's plan: a large export has
    /// some hundred thousand practitioners.
    practitioners: Arc<HashMap<String, (Uuid, bool)>>,
    /// Patient row id → its person.
    patients: HashMap<String, PersonRef>,
    /// Program → the product it was planned with.
    products: HashMap<Uuid, String>,
}

/// The person a row belongs to, as later rows need them.
#[derive(Clone, Copy)]
struct PersonRef {
    id: Uuid,
    physician: Option<Uuid>,
    created: DateTime<Utc>,
}

/// Everything an export stands for, in dependency order, and the report.
pub struct Plan {
    pub conditions: Keyed<String, medical_condition::ActiveModel>,
    pub hospitals: Keyed<(String, String), hospital::ActiveModel>,
    pub specializations: Keyed<String, specialization::ActiveModel>,
    pub practitioners: Keyed<String, practitioner::ActiveModel>,
    pub trials: Keyed<String, clinical_trial::ActiveModel>,
    pub programs: Keyed<String, expanded_access_program::ActiveModel>,
    pub patients: Vec<Planned<patient::ActiveModel>>,
    pub submissions: Vec<Planned<intake_submission::ActiveModel>>,
    pub calls: Vec<Planned<call::ActiveModel>>,
    pub referrals: Keyed<(Uuid, Uuid), trial_referral::ActiveModel>,
    pub enrollments: Vec<Planned<eap_enrollment::ActiveModel>>,
    /// One entry per row, in file order.
    pub rows: Vec<RowReport>,
    links: Links,
}

impl Plan {
    fn empty(existing: &Existing, base: Base) -> Plan {
        Plan {
            conditions: Keyed::new(existing.conditions.clone()),
            hospitals: Keyed::new(existing.hospitals.clone()),
            specializations: Keyed::new(existing.specializations.clone()),
            practitioners: Keyed::new(existing.practitioners.clone()),
            trials: Keyed::new(base.trials),
            programs: Keyed::new(base.programs),
            patients: Vec::new(),
            submissions: Vec::new(),
            calls: Vec::new(),
            referrals: Keyed::new(HashMap::new()),
            enrollments: Vec::new(),
            rows: Vec::new(),
            links: base.links,
        }
    }

    /// Plans the reference data into a database that holds `existing`.
    pub fn reference(export: &Reference, existing: &Existing) -> Plan {
        let base = Base {
            trials: existing.trials.clone(),
            programs: existing.programs.clone(),
            ..Base::default()
        };
        let mut plan = Plan::empty(existing, base);
        plan.conditions(&export.medical_conditions);
        plan.hospitals(&export.hospitals);
        plan.specializations(&export.specializations);
        plan
    }

    /// Plans one partition's practitioners (`contact` rows; those of one
    /// email always share a partition) on `base`, into a database that
    /// holds `existing` of them.
    pub fn practitioners_of(base: &Base, contacts: &Table, existing: &Existing) -> Plan {
        let mut base = base.clone();
        base.links.practitioners = Arc::default();
        let mut plan = Plan::empty(existing, base);
        plan.practitioners(contacts);
        plan
    }

    /// Plans one partition's people on `base` (the reference plan's, or the
    /// one the previous partition left), into a database that holds what
    /// `known` says.
    pub fn people_of(base: &Base, export: &People, known: &Known) -> Plan {
        let mut plan = Plan::empty(&Existing::default(), base.clone());
        plan.people(export, known);
        plan.enrollments(&export.dossiers);
        plan
    }

    /// Where this plan's practitioners' contact rows went, for the people's
    /// plans.
    pub fn practitioner_links(&mut self) -> HashMap<String, (Uuid, bool)> {
        std::mem::take(Arc::make_mut(&mut self.links.practitioners))
    }

    /// What the next partition plans on: this plan's links and the trials
    /// and programs it found or planned (not its people, which no other
    /// partition names).
    pub fn base(&self) -> Base {
        let mut links = self.links.clone();
        links.patients.clear();
        Base {
            links,
            trials: self.trials.by_key.clone(),
            programs: self.programs.by_key.clone(),
        }
    }

    /// A report entry for `row`; its index.
    fn report(&mut self, table: &Table, row: &Row) -> usize {
        self.rows
            .push(RowReport::new(table.name, table.id_of(row).to_owned()));
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
}

/// A time-ordered (UUIDv7) id whose random part is derived from `key`: the
/// same legacy data always yields the same id, and ids still sort by time.
/// `at` must be a date the CRM does not change (a row's `createdon`), or a
/// changed row would plan another record.
fn stable_id(at: DateTime<Utc>, key: &str) -> Uuid {
    let hash = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&hash[..10]);
    uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis().max(0) as u64, &bytes)
        .into_uuid()
}

/// The time given to what the CRM does not date (reference data, a
/// person without any valid `createdon`): fixed, so that ids and records
/// do not depend on when the import runs.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// What is kept of an erased person's email to recognise their later rows:
/// a hash, never the address.
pub fn suppression(email: &str) -> String {
    format!("{:x}", Sha256::digest(email.as_bytes()))
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
