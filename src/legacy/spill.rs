//! Splitting an export into partitions that each fit in memory.
//!
//! Every lead, patient and dossier row goes to the partition of its person
//! (the email planning groups it by), so that the rows planning puts
//! together always meet in one partition: a patient row without an email
//! follows its contact row, a dossier its patient row; a practitioner's
//! contact row goes to the partition of their email. Only the reference
//! tables stay whole in memory (they are small). Partitions are CSV files
//! in a temporary folder, removed when the import ends; what is held
//! meanwhile is a few bytes per row.
//!
//! People are split by when the CRM created them (see [`Periods`]):
//! record ids begin with that time, so partition after partition appends
//! to the indexes keyed by id instead of touching pages all over them.

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    sync::Arc,
};

use sea_orm::{DatabaseConnection, prelude::Uuid};

use super::{
    ImportError,
    parse::{self, ContactType},
    plan::Reference,
    read::{self, Row},
    rows::{self, Present, key_hash},
};
use crate::domain::Email;

/// Bytes of the lead, patient and dossier files per partition: a
/// partition's rows, their stored rows and both plans stay well within the
/// import's memory budget.
const PART_BYTES: u64 = 512 << 10;
/// At most this many partitions (three files each are open while splitting).
const MAX_PARTS: usize = 1024;
// A partition number is kept in a u16 per person while splitting.
const _: () = assert!(MAX_PARTS <= 1 << 16);
/// Rows whose earlier imports are looked up together.
const CHUNK: usize = 2000;

/// An export split into partitions.
pub struct Spilled {
    folder: Folder,
    /// How many partitions.
    pub partitions: usize,
    /// The reference tables, whole.
    pub reference: Reference,
    /// The keys of every row of the export.
    pub present: Present,
}

impl Spilled {
    /// The folder of partition `n`: `practitioner.csv` (physicians' and
    /// pharmacists' `contact` rows), `contact.csv`, `patient.csv` and
    /// `eap_dossier.csv` with the export's headers.
    pub fn part(&self, n: usize) -> PathBuf {
        self.folder.0.join(format!("{n:04}"))
    }
}

/// The partitions folder's name: this prefix, the import's process id and
/// a stamp.
const FOLDER_PREFIX: &str = "navigator-import-";

/// Removes the partitions folders in `temp` of imports that were killed
/// (their process no longer runs): a killed import cannot remove its own,
/// and each is about the export's size.
fn remove_abandoned(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = (name.to_str())
            .and_then(|n| n.strip_prefix(FOLDER_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !runs(pid)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether the process `pid` runs (where that cannot be told, it is taken
/// to run, and its folder is kept).
fn runs(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return true;
        };
        // SAFETY: signal 0 sends nothing; it only asks whether `pid` exists.
        let signalled = unsafe { libc::kill(pid, 0) } == 0;
        signalled || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// A temporary folder, removed when dropped (also when the import fails).
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Splits the export in `dir` into `partitions` partitions, or as many as
/// its size needs.
pub async fn split(
    db: &DatabaseConnection,
    dir: &Path,
    partitions: Option<usize>,
) -> Result<Spilled, ImportError> {
    let mut present = Present::default();
    let reference = Reference {
        medical_conditions: read::read(dir, "medical_condition")?,
        hospitals: read::read(dir, "hospital")?,
        specializations: read::read(dir, "specialization")?,
    };
    for table in reference.tables() {
        for row in &table.rows {
            present.add(table.name, table.id_of(row));
        }
    }
    let n = partitions
        .unwrap_or_else(|| needed(dir))
        .clamp(1, MAX_PARTS);
    remove_abandoned(&std::env::temp_dir());
    let periods = Periods::of(dir, n as u64)?;
    let stamp = Uuid::now_v7().simple();
    let name = format!("{FOLDER_PREFIX}{}-{stamp}", std::process::id());
    let folder = Folder(std::env::temp_dir().join(name));
    let mut splitter = Splitter {
        n: n as u64,
        folder: &folder.0,
        present,
        periods,
        people: HashMap::new(),
        contacts: HashMap::new(),
        patients: HashMap::new(),
    };
    splitter.pass(db, dir, "contact").await?;
    splitter.pass(db, dir, "patient").await?;
    splitter.pass(db, dir, "eap_dossier").await?;
    let mut present = splitter.present;
    present.seal();
    Ok(Spilled {
        folder,
        partitions: n,
        reference,
        present,
    })
}

/// As many partitions as the export's size needs.
fn needed(dir: &Path) -> usize {
    let bytes: u64 = (["contact", "patient", "eap_dossier"].iter())
        .filter_map(|name| std::fs::metadata(dir.join(format!("{name}.csv"))).ok())
        .map(|m| m.len())
        .sum();
    bytes.div_ceil(PART_BYTES) as usize
}

/// The state of a split: where rows went so far.
struct Splitter<'a> {
    n: u64,
    folder: &'a Path,
    present: Present,
    periods: Periods,
    /// The partition of each person, by key hash: the period of the first
    /// row seen of them. Half the hash is enough: two people sharing an
    /// entry only share a partition, which is as correct as any other.
    people: HashMap<u32, u16>,
    /// The partition of each lead contact row with a person, by key hash.
    contacts: HashMap<u64, u32>,
    /// The partition of each patient row with a person, by key hash.
    patients: HashMap<u64, u32>,
}

impl Splitter<'_> {
    /// Routes every row of `<dir>/<name>.csv`, a chunk at a time.
    async fn pass(
        &mut self,
        db: &DatabaseConnection,
        dir: &Path,
        name: &'static str,
    ) -> Result<(), ImportError> {
        let records = read::records(dir, name)?;
        let headers = records.headers.clone();
        let mut files = Files::create(self.folder, self.n, name, &headers)?;
        // Practitioners' contact rows go to files of their own, by email.
        if name == "contact" {
            files.practitioners = Some(Box::new(Files::create(
                self.folder,
                self.n,
                "practitioner",
                &headers,
            )?));
        }
        let mut chunk = Vec::with_capacity(CHUNK);
        for record in records {
            chunk.push(record?);
            if chunk.len() == CHUNK {
                self.chunk(db, name, &headers, &mut chunk, &mut files)
                    .await?;
            }
        }
        self.chunk(db, name, &headers, &mut chunk, &mut files)
            .await?;
        files.finish()
    }

    /// Routes a chunk of rows of file `name`, emptying it.
    async fn chunk(
        &mut self,
        db: &DatabaseConnection,
        name: &'static str,
        headers: &Arc<[String]>,
        chunk: &mut Vec<csv::StringRecord>,
        files: &mut Files,
    ) -> Result<(), ImportError> {
        let rows: Vec<Row> = chunk.iter().map(|r| Row::new(headers, r)).collect();
        let id_column = read::id_column(name);
        let pins = if name == "eap_dossier" {
            HashMap::new()
        } else {
            let ids: Vec<&str> = rows.iter().filter_map(|r| r.get(id_column)).collect();
            pins(db, name, &ids).await?
        };
        for (row, record) in rows.into_iter().zip(chunk.drain(..)) {
            let id = row.get(id_column).unwrap_or("").to_owned();
            self.present.add(name, &id);
            match (
                &mut files.practitioners,
                name == "contact" && is_practitioner(&row),
            ) {
                (Some(files), true) => {
                    let email = row.get("emailaddress1").and_then(|e| Email::parse(e).ok());
                    let key =
                        email.map_or_else(|| format!("contact:{id}"), |e| e.as_str().to_owned());
                    let part = self.person(&format!("practitioner:{key}"), &row);
                    files.write(part, &record)?;
                }
                _ => {
                    let part = self.route(name, &id, &row, &pins);
                    files.write(part, &record)?;
                }
            }
        }
        Ok(())
    }

    /// The partition of a row: its person's, else one by its own key.
    fn route(&mut self, name: &str, id: &str, row: &Row, pins: &HashMap<String, String>) -> u32 {
        let mut email = |column| match row.get(column).map(Email::parse) {
            Some(Ok(email)) => {
                Some(self.person(pins.get(id).map_or(email.as_str(), |p| p.as_str()), row))
            }
            _ => None,
        };
        let person = match name {
            "contact" if lead(row) => email("emailaddress1"),
            "contact" => None,
            "patient" => email("email").or_else(|| {
                let contact = row.get("contact_record")?;
                self.contacts.get(&key_hash("contact", contact)).copied()
            }),
            _ => row
                .get("patient")
                .and_then(|p| self.patients.get(&key_hash("patient", p)).copied()),
        };
        match (person, name) {
            (Some(part), "contact") => self.contacts.insert(key_hash(name, id), part),
            (Some(part), "patient") => self.patients.insert(key_hash(name, id), part),
            _ => None,
        };
        person.unwrap_or_else(|| self.person(&format!("row:{name}:{id}"), row))
    }

    /// The partition of a person key: where they went already, else the
    /// period of `row`, their first row seen.
    fn person(&mut self, key: &str, row: &Row) -> u32 {
        let hash = key_hash("person", key);
        let periods = &self.periods;
        let part = (self.people.entry(hash as u32))
            .or_insert_with(|| periods.of_row(created(row), hash) as u16);
        u32::from(*part)
    }
}

/// Periods of the CRM's creation times, one per partition, each holding
/// about as many rows: a partition's people are created in its period.
/// Boundaries are (time, hash) pairs, so that many rows of one instant (a
/// CRM's own bulk import) still spread over partitions by hash.
struct Periods(Vec<(i64, u64)>);

impl Periods {
    /// The `n` periods of the contact and patient rows of the export in
    /// `dir` (a first pass that keeps two numbers per row until it ends).
    fn of(dir: &Path, n: u64) -> Result<Periods, ImportError> {
        let mut times = Vec::new();
        for name in ["contact", "patient"] {
            let records = read::records(dir, name)?;
            let headers = records.headers.clone();
            let id_column = read::id_column(name);
            for record in records {
                let row = Row::new(&headers, &record?);
                let hash = key_hash(name, row.get(id_column).unwrap_or(""));
                times.push((created(&row), hash));
            }
        }
        Ok(Periods::split(times, n as usize))
    }

    /// `n` periods of about as many of these (time, hash) pairs each.
    fn split(mut times: Vec<(i64, u64)>, n: usize) -> Periods {
        times.sort_unstable();
        let bounds = (1..n).filter_map(|k| times.get(k * times.len() / n).copied());
        Periods(bounds.collect())
    }

    /// The partition of a row created at `at` whose key hashes to `hash`.
    fn of_row(&self, at: i64, hash: u64) -> u32 {
        self.0.partition_point(|bound| *bound <= (at, hash)) as u32
    }
}

/// When the CRM created a row, in milliseconds (the earliest time there is
/// where the row does not say).
fn created(row: &Row) -> i64 {
    (row.get("createdon").and_then(parse::datetime)).map_or(i64::MIN, |at| at.timestamp_millis())
}

/// Whether a contact row is a physician's or a pharmacist's.
fn is_practitioner(row: &Row) -> bool {
    matches!(
        row.get("contact_type").and_then(parse::contact_type),
        Some(ContactType::Physician | ContactType::Pharmacist)
    )
}

fn lead(row: &Row) -> bool {
    matches!(
        row.get("contact_type").and_then(parse::contact_type),
        Some(ContactType::Lead)
    )
}

/// The email each of these rows of `table` was grouped by when last
/// imported (its patient's now), where it was imported into one: a
/// changed email never moves a row to another person (rule 11), so it
/// never moves it to another partition either.
async fn pins(
    db: &DatabaseConnection,
    table: &str,
    ids: &[&str],
) -> Result<HashMap<String, String>, ImportError> {
    let patients = rows::patients_of(db, table, ids).await?;
    let mut unique: Vec<Uuid> = patients.values().copied().collect();
    unique.sort_unstable();
    unique.dedup();
    let emails = rows::emails_of(db, &unique).await?;
    Ok((patients.into_iter())
        .filter_map(|(id, p)| Some((id, emails.get(&p)?.clone())))
        .collect())
}

/// The partitions' files of one export file, being written, and of the
/// practitioners' rows while the contacts are.
struct Files {
    writers: Vec<csv::Writer<File>>,
    practitioners: Option<Box<Files>>,
}

impl Files {
    fn create(folder: &Path, n: u64, name: &str, headers: &[String]) -> Result<Files, ImportError> {
        let mut writers = Vec::with_capacity(n as usize);
        for part in 0..n {
            let dir = folder.join(format!("{part:04}"));
            std::fs::create_dir_all(&dir)?;
            let file = File::create(dir.join(format!("{name}.csv")))?;
            // Small buffers: a thousand partitions' files are open at once.
            let mut writer = csv::WriterBuilder::new()
                .flexible(true)
                .buffer_capacity(8 << 10)
                .from_writer(file);
            writer.write_record(headers).map_err(std::io::Error::from)?;
            writers.push(writer);
        }
        Ok(Files {
            writers,
            practitioners: None,
        })
    }

    fn write(&mut self, part: u32, record: &csv::StringRecord) -> Result<(), ImportError> {
        let writer = &mut self.writers[part as usize];
        writer.write_record(record).map_err(std::io::Error::from)?;
        Ok(())
    }

    fn finish(self) -> Result<(), ImportError> {
        for mut writer in self.writers {
            writer.flush()?;
        }
        match self.practitioners {
            Some(files) => files.finish(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partition of each of these (time, hash) rows among `n`.
    fn parts(rows: &[(i64, u64)], n: usize) -> Vec<u32> {
        let periods = Periods::split(rows.to_vec(), n);
        rows.iter()
            .map(|&(at, hash)| periods.of_row(at, hash))
            .collect()
    }

    #[test]
    fn people_created_earlier_go_to_earlier_partitions_of_about_equal_size() {
        // Created in no order, as a CRM exports them.
        let rows: Vec<(i64, u64)> = (0..1000).map(|i| ((i * 7919) % 1000, i as u64)).collect();
        let parts = parts(&rows, 4);
        for (a, pa) in rows.iter().zip(&parts) {
            for (b, pb) in rows.iter().zip(&parts) {
                if a.0 < b.0 {
                    assert!(pa <= pb, "{a:?} in {pa}, later {b:?} in {pb}");
                }
            }
        }
        for part in 0..4 {
            assert_eq!(parts.iter().filter(|&&p| p == part).count(), 250);
        }
    }

    #[test]
    fn rows_of_one_instant_or_without_a_date_still_spread_over_every_partition() {
        for at in [1_700_000_000_000, i64::MIN] {
            let rows: Vec<(i64, u64)> = (0..1000u64)
                .map(|i| (at, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
                .collect();
            let parts = parts(&rows, 4);
            for part in 0..4 {
                assert_eq!(parts.iter().filter(|&&p| p == part).count(), 250);
            }
        }
    }

    #[test]
    fn a_person_stays_in_the_partition_of_the_first_row_seen_of_them() {
        let headers: Arc<[String]> = Arc::from(vec!["createdon".to_owned()]);
        let row = |at: &str| Row::new(&headers, &csv::StringRecord::from(vec![at]));
        let (early, late) = (row("2022-01-01T00:00:00Z"), row("2023-12-31T00:00:00Z"));
        let mut splitter = Splitter {
            n: 4,
            folder: Path::new("unused"),
            present: Present::default(),
            periods: Periods::split(
                [&early, &late]
                    .iter()
                    .flat_map(|r| (0..50).map(|h| (created(r), h)))
                    .collect(),
                4,
            ),
            people: HashMap::new(),
            contacts: HashMap::new(),
            patients: HashMap::new(),
        };
        let first = splitter.person("ann@example.org", &early);
        assert_eq!(splitter.person("ann@example.org", &late), first);
        assert!(splitter.person("bob@example.org", &late) > first);
    }
}
