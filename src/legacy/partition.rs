//! One part of an import at a time: the reference data first, then each
//! partition of people. A part is planned twice, from its rows now and
//! from the same people's rows as last imported (read by key from
//! `legacy_rows`, never all at once), written, settled into report entries
//! and kept as imported, before the next part is read. A part whose rows
//! are all as last imported has nothing to write and is only reported.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
};

use sea_orm::{DatabaseConnection, prelude::Uuid};

use super::{
    ImportError,
    plan::{Base, Existing, Known, People, Plan, Reference},
    read::{self, Table},
    report::{Collector, RowReport},
    rows::{self, Erasures, Stored},
    write::{self, Mode, Written},
};
use crate::{
    db::{WriteTransaction, entities::legacy_row},
    domain::Email,
};

/// An import under way.
pub struct Run<'a> {
    db: &'a DatabaseConnection,
    mode: Mode,
    erasures: Erasures,
    /// The report so far.
    pub out: Collector,
    /// What the next partition plans on, now and as last imported.
    new: Base,
    old: Base,
    /// Whether the reference rows are as last imported: then a partition
    /// whose own rows are too plans what it planned last time.
    reference_unchanged: bool,
}

/// Imports the reference data; the run that imports the people next.
pub async fn reference<'a>(
    db: &'a DatabaseConnection,
    mode: Mode,
    erasures: Erasures,
    out: Collector,
    export: &Reference,
) -> Result<Run<'a>, ImportError> {
    let existing = write::existing(db).await?;
    let mut kept = Vec::new();
    for table in ["medical_condition", "hospital", "specialization"] {
        kept.extend(rows::without_patient(db, table).await?);
    }
    let last = Reference {
        medical_conditions: rows::table_of("medical_condition", &kept),
        hospitals: rows::table_of("hospital", &kept),
        specializations: rows::table_of("specialization", &kept),
    };
    let stored = rows::stored(&kept);
    let reference_unchanged = unchanged(&export.tables(), &stored, &kept);
    let old = Plan::reference(&last, &existing);
    let mut new = Plan::reference(export, &existing);
    let (old_base, new_base) = (old.base(), new.base());
    let tx = write::begin(db, mode).await?;
    let written = write::reference(&tx, old, &mut new, mode).await?;
    let mut run = Run {
        db,
        mode,
        erasures,
        out,
        new: new_base,
        old: old_base,
        reference_unchanged,
    };
    let entries = std::mem::take(&mut new.rows);
    run.keep(&tx, &export.tables(), entries, &stored, written, false)
        .await?;
    write::finish(tx, mode).await?;
    Ok(run)
}

/// Imports the practitioners of the partition in `dir`.
pub async fn practitioners(run: &mut Run<'_>, dir: &Path) -> Result<(), ImportError> {
    // The practitioners' file of a partition holds `contact` rows.
    let rows = read::read(dir, "practitioner")?.rows;
    let table = Table::new("contact", rows, "contactid");
    let keys: Vec<(&str, &str)> = (table.rows.iter())
        .map(|r| ("contact", table.id_of(r)))
        .collect();
    let kept = rows::by_key(run.db, &keys).await?;
    let emails: Vec<String> = (table.rows.iter().filter_map(|r| r.get("emailaddress1")))
        .filter_map(|e| Email::parse(e).ok().map(|e| e.as_str().to_owned()))
        .collect();
    let existing = Existing {
        practitioners: write::practitioners_by_email(run.db, &emails).await?,
        ..Existing::default()
    };
    let stored = rows::stored(&kept);
    run.reference_unchanged &= unchanged(&[&table], &stored, &kept);
    let last = rows::table_of("contact", &kept);
    let mut old = Plan::practitioners_of(&run.old, &last, &existing);
    let mut new = Plan::practitioners_of(&run.new, &table, &existing);
    run.old.add_practitioners(old.practitioner_links());
    run.new.add_practitioners(new.practitioner_links());
    let tx = write::begin(run.db, run.mode).await?;
    let written = write::reference(&tx, old, &mut new, run.mode).await?;
    let entries = std::mem::take(&mut new.rows);
    run.keep(&tx, &[&table], entries, &stored, written, false)
        .await?;
    Ok(write::finish(tx, run.mode).await?)
}

/// Notes practitioners' rows the last import kept that the export no
/// longer has: the people's physicians may then differ from their plans of
/// last time.
pub async fn practitioners_gone(
    run: &mut Run<'_>,
    present: &rows::Present,
) -> Result<(), ImportError> {
    if run.reference_unchanged {
        let ids = rows::ids_without_patient(run.db, "contact").await?;
        run.reference_unchanged = ids.iter().all(|id| present.has("contact", id));
    }
    Ok(())
}

/// Imports the partition of people in `dir`.
pub async fn people(run: &mut Run<'_>, dir: &Path) -> Result<(), ImportError> {
    let export = People {
        contacts: read::read(dir, "contact")?,
        patients: read::read(dir, "patient")?,
        dossiers: read::read(dir, "eap_dossier")?,
    };
    let (known, kept) = known(run, &export).await?;
    let stored = rows::stored(&kept);
    let mut all = Plan::people_of(&run.new, &export, &known);
    let keys = person_keys(&export, &known);
    let changed =
        (run.reference_unchanged).then(|| changed_people(&export, &keys, &known, &stored, &kept));
    let same = changed.as_ref().is_some_and(HashSet::is_empty);
    let tx = write::begin(run.db, run.mode).await?;
    let written = match &changed {
        Some(people) if people.is_empty() => Written::default(),
        // Only the people whose rows changed are planned again to be
        // written: the others' records are as their rows made them.
        Some(people) => {
            let now = of_people(&export, &keys, people);
            let last = last_of(&kept, &keys, &known, Some(people));
            let mut new = Plan::people_of(&run.new, &now, &known);
            let old = Plan::people_of(&run.old, &last, &known);
            run.old = old.base();
            write::people(&tx, old, &mut new, run.mode).await?
        }
        None => {
            let last = last_of(&kept, &keys, &known, None);
            let old = Plan::people_of(&run.old, &last, &known);
            run.old = old.base();
            write::people(&tx, old, &mut all, run.mode).await?
        }
    };
    run.new = all.base();
    let entries = std::mem::take(&mut all.rows);
    drop(all);
    run.keep(&tx, &export.tables(), entries, &stored, written, same)
        .await?;
    Ok(write::finish(tx, run.mode).await?)
}

/// A row's key, (file, id), and the key of the person it belongs to.
type Keys<'e> = HashMap<(&'static str, &'e str), String>;

/// The person key (the email planning groups by) of each row of `export`
/// that has one, by (file, id): as [`super::spill`] routes them.
fn person_keys<'e>(export: &'e People, known: &Known) -> Keys<'e> {
    let mut keys = HashMap::new();
    let pinned = |table: &str, id: &str, email: Option<&str>| {
        let email = Email::parse(email?).ok()?;
        let pin = known.pins.get(&(table.to_owned(), id.to_owned()));
        Some(pin.cloned().unwrap_or_else(|| email.as_str().to_owned()))
    };
    for row in &export.contacts.rows {
        let id = row.get("contactid").unwrap_or("");
        if let Some(key) = pinned("contact", id, row.get("emailaddress1")) {
            keys.insert(("contact", id), key);
        }
    }
    for row in &export.patients.rows {
        let id = row.get("patientid").unwrap_or("");
        let by_contact = || keys.get(&("contact", row.get("contact_record")?)).cloned();
        if let Some(key) = pinned("patient", id, row.get("email")).or_else(by_contact) {
            keys.insert(("patient", id), key);
        }
    }
    for row in &export.dossiers.rows {
        let id = row.get("eap_dossier_id").unwrap_or("");
        if let Some(key) = row.get("patient").and_then(|p| keys.get(&("patient", p))) {
            keys.insert(("eap_dossier", id), key.clone());
        }
    }
    keys
}

/// The people some of whose rows are new or changed since the last
/// import, or gone from the export.
fn changed_people(
    export: &People,
    keys: &Keys,
    known: &Known,
    stored: &Stored,
    kept: &[legacy_row::Model],
) -> HashSet<String> {
    let mut changed = HashSet::new();
    for table in export.tables() {
        for row in &table.rows {
            let id = table.id_of(row);
            let Some(key) = keys.get(&(table.name, id)) else {
                continue;
            };
            match stored.get(&(table.name.to_owned(), id.to_owned())) {
                Some(None) => {}
                Some(Some(digest)) if *digest == rows::digest(&row.to_json()) => {}
                _ => {
                    changed.insert(key.clone());
                }
            }
        }
    }
    let current: HashSet<(&str, &str)> = keys.keys().copied().collect();
    for row in kept.iter().filter(|r| r.row_values.is_some()) {
        let key = (row.legacy_table.clone(), row.legacy_id.clone());
        if !current.contains(&(key.0.as_str(), key.1.as_str()))
            && let Some(pin) = known.pins.get(&key)
        {
            changed.insert(pin.clone());
        }
    }
    changed
}

/// The rows of `export` of these people.
fn of_people(export: &People, keys: &Keys, people: &HashSet<String>) -> People {
    let of = |table: &Table| {
        let rows = (table.rows.iter())
            .filter(|r| {
                (keys.get(&(table.name, table.id_of(r)))).is_some_and(|k| people.contains(k))
            })
            .cloned()
            .collect();
        Table::new(table.name, rows, read::id_column(table.name))
    };
    People {
        contacts: of(&export.contacts),
        patients: of(&export.patients),
        dossiers: of(&export.dossiers),
    }
}

/// The stored rows of these people (of everyone when `None`), as the
/// export the last import read.
fn last_of(
    kept: &[legacy_row::Model],
    keys: &Keys,
    known: &Known,
    people: Option<&HashSet<String>>,
) -> People {
    let theirs = |r: &&legacy_row::Model| {
        let Some(people) = people else { return true };
        let key = (r.legacy_table.clone(), r.legacy_id.clone());
        let now = keys.get(&(r.legacy_table.as_str(), r.legacy_id.as_str()));
        (known.pins.get(&key).into_iter().chain(now)).any(|k| people.contains(k))
    };
    let kept: Vec<legacy_row::Model> = kept.iter().filter(theirs).cloned().collect();
    People {
        contacts: rows::table_of("contact", &kept),
        patients: rows::table_of("patient", &kept),
        dossiers: rows::table_of("eap_dossier", &kept),
    }
}

/// What planning a partition must respect, and the stored rows of its
/// people: those of its rows, and every other row of the people these
/// name or whose email they have.
async fn known(
    run: &Run<'_>,
    export: &People,
) -> Result<(Known, Vec<legacy_row::Model>), ImportError> {
    let keys: Vec<(&str, &str)> = (export.tables().into_iter())
        .flat_map(|t| t.rows.iter().map(move |r| (t.name, t.id_of(r))))
        .collect();
    let mut kept = rows::by_key(run.db, &keys).await?;
    let emails: Vec<String> = (export
        .contacts
        .rows
        .iter()
        .filter_map(|r| r.get("emailaddress1")))
    .chain(export.patients.rows.iter().filter_map(|r| r.get("email")))
    .filter_map(|e| Email::parse(e).ok().map(|e| e.as_str().to_owned()))
    .collect::<HashSet<String>>()
    .into_iter()
    .collect();
    let mut patients = rows::patients_by_email(run.db, &emails).await?;
    let mut ids: Vec<Uuid> = (kept.iter().filter_map(|r| r.patient_id))
        .chain(patients.values().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let have: HashSet<(String, String)> = (kept.iter())
        .map(|r| (r.legacy_table.clone(), r.legacy_id.clone()))
        .collect();
    let more: Vec<(String, String)> = (rows::keys_of_patients(run.db, &ids).await?.into_iter())
        .filter(|key| !have.contains(key))
        .collect();
    let more: Vec<(&str, &str)> = more.iter().map(|(t, i)| (t.as_str(), i.as_str())).collect();
    kept.extend(rows::by_key(run.db, &more).await?);
    let mut email_of: HashMap<Uuid, String> =
        (patients.iter()).map(|(e, id)| (*id, e.clone())).collect();
    let unknown: Vec<Uuid> = (ids.iter().copied())
        .filter(|id| !email_of.contains_key(id))
        .collect();
    for (id, email) in rows::emails_of(run.db, &unknown).await? {
        patients.insert(email.clone(), id);
        email_of.insert(id, email);
    }
    let pins = (kept.iter())
        .filter_map(|r| {
            let email = email_of.get(&r.patient_id?)?;
            Some(((r.legacy_table.clone(), r.legacy_id.clone()), email.clone()))
        })
        .collect();
    let known = Known {
        existing: Existing {
            patients,
            ..Existing::default()
        },
        pins,
        erased_rows: run.erasures.rows.clone(),
        suppressed: run.erasures.suppressed.clone(),
        erased: run.erasures.patients.clone(),
    };
    Ok((known, kept))
}

/// Whether every row of `tables` is as last imported (or an erased
/// person's), and every stored row of theirs is still in the export: then
/// the rows plan exactly what they planned last time.
fn unchanged(tables: &[&Table], stored: &Stored, kept: &[legacy_row::Model]) -> bool {
    let mut current = HashSet::new();
    for table in tables {
        for row in &table.rows {
            let id = table.id_of(row);
            if id.is_empty() {
                continue;
            }
            match stored.get(&(table.name.to_owned(), id.to_owned())) {
                Some(None) => {}
                Some(Some(digest)) if *digest == rows::digest(&row.to_json()) => {}
                _ => return false,
            }
            current.insert((table.name, id));
        }
    }
    (kept.iter().filter(|r| r.row_values.is_some()))
        .all(|r| current.contains(&(r.legacy_table.as_str(), r.legacy_id.as_str())))
}

impl Run<'_> {
    /// Settles a part's entries, keeps where its rows went and the rows as
    /// imported (unless `same`: then all of that is as it was), and adds
    /// them to the report.
    async fn keep(
        &mut self,
        tx: &WriteTransaction,
        tables: &[&Table],
        mut entries: Vec<RowReport>,
        stored: &Stored,
        written: Written,
        same: bool,
    ) -> Result<(), ImportError> {
        settle(&mut entries, tables, stored, &written);
        if !self.mode.dry_run && !same {
            write::links(tx, &entries, self.mode.now).await?;
            rows::store(tx, tables, &entries, stored, self.mode.now).await?;
        }
        let (changes, conflicts) = (written.changes.len(), written.conflicts.len());
        self.out.wrote(&written.created, changes, conflicts);
        self.out.add(entries)?;
        Ok(())
    }
}

/// Gives each row its outcome, and the changes and conflicts of its
/// records: to the rows that changed since the last import and lead to
/// the record, else to the row that owns it.
fn settle(entries: &mut [RowReport], tables: &[&Table], stored: &Stored, written: &Written) {
    let mut changed: HashSet<(&str, String)> = HashSet::new();
    for table in tables {
        for row in &table.rows {
            let key = (table.name.to_owned(), table.id_of(row).to_owned());
            if let Some(Some(digest)) = stored.get(&key)
                && *digest != rows::digest(&row.to_json())
            {
                changed.insert((table.name, key.1));
            }
        }
    }
    let mut by_record: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        for record in &entry.records {
            by_record.entry(record.id).or_default().push(index);
        }
    }
    let rows_of = |record: &Uuid| -> Vec<usize> {
        let all = by_record.get(record).cloned().unwrap_or_default();
        let moved: Vec<usize> = (all.iter().copied())
            .filter(|&i| changed.contains(&(entries[i].table, entries[i].id.clone())))
            .collect();
        if moved.is_empty() {
            all.into_iter().take(1).collect()
        } else {
            moved
        }
    };
    let changes: Vec<(usize, super::report::Change)> = (written.changes.iter())
        .flat_map(|c| rows_of(&c.record).into_iter().map(move |i| (i, c.clone())))
        .collect();
    let conflicts: Vec<(usize, super::report::Conflict)> = (written.conflicts.iter())
        .flat_map(|c| {
            let rows = c.record.map(|r| rows_of(&r)).unwrap_or_default();
            rows.into_iter().map(move |i| (i, c.clone()))
        })
        .collect();
    for (i, change) in changes {
        entries[i].changes.push(change);
    }
    for (i, conflict) in conflicts {
        entries[i].conflicts.push(conflict);
    }
    for entry in entries.iter_mut() {
        let key = (entry.table.to_owned(), entry.id.clone());
        let was_changed = changed.contains(&(entry.table, entry.id.clone()));
        entry.settle(stored.contains_key(&key), was_changed, |id| {
            written.inserted.contains(id)
        });
    }
}
