//! Seeds a database with a realistic volume of data for the benchmark
//! (`bench/run.sh`): N patients and, in proportion, practitioners, intake
//! submissions, calls, trial referrals and EAP enrollments.
//!
//! ```sh
//! cargo run --release --example seed -- --database-url sqlite://bench.db --patients 100000 --out target/bench
//! ```
//!
//! It goes through the library (`db::connect`, `db::migrations`, the SeaORM
//! entities) with one code path for SQLite and PostgreSQL: `insert_many` in
//! batches sized under both backends' bind-parameter limits, one transaction
//! per chunk of patients with their children. Rows respect every CHECK of
//! the schema (normalised emails, `converted_at` exactly for patients,
//! referrals and enrollments only for converted patients with a physician,
//! `ineligible_reason` exactly when ineligible). No history rows are
//! written: the seeded records are what an import would leave, at version 1.
//!
//! Proportions, per patient: 1 physician per 50 patients (and 1 pharmacist
//! per 500), 10% converted (95% of them with a physician and one or two
//! trial referrals, a third of those also enrolled in an EAP), 30% of
//! leads with a physician, 1.5 calls and 1 intake submission on average.
//!
//! Writes to `--out`: `patient_ids.txt` (a shuffled sample of up to 50,000
//! patient ids, for random reads), `patch_ids.txt` (up to 20,000 other
//! ids, for updates that never contend with each other),
//! `practitioner_ids.txt` (the physicians, for reads that are not logged as
//! personal data), `deep_cursor.txt`
//! (the `status=lead` list cursor 90% of the way down; `deep_id.txt` is
//! the id it encodes) and `seed.txt` (what
//! was written and how long it took).

use std::{
    fmt::Write as _,
    path::PathBuf,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use clap::Parser;
use navigator::{
    db::{
        self,
        entities::{
            call, clinical_trial, eap_enrollment, expanded_access_program, hospital,
            intake_submission, patient, practitioner, specialization, staff, trial_referral,
        },
    },
    http::pagination::encode_cursor,
};
use rand::{Rng, SeedableRng, rngs::SmallRng, seq::SliceRandom};
use sea_orm::ActiveEnum;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, Iterable, TransactionTrait, prelude::Uuid,
};
use serde_json::json;

/// Seed a Navigator database for benchmarking.
#[derive(Debug, Parser)]
struct Args {
    /// `sqlite://FILE` or `postgres://...` (the database must exist and be empty).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Number of patients (leads and converted patients).
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
    /// Folder for the id samples and the seed report.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

/// The medical conditions migration 2 seeds (fixed ids).
const CONDITIONS: [Uuid; 3] = [
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003),
];

/// Bind parameters per statement: under PostgreSQL's 65,535 and SQLite's
/// default 32,766.
const MAX_PARAMS: usize = 30_000;
/// Members of staff, `navigator0` to `navigator19`.
const STAFF: usize = 20;
/// Patients written per transaction, with their children.
const CHUNK: usize = 10_000;

const FIRST: [&str; 16] = [
    "Ann", "Ben", "Clara", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kenji",
    "Lena", "Marta", "Noah", "Olga", "Pablo",
];
const LAST: [&str; 16] = [
    "Lee", "Martin", "Garcia", "Novak", "Rossi", "Dubois", "Khan", "Silva", "Muller", "Jensen",
    "Costa", "Nowak", "Ahmed", "Tanaka", "Smith", "Moreau",
];

/// Inserts `rows` in as many statements as the parameter limit needs.
async fn insert_all<A>(conn: &impl ConnectionTrait, rows: Vec<A>) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
{
    let columns = <<A::Entity as EntityTrait>::Column as Iterable>::iter().count();
    let per_statement = (MAX_PARAMS / columns).max(1);
    let mut written = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(per_statement).collect();
        written += <A::Entity as EntityTrait>::insert_many(batch)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(written)
}

fn phone(rng: &mut SmallRng) -> String {
    format!(
        "+1 555 {:03} {:04}",
        rng.random_range(0..1000),
        rng.random_range(0..10_000)
    )
}

fn days_ago(now: DateTime<Utc>, rng: &mut SmallRng, max_days: i64) -> DateTime<Utc> {
    now - chrono::Duration::minutes(rng.random_range(0..max_days * 24 * 60))
}

#[derive(Default)]
struct Counts {
    hospitals: u64,
    specializations: u64,
    practitioners: u64,
    trials: u64,
    programs: u64,
    patients: u64,
    submissions: u64,
    calls: u64,
    referrals: u64,
    enrollments: u64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.hospitals
            + self.specializations
            + self.practitioners
            + self.trials
            + self.programs
            + self.patients
            + self.submissions
            + self.calls
            + self.referrals
            + self.enrollments
    }
}

/// Reference data and practitioners; returns the physicians' ids, the
/// trials and the programs.
async fn reference_data(
    db: &DatabaseConnection,
    patients: usize,
    now: DateTime<Utc>,
    rng: &mut SmallRng,
    counts: &mut Counts,
) -> Result<(Vec<Uuid>, Vec<Uuid>, Vec<Uuid>), DbErr> {
    let tx = db.begin().await?;
    // The staff the calls and patients are assigned to (`navigator{k}`).
    let team: Vec<staff::ActiveModel> = (0..STAFF)
        .map(|k| staff::ActiveModel {
            id: Set(db::staff::id_of(&format!("navigator{k}"))),
            subject: Set(format!("navigator{k}")),
            display_name: Set(Some(format!("Navigator {k}"))),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    insert_all(&tx, team).await?;
    let hospitals: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    counts.hospitals = insert_all(
        &tx,
        hospitals
            .iter()
            .enumerate()
            .map(|(n, id)| hospital::ActiveModel {
                id: Set(*id),
                name: Set(format!("Hospital {n}")),
                city: Set(format!("City {}", n % 20)),
                country: Set(Some("US".into())),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect(),
    )
    .await?;
    let specializations: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
    counts.specializations = insert_all(
        &tx,
        specializations
            .iter()
            .enumerate()
            .map(|(n, id)| specialization::ActiveModel {
                id: Set(*id),
                name: Set(format!("Specialization {n}")),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect(),
    )
    .await?;
    let physicians: Vec<Uuid> = (0..(patients / 50).max(1))
        .map(|_| Uuid::now_v7())
        .collect();
    let pharmacists = (patients / 500).max(1);
    let mut rows = Vec::with_capacity(physicians.len() + pharmacists);
    for (n, (id, kind)) in physicians
        .iter()
        .map(|id| (*id, "physician"))
        .chain((0..pharmacists).map(|_| (Uuid::now_v7(), "pharmacist")))
        .enumerate()
    {
        rows.push(practitioner::ActiveModel {
            id: Set(id),
            kind: Set(stored(kind)),
            first_name: Set(FIRST[rng.random_range(0..FIRST.len())].into()),
            last_name: Set(LAST[rng.random_range(0..LAST.len())].into()),
            email: Set(Some(format!("practitioner{n}@hospital.example"))),
            phone: Set(Some(phone(rng))),
            job_title: Set(Some(
                if kind == "physician" {
                    "Neurologist"
                } else {
                    "Pharmacist"
                }
                .into(),
            )),
            specialization_id: Set(Some(specializations[n % specializations.len()])),
            license_number: Set(Some(format!("LIC-{n:07}"))),
            hospital_id: Set(Some(hospitals[n % hospitals.len()])),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        });
    }
    counts.practitioners = insert_all(&tx, rows).await?;
    let trials: Vec<Uuid> = (0..30).map(|_| Uuid::now_v7()).collect();
    counts.trials = insert_all(
        &tx,
        trials
            .iter()
            .enumerate()
            .map(|(n, id)| clinical_trial::ActiveModel {
                id: Set(*id),
                registry_id: Set(format!("NCT{:08}", 5_000_000 + n)),
                title: Set(Some(format!("Trial {n}"))),
                medical_condition_id: Set(Some(CONDITIONS[n % 3])),
                status: Set(stored("recruiting")),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect(),
    )
    .await?;
    let programs: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
    counts.programs = insert_all(
        &tx,
        programs
            .iter()
            .enumerate()
            .map(|(n, id)| expanded_access_program::ActiveModel {
                id: Set(*id),
                eap_number: Set(format!("EAP-{n:04}")),
                product: Set(format!("Product {n}")),
                medical_condition_id: Set(Some(CONDITIONS[n % 3])),
                status: Set(stored("open")),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect(),
    )
    .await?;
    tx.commit().await?;
    Ok((physicians, trials, programs))
}

/// One chunk of patients with their submissions, calls, referrals and
/// enrollments, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn patient_chunk(
    db: &DatabaseConnection,
    first: usize,
    size: usize,
    now: DateTime<Utc>,
    rng: &mut SmallRng,
    refs: &(Vec<Uuid>, Vec<Uuid>, Vec<Uuid>),
    counts: &mut Counts,
    ids: &mut Vec<(Uuid, bool)>,
) -> Result<(), DbErr> {
    let (physicians, trials, programs) = refs;
    let mut patients = Vec::with_capacity(size);
    let mut submissions = Vec::with_capacity(size);
    let mut calls = Vec::with_capacity(size * 2);
    let mut searched = Vec::with_capacity(size);
    let mut referrals = Vec::new();
    let mut enrollments = Vec::new();
    for n in first..first + size {
        let id = Uuid::now_v7();
        let converted = rng.random_bool(0.10);
        // 5% of converted patients still wait for a physician (the work
        // queue `status=patient&has_physician=false`), 30% of leads have one.
        let physician = if converted {
            rng.random_bool(0.95)
        } else {
            rng.random_bool(0.30)
        }
        .then(|| physicians[rng.random_range(0..physicians.len())]);
        let condition = CONDITIONS[rng.random_range(0..3)];
        let first_name = FIRST[rng.random_range(0..FIRST.len())];
        let last_name = LAST[rng.random_range(0..LAST.len())];
        let email = format!("patient{n}@example.org");
        let phone = rng.random_bool(0.8).then(|| phone(rng));
        let contact = days_ago(now, rng, 720);
        let converted_at =
            converted.then(|| contact + chrono::Duration::days(rng.random_range(7..60)));
        searched.push((
            id,
            json!({"first_name": first_name, "last_name": last_name, "email": email, "phone": phone}),
        ));
        patients.push(patient::ActiveModel {
            id: Set(id),
            status: Set(stored(if converted { "patient" } else { "lead" })),
            first_name: Set(Some(first_name.into())),
            last_name: Set(Some(last_name.into())),
            email: Set(Some(email.clone())),
            phone: Set(phone.clone()),
            medical_condition_id: Set(Some(condition)),
            physician_id: Set(physician),
            physician_kind: Set(stored("physician")),
            first_contact_at: Set(Some(contact)),
            initial_consult_at: Set(converted.then(|| contact + chrono::Duration::days(3))),
            converted_at: Set(converted_at),
            erased_at: Set(None),
            owner_id: Set(Some(db::staff::id_of(&format!("navigator{}", n % STAFF)))),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        });
        ids.push((id, converted));
        let requested = rng
            .random_bool(0.5)
            .then(|| contact + chrono::Duration::days(2));
        submissions.push(intake_submission::ActiveModel {
            id: Set(Uuid::now_v7()),
            patient_id: Set(id),
            channel: Set(stored(["contact_form", "landing_page", "phone"][n % 3])),
            first_name: Set(Some(first_name.into())),
            last_name: Set(Some(last_name.into())),
            email: Set(Some(email.clone())),
            phone: Set(phone.clone()),
            medical_condition_id: Set(Some(condition)),
            medical_condition_text: Set(None),
            requested_call_at: Set(requested),
            payload: Set(json!({
                "first_name": first_name,
                "last_name": last_name,
                "email": email,
                "phone": phone,
                "medical_condition": condition,
                "requested_call_at": requested,
            })),
            submitted_at: Set(contact),
            erased_at: Set(None),
        });
        // 1.5 calls per patient on average: 1 or 2, converted ones at least
        // one completed.
        let n_calls = if rng.random_bool(0.5) { 2 } else { 1 };
        for c in 0..n_calls {
            let at = contact + chrono::Duration::days(2 + 7 * c);
            let status = if converted && c == 0 {
                "completed"
            } else {
                ["scheduled", "completed", "no_show", "cancelled"][rng.random_range(0..4)]
            };
            let k = rng.random_range(0..STAFF);
            calls.push(call::ActiveModel {
                id: Set(Uuid::now_v7()),
                patient_id: Set(id),
                navigator: Set(Some(format!("navigator{k}"))),
                scheduled_at: Set(at),
                reminder_at: Set(Some(at - chrono::Duration::hours(24))),
                status: Set(stored(status)),
                notes: Set(None),
                navigator_id: Set(Some(db::staff::id_of(&format!("navigator{k}")))),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
        if let (true, Some(physician), Some(converted_at)) = (converted, physician, converted_at) {
            let first_trial = rng.random_range(0..trials.len());
            let n_referrals = if rng.random_bool(0.3) { 2 } else { 1 };
            for r in 0..n_referrals {
                let eligibility = ["pending", "eligible", "ineligible"][rng.random_range(0..3)];
                referrals.push(trial_referral::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    patient_id: Set(id),
                    patient_status: Set(stored("patient")),
                    trial_id: Set(trials[(first_trial + r) % trials.len()]),
                    physician_id: Set(Some(physician)),
                    physician_kind: Set(stored("physician")),
                    imported: Set(false),
                    referred_at: Set(Some(converted_at + chrono::Duration::days(5))),
                    eligibility: Set(stored(eligibility)),
                    ineligible_reason: Set((eligibility == "ineligible")
                        .then(|| "Does not meet the inclusion criteria".into())),
                    outcome: Set(stored(if eligibility == "eligible" {
                        "enrolled"
                    } else {
                        "pending"
                    })),
                    version: Set(1),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
            if rng.random_bool(1.0 / 3.0) {
                enrollments.push(eap_enrollment::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    patient_id: Set(id),
                    patient_status: Set(stored("patient")),
                    program_id: Set(programs[rng.random_range(0..programs.len())]),
                    physician_id: Set(Some(physician)),
                    physician_kind: Set(stored("physician")),
                    imported: Set(false),
                    enrolled_at: Set(Some(converted_at + chrono::Duration::days(10))),
                    status: Set(stored("active")),
                    version: Set(1),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
        }
    }
    let tx = db.begin().await?;
    counts.patients += insert_all(&tx, patients).await?;
    // `q`'s index, as the store writes it for each new record.
    for (id, searched) in &searched {
        db::store::index_terms::<patient::Entity>(&tx, *id, None, Some(searched)).await?;
    }
    counts.submissions += insert_all(&tx, submissions).await?;
    counts.calls += insert_all(&tx, calls).await?;
    counts.referrals += insert_all(&tx, referrals).await?;
    counts.enrollments += insert_all(&tx, enrollments).await?;
    tx.commit().await
}

fn write_lines(path: PathBuf, ids: impl Iterator<Item = String>) -> std::io::Result<()> {
    let mut text = String::new();
    for id in ids {
        text.push_str(&id);
        text.push('\n');
    }
    std::fs::write(path, text)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let db = db::connect(
        &args.database_url,
        db::PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(30),
            ..Default::default()
        },
    )?;
    db::migrations::run(&db).await?;

    let started = Instant::now();
    let now = Utc::now();
    let mut rng = SmallRng::seed_from_u64(6);
    let mut counts = Counts::default();
    let refs = reference_data(&db, args.patients, now, &mut rng, &mut counts).await?;
    let mut ids = Vec::with_capacity(args.patients);
    let mut first = 0;
    while first < args.patients {
        let size = CHUNK.min(args.patients - first);
        patient_chunk(
            &db,
            first,
            size,
            now,
            &mut rng,
            &refs,
            &mut counts,
            &mut ids,
        )
        .await?;
        first += size;
    }
    let elapsed = started.elapsed();
    // Fresh statistics for the planner, and a database at rest, as a
    // production one is: on PostgreSQL, VACUUM sets the freshly loaded
    // rows' hint bits and visibility map (else the first scenario's reads
    // dirty every page they touch, and autovacuum of the new tables runs
    // during it), and a CHECKPOINT writes the load out now rather than
    // during the scenarios; on SQLite, the WAL goes back into the file.
    let analyze_started = Instant::now();
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared("VACUUM (ANALYZE)").await?;
            db.execute_unprepared("CHECKPOINT").await?;
        }
        _ => {
            db.execute_unprepared("ANALYZE").await?;
            db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
    }
    let analyze = analyze_started.elapsed();

    // The deep cursor: 90% of the way down the `status=lead` list (ids are
    // UUIDv7 made in order, so insertion order is list order).
    let leads: Vec<Uuid> = ids.iter().filter(|(_, c)| !c).map(|(id, _)| *id).collect();
    let deep = leads[leads.len() * 9 / 10];
    std::fs::write(args.out.join("deep_cursor.txt"), encode_cursor(deep) + "\n")?;
    std::fs::write(args.out.join("deep_id.txt"), format!("{deep}\n"))?;
    let mut all: Vec<Uuid> = ids.iter().map(|(id, _)| *id).collect();
    all.shuffle(&mut rng);
    let patches = (all.len() / 4).min(20_000);
    let reads = (all.len() - patches).min(50_000);
    write_lines(
        args.out.join("patient_ids.txt"),
        all[..reads].iter().map(Uuid::to_string),
    )?;
    write_lines(
        args.out.join("patch_ids.txt"),
        all[reads..reads + patches].iter().map(Uuid::to_string),
    )?;
    // Reads of a record that is not personal data (no access log entry):
    // the baseline that prices the access log on the read path.
    let mut physicians = refs.0.clone();
    physicians.shuffle(&mut rng);
    write_lines(
        args.out.join("practitioner_ids.txt"),
        physicians.iter().map(Uuid::to_string),
    )?;

    let total = counts.total();
    let mut report = String::new();
    writeln!(
        report,
        "seeded {} patients, {} practitioners, {} intake submissions, {} calls, {} trial referrals, {} EAP enrollments ({} hospitals, {} specializations, {} trials, {} programs)",
        counts.patients,
        counts.practitioners,
        counts.submissions,
        counts.calls,
        counts.referrals,
        counts.enrollments,
        counts.hospitals,
        counts.specializations,
        counts.trials,
        counts.programs,
    )?;
    writeln!(
        report,
        "seed time {:.1} s: {} rows, {:.0} rows/s ({:.0} patients/s); VACUUM/ANALYZE and checkpoint {:.1} s",
        elapsed.as_secs_f64(),
        total,
        total as f64 / elapsed.as_secs_f64(),
        counts.patients as f64 / elapsed.as_secs_f64(),
        analyze.as_secs_f64(),
    )?;
    print!("{report}");
    std::fs::write(args.out.join("seed.txt"), report)?;
    Ok(())
}

/// The stored enum spelled `text` (the seed picks values as text).
fn stored<E: ActiveEnum<Value = String>>(text: &str) -> E {
    E::try_from_value(&text.to_owned()).expect("a value of the enum")
}
