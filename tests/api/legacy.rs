//! The legacy CRM import, checked against `sample.truth.json` through the
//! HTTP API, re-run, and killed half-way.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use navigator::{
    db::entities::{
        call, eap_enrollment, history, intake_submission, legacy_id, patient, trial_referral,
    },
    domain::Role,
    legacy::{self, Outcome},
};
use sea_orm::{
    ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Statement, prelude::Uuid,
};
use serde_json::Value;

use crate::{
    helpers::{Backend, TestApp},
    on_both_databases,
};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-crm/sample")
}

fn truth() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-crm/sample.truth.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn total(app: &TestApp, uri: &str) -> u64 {
    let separator = if uri.contains('?') { '&' } else { '?' };
    app.get(&format!("{uri}{separator}count=true&limit=1"), Role::Viewer)
        .await
        .expect(200)
        .body["total"]
        .as_u64()
        .unwrap()
}

/// Every record of a collection, id → record.
async fn all(app: &TestApp, collection: &str) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut uri = format!("/v1/{collection}?limit=200");
    loop {
        let page = app.get(&uri, Role::Viewer).await.expect(200);
        for item in page.body["items"].as_array().unwrap() {
            out.insert(item["id"].as_str().unwrap().to_owned(), item.clone());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/{collection}?limit=200&cursor={cursor}"),
            None => return out,
        }
    }
}

on_both_databases! {
    async fn the_sample_export_imports_to_exactly_what_the_truth_file_says(app) {
        let truth = truth();
        let report = legacy::import(&app.db, &sample(), legacy::Options::default()).await.unwrap();

        let counts = &truth["counts"];
        for (key, uri) in [
            ("medical_conditions", "/v1/medical-conditions"),
            ("hospitals", "/v1/hospitals"),
            ("specializations", "/v1/specializations"),
            ("practitioners", "/v1/practitioners"),
            ("patients", "/v1/patients"),
            ("patients_converted", "/v1/patients?status=patient"),
            ("intake_submissions", "/v1/intake-submissions"),
            ("calls", "/v1/calls"),
            ("clinical_trials", "/v1/clinical-trials"),
            ("trial_referrals", "/v1/trial-referrals"),
            ("eap_programs", "/v1/expanded-access-programs"),
            ("eap_enrollments", "/v1/eap-enrollments"),
        ] {
            assert_eq!(total(app, uri).await, counts[key].as_u64().unwrap(), "{key}");
        }

        // Every legacy row is accounted for; the rejected ones are exactly the truth's.
        let rows_in_export: usize = ["medical_condition", "hospital", "specialization", "contact", "patient", "eap_dossier"]
            .iter()
            .map(|f| std::fs::read_to_string(sample().join(format!("{f}.csv"))).unwrap().lines().count() - 1)
            .sum();
        assert_eq!(report.entries.len(), rows_in_export);
        let rejected: Vec<&str> = report.entries.iter().filter(|e| e.outcome == Outcome::Rejected).map(|e| e.id.as_str()).collect();
        let mut expected: Vec<&str> = truth["rejected_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let mut got = rejected.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        assert_eq!(report.rows["contact"][&Outcome::Rejected] as u64, counts["rejected_contact_rows"].as_u64().unwrap());
        assert_eq!(report.rows["eap_dossier"][&Outcome::Rejected] as u64, counts["rejected_dossier_rows"].as_u64().unwrap());
        assert!(report.entries.iter().filter(|e| e.outcome == Outcome::Rejected).all(|e| e.reason.is_some() && e.row.is_some()));
        assert!(report.entries.iter().filter(|e| e.outcome != Outcome::Rejected).all(|e| !e.records.is_empty()));
        let dated_badly = report.entries.iter().filter(|e| e.warnings.iter().any(|w| w.contains("date"))).count();
        assert_eq!(dated_badly as u64, counts["rows_with_unparseable_dates"].as_u64().unwrap());

        // Every person, as a portal sees them.
        let conditions = all(app, "medical-conditions").await;
        let trials = all(app, "clinical-trials").await;
        let programs = all(app, "expanded-access-programs").await;
        for person in truth["people"].as_array().unwrap() {
            let email = person["email"].as_str().unwrap();
            let found = app.get(&format!("/v1/patients?email={}", email.replace('+', "%2B")), Role::Navigator).await.expect(200);
            let items = found.body["items"].as_array().unwrap();
            assert_eq!(items.len(), 1, "{email}");
            let id = items[0]["id"].as_str().unwrap();
            let page = app.get(&format!("/v1/patients/{id}?include=calls,submissions,referrals,enrollments,physician"), Role::Navigator).await.expect(200).body;
            assert_eq!(page["first_name"], person["first_name"], "{email}");
            assert_eq!(page["last_name"], person["last_name"], "{email}");
            assert_eq!(page["status"], person["status"], "{email}");
            assert_eq!(page["submissions"].as_array().unwrap().len() as u64, person["submissions"].as_u64().unwrap(), "{email}");
            let mut calls: BTreeMap<String, u64> = BTreeMap::new();
            for call in page["calls"].as_array().unwrap() {
                *calls.entry(call["status"].as_str().unwrap().to_owned()).or_default() += 1;
            }
            for status in ["scheduled", "completed", "no_show"] {
                assert_eq!(calls.get(status).copied().unwrap_or(0), person["calls"][status].as_u64().unwrap(), "{email} {status}");
            }
            let condition = page["medical_condition_id"].as_str().map(|c| conditions[c]["abbreviation"].clone()).unwrap_or(Value::Null);
            assert_eq!(condition, person["condition"], "{email}");
            assert_eq!(page["physician"]["email"].clone(), person["physician"], "{email}");
            let mut referred: Vec<&str> = page["referrals"].as_array().unwrap().iter().map(|r| trials[r["trial_id"].as_str().unwrap()]["registry_id"].as_str().unwrap()).collect();
            referred.sort();
            let mut expected: Vec<&str> = person["referrals"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            expected.sort();
            assert_eq!(referred, expected, "{email}");
            let mut enrolled: Vec<&str> = page["enrollments"].as_array().unwrap().iter().map(|e| programs[e["program_id"].as_str().unwrap()]["eap_number"].as_str().unwrap()).collect();
            enrolled.sort();
            let mut expected: Vec<&str> = person["enrollments"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            expected.sort();
            assert_eq!(enrolled, expected, "{email}");
        }
    }

    async fn support_can_find_where_a_crm_row_went_and_history_names_the_importer(app) {
        legacy::import(&app.db, &sample(), legacy::Options::default()).await.unwrap();
        // The first lead row of the sample: its submission, its call and its person.
        let lead = "be815c7e-8f3c-4176-bb4a-e4daa8403457";
        let found = app.get(&format!("/v1/legacy-ids?legacy_id={lead}"), Role::Viewer).await.expect(200);
        let collections: Vec<&str> = found.body["items"].as_array().unwrap().iter().map(|i| i["collection"].as_str().unwrap()).collect();
        assert!(collections.contains(&"patients") && collections.contains(&"intake-submissions"), "{collections:?}");
        let person = found.body["items"].as_array().unwrap().iter().find(|i| i["collection"] == "patients").unwrap()["record_id"].as_str().unwrap().to_owned();
        let patient = app.get(&format!("/v1/patients/{person}"), Role::Navigator).await.expect(200);
        assert_eq!(patient.body["email"], "daan.kowalski4766@example.com");
        assert_eq!(patient.body["created_at"], "2022-10-08T12:45:00Z", "the CRM's createdon is kept");
        let history = app.get(&format!("/v1/patients/{person}/history"), Role::Navigator).await.expect(200);
        assert_eq!(history.body["items"][0]["actor"], legacy::ACTOR);
        let submission = app.get(&format!("/v1/intake-submissions?patient_id={person}"), Role::Navigator).await.expect(200);
        assert_eq!(submission.body["items"][0]["payload"]["contactid"], lead, "the CRM row is kept in full");
    }

    async fn a_dry_run_reports_everything_and_writes_nothing(app) {
        let report = legacy::import(&app.db, &sample(), legacy::Options { dry_run: true, ..Default::default() }).await.unwrap();
        assert!(report.dry_run);
        assert_eq!(report.created["patients"], 202);
        assert_eq!(total(app, "/v1/patients").await, 0);
        assert_eq!(legacy_id::Entity::find().count(&app.db).await.unwrap(), 0);
    }

    async fn a_second_import_of_the_same_export_changes_nothing_and_says_so(app) {
        legacy::import(&app.db, &sample(), legacy::Options::default()).await.unwrap();
        let before = snapshot(app).await;
        let history_before = history::Entity::find().count(&app.db).await.unwrap();
        let again = legacy::import(&app.db, &sample(), legacy::Options::default()).await.unwrap();
        assert!(again.nothing_changed);
        assert!(again.created.is_empty());
        assert!(again.entries.iter().all(|e| matches!(e.outcome, Outcome::Unchanged | Outcome::Rejected)));
        assert_eq!(snapshot(app).await, before);
        assert_eq!(history::Entity::find().count(&app.db).await.unwrap(), history_before);
        assert!(again.summary().contains("nothing changed"));
    }

    async fn an_import_killed_half_way_resumes_to_the_same_result_as_an_uninterrupted_one(app) {
        // Several partitions, each committed whole: a kill falls between
        // two of them.
        let export = generated_export(5000);
        let clean = TestApp::new(app.backend).await;
        legacy::import(&clean.db, &export, legacy::Options::default()).await.unwrap();
        let all = patient::Entity::find().count(&clean.db).await.unwrap();

        let killed = import_killed_once_people_exceed(app, &export, 0).await;
        let imported = patient::Entity::find().count(&app.db).await.unwrap();
        assert!(imported > 0, "the import committed nothing before it was killed");
        assert!(imported < all, "the kill came after the import finished");
        assert_eq!(partition_folders_of(killed).len(), 1, "the killed import left its partitions");

        assert!(import_command(app, &export).status().unwrap().success());
        assert!(partition_folders_of(killed).is_empty(), "the next import removed them");

        let (resumed, uninterrupted) = (snapshot(app).await, snapshot(&clean).await);
        clean.finish().await;
        same(&resumed, &uninterrupted);
        std::fs::remove_dir_all(export.parent().unwrap()).ok();
    }
}

/// `navigator import-legacy DIR` into the app's database, quiet.
fn import_command(app: &TestApp, dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_navigator"));
    command
        .args(["import-legacy", dir.to_str().unwrap()])
        .env("DATABASE_URL", &app.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The partitions folders of the import run by process `pid`.
fn partition_folders_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("navigator-import-{pid}-");
    (std::fs::read_dir(std::env::temp_dir()).unwrap().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Runs the import of `dir` and kills it (`kill -9`) as soon as the
/// database holds more than `people` people, or after two minutes; the
/// import's process id.
async fn import_killed_once_people_exceed(app: &TestApp, dir: &Path, people: u64) -> u32 {
    let mut child = import_command(app, dir).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while patient::Entity::find().count(&app.db).await.unwrap_or(0) <= people
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    child.id()
}

/// The ids of every imported record, and the mapping of legacy rows.
async fn snapshot(app: &TestApp) -> Vec<Vec<String>> {
    async fn ids<E: EntityTrait>(app: &TestApp, column: E::Column) -> Vec<String> {
        E::find()
            .select_only()
            .column(column)
            .order_by_asc(column)
            .into_tuple::<Uuid>()
            .all(&app.db)
            .await
            .unwrap()
            .iter()
            .map(Uuid::to_string)
            .collect()
    }
    let mut legacy: Vec<String> = legacy_id::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            format!(
                "{} {} {} {}",
                m.legacy_table, m.legacy_id, m.collection, m.record_id
            )
        })
        .collect();
    legacy.sort();
    vec![
        ids::<patient::Entity>(app, patient::Column::Id).await,
        ids::<intake_submission::Entity>(app, intake_submission::Column::Id).await,
        ids::<call::Entity>(app, call::Column::Id).await,
        ids::<trial_referral::Entity>(app, trial_referral::Column::Id).await,
        ids::<eap_enrollment::Entity>(app, eap_enrollment::Column::Id).await,
        legacy,
    ]
}

/// Every person's id with the dates the import gave them.
async fn dated(app: &TestApp) -> Vec<String> {
    let mut rows: Vec<String> = patient::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| format!("{} {} {:?}", p.id, p.created_at, p.converted_at))
        .collect();
    rows.sort();
    rows
}

/// Compares two snapshots category by category, showing only what differs.
#[track_caller]
fn same(left: &[Vec<String>], right: &[Vec<String>]) {
    let names = [
        "patients",
        "submissions",
        "calls",
        "referrals",
        "enrollments",
        "legacy ids",
    ];
    for ((name, l), r) in names.iter().zip(left).zip(right) {
        let only_left: Vec<&String> = l.iter().filter(|x| !r.contains(x)).take(3).collect();
        let only_right: Vec<&String> = r.iter().filter(|x| !l.contains(x)).take(3).collect();
        assert!(
            only_left.is_empty() && only_right.is_empty(),
            "{name}: {} vs {}; only in the resumed import: {only_left:?}; only in the uninterrupted one: {only_right:?}",
            l.len(),
            r.len()
        );
    }
}

/// An export made by the shared generator, in a fresh directory.
fn generated_export(leads: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("navigator-export-{}", Uuid::now_v7().simple()));
    let out = dir.join("export");
    let generator =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-crm/generate.py");
    let status = Command::new("python3")
        .arg(generator)
        .args([
            "--leads",
            &leads.to_string(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .status()
        .expect("python3 runs the export generator");
    assert!(status.success());
    out
}

// ---- Successive exports (FORMAT.md rules 9-15), each rule from a small export of its own.

const CONTACT: &str = "contactid,firstname,lastname,emailaddress1,contact_type,medical_condition,booking_date,reminder_date,no_show,job_title,specialization,medical_license_number,hospital,createdon,modifiedon";
const PATIENT: &str = "patientid,firstname,lastname,email,first_contact_date,initial_consult_date,medical_condition,trial_id,eligible,ineligible_reason,ct_referral_date,eap_enrollment_date,contact_record,physician,ct_outcome,createdon,modifiedon";
const DOSSIER: &str = "eap_dossier_id,eap_number,patient,product,eap_enrollment_date";

/// A lead row of `email`, created on day `day` of January 2023.
fn lead(id: &str, first: &str, email: &str, day: u32, booking: &str, no_show: &str) -> String {
    format!(
        "{id},{first},Lee,{email},Patient - Lead,Glioblastoma,{booking},,{no_show},,,,,2023-01-{day:02}T10:00:00Z,2023-01-{day:02}T10:00:00Z"
    )
}

/// A patient row of `email` with an optional trial.
fn patient_row(id: &str, email: &str, trial: &str, outcome: &str) -> String {
    format!(
        "{id},Ann,Lee,{email},,,,{trial},,,,2023-03-01T10:00:00Z,,,{outcome},2023-02-01T10:00:00Z,2023-02-01T10:00:00Z"
    )
}

/// An export of these lead, patient and dossier rows, in a fresh directory.
fn export_of(contacts: &[String], patients: &[String], dossiers: &[String]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("navigator-later-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, header: &str, rows: &[String]| {
        let body: String = std::iter::once(header.to_owned())
            .chain(rows.iter().cloned())
            .map(|l| l + "\n")
            .collect();
        std::fs::write(dir.join(format!("{name}.csv")), body).unwrap();
    };
    file(
        "medical_condition",
        "medical_condition_id,name,abbreviation",
        &["mc1,Glioblastoma,GBM".to_owned()],
    );
    file("hospital", "hospital_id,name,city", &[]);
    file("specialization", "specialization_id,name", &[]);
    file("contact", CONTACT, contacts);
    file("patient", PATIENT, patients);
    file("eap_dossier", DOSSIER, dossiers);
    dir
}

async fn import(app: &TestApp, dir: &Path) -> legacy::Report {
    legacy::import(&app.db, dir, legacy::Options::default())
        .await
        .unwrap()
}

fn entry<'r>(report: &'r legacy::Report, id: &str) -> &'r legacy::RowReport {
    report
        .entries
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no entry for {id}"))
}

/// The one person of `email`, as a navigator sees them with their records.
async fn person(app: &TestApp, email: &str) -> Value {
    let found = app
        .get(&format!("/v1/patients?email={email}"), Role::Navigator)
        .await
        .expect(200);
    let id = found.body["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no person {email}"))
        .to_owned();
    app.get(
        &format!("/v1/patients/{id}?include=calls,submissions,referrals,enrollments"),
        Role::Navigator,
    )
    .await
    .expect(200)
    .body
}

on_both_databases! {
    async fn rule_11_a_field_changed_in_navigator_and_in_the_crm_keeps_navigators_value_and_is_a_conflict(app) {
        let first = export_of(&[lead("c1", "Ann", "ann@example.org", 1, "", "")], &[], &[]);
        import(app, &first).await;
        let ann = person(app, "ann@example.org").await;
        let id = ann["id"].as_str().unwrap().to_owned();
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, serde_json::json!({"first_name": "Anne", "last_name": "Lee-Smith"})).await.expect(200);

        // The CRM renames her too, and books a call.
        let later = export_of(&[lead("c1", "Annie", "ann@example.org", 1, "2023-02-01T09:00:00Z", "")], &[], &[]);
        let report = import(app, &later).await;
        let row = entry(&report, "c1");
        assert_eq!(row.outcome, Outcome::Conflict, "{row:?}");
        let conflict = row.conflicts.iter().find(|c| c.field == "first_name").unwrap();
        assert_eq!((conflict.navigator.as_str(), conflict.crm.as_str()), (Some("Anne"), Some("Annie")));
        assert_eq!(report.totals[&Outcome::Conflict], 1);
        let ann = person(app, "ann@example.org").await;
        assert_eq!(ann["first_name"], "Anne", "Navigator's value is kept");
        assert_eq!(ann["last_name"], "Lee-Smith", "the CRM did not change it: Navigator's stays");
        assert_eq!(ann["calls"].as_array().unwrap().len(), 1, "the new booking is a new call");

        // A third import of the same export changes nothing.
        let history_before = history::Entity::find().count(&app.db).await.unwrap();
        let again = import(app, &later).await;
        assert!(again.nothing_changed, "{}", again.summary());
        assert!(again.entries.iter().all(|e| e.outcome == Outcome::Unchanged), "{}", again.summary());
        assert_eq!(history::Entity::find().count(&app.db).await.unwrap(), history_before);
    }

    async fn rule_11_a_field_nobody_changed_in_navigator_follows_the_crm_and_history_names_the_import(app) {
        import(app, &export_of(&[lead("c1", "Ann", "ann@example.org", 1, "", "")], &[], &[])).await;
        let report = import(app, &export_of(&[lead("c1", "Annie", "ann@example.org", 1, "", "")], &[], &[])).await;
        let row = entry(&report, "c1");
        assert_eq!(row.outcome, Outcome::Updated);
        assert!(row.changes.iter().any(|c| c.field == "first_name" && c.to == "Annie"), "{row:?}");
        let ann = person(app, "ann@example.org").await;
        assert_eq!(ann["first_name"], "Annie");
        assert_eq!(ann["submissions"][0]["first_name"], "Ann", "a submission stays what was received");
        let history = app.get(&format!("/v1/patients/{}/history", ann["id"].as_str().unwrap()), Role::Navigator).await.expect(200);
        let last = history.body["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["actor"], legacy::ACTOR);
        assert_eq!(last["changes"]["first_name"]["to"], "Annie");
    }

    async fn rule_11_a_rescheduled_booking_moves_the_call_and_a_no_show_answer_completes_it(app) {
        import(app, &export_of(&[lead("c1", "Ann", "ann@example.org", 1, "2023-02-01T09:00:00Z", "")], &[], &[])).await;
        import(app, &export_of(&[lead("c1", "Ann", "ann@example.org", 1, "2023-02-03T09:00:00Z", "")], &[], &[])).await;
        let calls = person(app, "ann@example.org").await["calls"].clone();
        assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
        assert_eq!(calls[0]["scheduled_at"], "2023-02-03T09:00:00Z");
        import(app, &export_of(&[lead("c1", "Ann", "ann@example.org", 1, "2023-02-03T09:00:00Z", "No")], &[], &[])).await;
        let calls = person(app, "ann@example.org").await["calls"].clone();
        assert_eq!((calls.as_array().unwrap().len(), calls[0]["status"].as_str()), (1, Some("completed")));
    }

    async fn rule_11_a_changed_email_never_moves_a_row_to_another_person(app) {
        import(app, &export_of(&[lead("c1", "Ann", "ann@example.org", 1, "", "")], &[], &[])).await;
        let report = import(app, &export_of(&[lead("c1", "Ann", "ann.lee@example.org", 1, "", "")], &[], &[])).await;
        let row = entry(&report, "c1");
        assert_eq!(row.outcome, Outcome::Conflict);
        assert!(row.conflicts.iter().any(|c| c.field == "email" && c.crm == "ann.lee@example.org"), "{row:?}");
        assert_eq!(total(app, "/v1/patients").await, 1);
        assert_eq!(person(app, "ann@example.org").await["submissions"].as_array().unwrap().len(), 1);
    }

    async fn rule_11_a_changed_trial_id_adds_a_referral_and_an_outcome_updates_the_current_one(app) {
        let contacts = [lead("c1", "Ann", "ann@example.org", 1, "", "")];
        import(app, &export_of(&contacts, &[patient_row("p1", "ann@example.org", "NCT01000001", "Pending")], &[])).await;
        import(app, &export_of(&contacts, &[patient_row("p1", "ann@example.org", "NCT01000002", "Pending")], &[])).await;
        let trials = all(app, "clinical-trials").await;
        let ann = person(app, "ann@example.org").await;
        let mut referred: Vec<&str> = ann["referrals"].as_array().unwrap().iter().map(|r| trials[r["trial_id"].as_str().unwrap()]["registry_id"].as_str().unwrap()).collect();
        referred.sort();
        assert_eq!(referred, ["NCT01000001", "NCT01000002"], "Navigator keeps the first referral");
        import(app, &export_of(&contacts, &[patient_row("p1", "ann@example.org", "NCT01000002", "Enrolled")], &[])).await;
        let ann = person(app, "ann@example.org").await;
        let outcomes: BTreeMap<&str, &str> = ann["referrals"].as_array().unwrap().iter().map(|r| (trials[r["trial_id"].as_str().unwrap()]["registry_id"].as_str().unwrap(), r["outcome"].as_str().unwrap())).collect();
        assert_eq!(outcomes["NCT01000002"], "enrolled");
        assert_eq!(outcomes["NCT01000001"], "pending");
    }

    async fn rules_10_12_13_conversions_in_navigator_and_in_the_crm_and_a_gone_row_undo_nothing(app) {
        // Bea converts in Navigator (after a completed call), Cas in the CRM.
        let contacts = [lead("c1", "Bea", "bea@example.org", 1, "2023-01-05T09:00:00Z", "No"), lead("c2", "Cas", "cas@example.org", 2, "", "")];
        import(app, &export_of(&contacts, &[], &[])).await;
        let bea = person(app, "bea@example.org").await;
        app.post(&format!("/v1/patients/{}/convert", bea["id"].as_str().unwrap()), Role::Navigator, serde_json::json!({})).await.expect(200);
        let both = [patient_row("p1", "bea@example.org", "", ""), patient_row("p2", "cas@example.org", "", "")];
        let report = import(app, &export_of(&contacts, &both, &[])).await;
        assert_eq!(person(app, "bea@example.org").await["status"], "patient");
        assert_eq!(person(app, "cas@example.org").await["status"], "patient", "a new patient row converts its person");
        assert_ne!(entry(&report, "p2").outcome, Outcome::Rejected);

        // The CRM loses Cas's patient row and Bea's lead row: nothing is undone or deleted.
        let report = import(app, &export_of(&contacts[1..], &both[..1], &[])).await;
        assert_eq!(entry(&report, "p2").outcome, Outcome::Gone);
        assert_eq!(entry(&report, "c1").outcome, Outcome::Gone);
        assert_eq!(report.totals[&Outcome::Gone], 2);
        assert_eq!(person(app, "cas@example.org").await["status"], "patient", "never turned back into a lead");
        let bea = person(app, "bea@example.org").await;
        assert_eq!((bea["status"].as_str(), bea["calls"].as_array().unwrap().len()), (Some("patient"), 1));
    }

    async fn rule_13_an_erased_person_is_never_refilled(app) {
        let rows = [lead("c1", "Ann", "ann@example.org", 1, "", "")];
        import(app, &export_of(&rows, &[], &[])).await;
        let id = person(app, "ann@example.org").await["id"].as_str().unwrap().to_owned();
        app.post(&format!("/v1/patients/{id}/erase"), Role::Admin, serde_json::json!({"reason": "Art. 17"})).await.expect(200);
        let kept = app.get("/v1/legacy-ids?legacy_id=c1&legacy_table=contact", Role::Navigator).await.expect(200);
        assert!(kept.body["items"].as_array().unwrap().iter().all(|i| i["row"].is_null()), "erasure reaches the kept CRM row: {}", kept.body);

        // The CRM still has her, changed, and a new form of hers.
        let later = [lead("c1", "Annie", "ann@example.org", 1, "", ""), lead("c9", "Ann", " ANN@example.org", 9, "2023-02-01T09:00:00Z", "")];
        let report = import(app, &export_of(&later, &[], &[])).await;
        assert_eq!(entry(&report, "c1").outcome, Outcome::Skipped);
        assert_eq!(entry(&report, "c9").outcome, Outcome::Skipped);
        let erased = app.get(&format!("/v1/patients/{id}"), Role::Navigator).await.expect(200).body;
        assert!(erased["first_name"].is_null() && erased["email"].is_null(), "{erased}");
        assert_eq!(total(app, "/v1/patients").await, 1);
        assert_eq!(total(app, "/v1/intake-submissions").await, 1);
        assert_eq!(total(app, "/v1/calls").await, 0);
    }

    async fn rule_14_the_row_as_last_imported_is_kept_shown_to_navigators_withheld_from_viewers_and_logged(app) {
        let contacts = [lead("c1", "Ann", "ann@example.org", 1, "", "")];
        import(app, &export_of(&contacts, &[patient_row("p1", "ann@example.org", "", "")], &[])).await;
        let uri = "/v1/legacy-ids?legacy_id=p1&legacy_table=patient";
        let shown = app.get(uri, Role::Navigator).await.expect(200);
        let item = &shown.body["items"][0];
        assert_eq!(item["row"]["eap_enrollment_date"], "2023-03-01T10:00:00Z", "a column with no place in the model is kept");
        let patient = item["record_id"].as_str().unwrap().to_owned();
        let viewer = app.get(uri, Role::Viewer).await.expect(200);
        assert!(viewer.body["items"][0].get("row").is_none(), "{}", viewer.body);
        let log = app.get(&format!("/v1/patients/{patient}/access-log"), Role::Admin).await.expect(200);
        assert!(log.body["items"].as_array().unwrap().iter().any(|e| e["route"].as_str().unwrap_or("").contains("/v1/legacy-ids")), "{}", log.body);
    }

    async fn rule_15_the_same_export_gives_the_same_records_in_two_databases(app) {
        legacy::import(&app.db, &sample(), legacy::Options::default()).await.unwrap();
        let other = TestApp::new(app.backend).await;
        legacy::import(&other.db, &sample(), legacy::Options::default()).await.unwrap();
        let (here, there) = (snapshot(app).await, snapshot(&other).await);
        assert_eq!(dated(app).await, dated(&other).await);
        other.finish().await;
        same(&here[..5], &there[..5]);
    }

    async fn an_eap_number_whose_rows_name_different_products_is_reported(app) {
        let contacts = [lead("c1", "Ann", "ann@example.org", 1, "", "")];
        let dossiers = ["d1,EAP-1,p1,Givinostat,2023-04-01T10:00:00Z".to_owned(), "d2,eap-1 ,p1,Vamorolone,2023-05-01T10:00:00Z".to_owned()];
        let report = import(app, &export_of(&contacts, &[patient_row("p1", "ann@example.org", "", "")], &dossiers)).await;
        assert!(entry(&report, "d2").warnings.iter().any(|w| w.contains("Vamorolone") && w.contains("Givinostat")), "{:?}", entry(&report, "d2"));
        assert_eq!(total(app, "/v1/expanded-access-programs").await, 1);
    }

    async fn a_dry_run_of_a_later_export_reports_its_changes_and_writes_nothing(app) {
        import(app, &export_of(&[lead("c1", "Ann", "ann@example.org", 1, "", "")], &[], &[])).await;
        let later = export_of(&[lead("c1", "Annie", "ann@example.org", 1, "", ""), lead("c2", "Bo", "bo@example.org", 2, "", "")], &[], &[]);
        let report = legacy::import(&app.db, &later, legacy::Options { dry_run: true, ..Default::default() }).await.unwrap();
        assert_eq!(entry(&report, "c1").outcome, Outcome::Updated);
        assert_eq!(entry(&report, "c2").outcome, Outcome::Created);
        assert_eq!(person(app, "ann@example.org").await["first_name"], "Ann");
        assert_eq!(total(app, "/v1/patients").await, 1);
    }
}

/// `later/`: the sample as `tests/fixtures/legacy-crm/later.py` changes it.
fn later_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-crm/later")
}

/// A later export of `export` made by `later.py`, in a fresh directory.
fn later_of(export: &Path, every: u32) -> PathBuf {
    let out = export.parent().unwrap().join("later");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-crm/later.py");
    let status = Command::new("python3")
        .arg(script)
        .args([
            export.to_str().unwrap(),
            out.to_str().unwrap(),
            "--every",
            &every.to_string(),
        ])
        .status()
        .expect("python3 runs later.py");
    assert!(status.success());
    out
}

on_both_databases! {
    async fn a_later_export_of_the_sample_imports_with_the_report_expected_and_a_third_import_changes_nothing(app) {
        import(app, &sample()).await;
        let referrals = total(app, "/v1/trial-referrals").await;
        let report = import(app, &later_sample()).await;
        println!("{}", report.summary());
        // later.py (every 10th): 25 lead rows gone, 25 new people, 3 patient
        // rows naming another trial (a fourth patient row reports the
        // person's first contact moved, as its earliest lead row is gone).
        let count = |table: &str, outcome: Outcome| report.rows.get(table).and_then(|r| r.get(&outcome)).copied().unwrap_or(0);
        assert_eq!(count("contact", Outcome::Gone), 25);
        assert_eq!(count("contact", Outcome::Created), 25);
        assert_eq!(report.created["patients"], 25);
        assert_eq!(count("patient", Outcome::Updated), 4);
        assert_eq!(total(app, "/v1/trial-referrals").await, referrals + 3, "a changed trial_id adds a referral");
        assert_eq!(report.totals.get(&Outcome::Conflict), None, "nobody worked in Navigator");
        assert!(count("contact", Outcome::Updated) >= 40, "{}", report.summary());
        let renamed = report.entries.iter().filter(|e| e.changes.iter().any(|c| c.field == "first_name" && c.to.as_str().is_some_and(|n| n.ends_with("-Marie")))).count();
        assert!(renamed > 0, "{}", report.summary());
        let moved = report.entries.iter().filter(|e| e.changes.iter().any(|c| c.collection == "calls" && c.field == "scheduled_at")).count();
        let answered = report.entries.iter().filter(|e| e.changes.iter().any(|c| c.collection == "calls" && c.field == "status")).count();
        assert!(moved > 0 && answered > 0, "{}", report.summary());

        let before = snapshot(app).await;
        let history_before = history::Entity::find().count(&app.db).await.unwrap();
        let third = import(app, &later_sample()).await;
        assert!(third.nothing_changed, "{}", third.summary());
        assert!(third.entries.iter().all(|e| matches!(e.outcome, Outcome::Unchanged | Outcome::Rejected | Outcome::Gone)), "{}", third.summary());
        assert_eq!(snapshot(app).await, before);
        assert_eq!(history::Entity::find().count(&app.db).await.unwrap(), history_before);
    }

    async fn a_later_import_killed_half_way_resumes_to_the_same_result_as_an_uninterrupted_one(app) {
        let export = generated_export(5000);
        let later = later_of(&export, 5);
        let clean = TestApp::new(app.backend).await;
        legacy::import(&clean.db, &export, legacy::Options::default()).await.unwrap();
        legacy::import(&clean.db, &later, legacy::Options::default()).await.unwrap();
        let all = patient::Entity::find().count(&clean.db).await.unwrap();

        legacy::import(&app.db, &export, legacy::Options::default()).await.unwrap();
        let people = patient::Entity::find().count(&app.db).await.unwrap();
        // Killed once the first partition with new people is committed.
        import_killed_once_people_exceed(app, &later, people).await;
        let imported = patient::Entity::find().count(&app.db).await.unwrap();
        assert!(imported > people, "the later import committed nothing before it was killed");
        assert!(imported < all, "the kill came after the later import finished");

        assert!(import_command(app, &later).status().unwrap().success());

        let (resumed, uninterrupted) = (snapshot(app).await, snapshot(&clean).await);
        let (resumed_people, clean_people) = (people_now(app).await, people_now(&clean).await);
        clean.finish().await;
        same(&resumed, &uninterrupted);
        assert!(resumed_people == clean_people, "the people's fields differ");
        std::fs::remove_dir_all(export.parent().unwrap()).ok();
    }
}

/// Every person's fields (without bookkeeping), and every call's, sorted.
async fn people_now(app: &TestApp) -> Vec<String> {
    let mut out: Vec<String> = patient::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            format!(
                "{} {} {:?} {:?} {:?} {:?}",
                p.id, p.status, p.first_name, p.last_name, p.converted_at, p.medical_condition_id
            )
        })
        .collect();
    out.extend(
        call::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {} {}", c.id, c.scheduled_at, c.status)),
    );
    out.sort();
    out
}

// ---- Bounded memory (issue 23 point 5): the import plans a partition of people at a time.

/// Imports `dir` split into `partitions` partitions, keeping every entry.
async fn import_in(app: &TestApp, dir: &Path, partitions: usize) -> legacy::Report {
    let options = legacy::Options {
        partitions: Some(partitions),
        ..Default::default()
    };
    legacy::import(&app.db, dir, options).await.unwrap()
}

on_both_databases! {
    async fn an_export_split_into_partitions_imports_exactly_as_one_partition_does(app) {
        let whole = TestApp::new(app.backend).await;
        for dir in [sample(), later_sample()] {
            let split = import_in(app, &dir, 7).await;
            let one = import_in(&whole, &dir, 1).await;
            assert_eq!(split.rows, one.rows, "{}\n{}", split.summary(), one.summary());
            assert_eq!((split.fields_updated, &split.created), (one.fields_updated, &one.created));
            let outcomes = |r: &legacy::Report| -> BTreeMap<(&str, String), Outcome> {
                r.entries.iter().map(|e| ((e.table, e.id.clone()), e.outcome)).collect()
            };
            assert_eq!(outcomes(&split), outcomes(&one));
        }
        let (split, one) = ((snapshot(app).await, people_now(app).await), (snapshot(&whole).await, people_now(&whole).await));
        whole.finish().await;
        same(&split.0, &one.0);
        assert!(split.1 == one.1, "the people's fields differ");

        let again = import_in(app, &later_sample(), 7).await;
        assert!(again.nothing_changed, "{}", again.summary());
        assert!(again.entries.iter().all(|e| matches!(e.outcome, Outcome::Unchanged | Outcome::Rejected | Outcome::Gone)), "{}", again.summary());
    }

    async fn an_import_refreshes_postgresqls_statistics_of_its_tables_and_leaves_sqlites_plans_alone(app) {
        import(app, &sample()).await;
        let query = match app.backend {
            Backend::Postgres => "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'legacy_rows'",
            Backend::Sqlite => "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'",
        };
        let statement = Statement::from_string(app.db.get_database_backend(), query);
        let row = app.db.query_one_raw(statement).await.unwrap().unwrap();
        let columns_with_statistics: i64 = row.try_get_by_index(0).unwrap();
        match app.backend {
            Backend::Postgres => assert!(columns_with_statistics > 0, "legacy_rows was never analyzed"),
            Backend::Sqlite => assert_eq!(columns_with_statistics, 0, "SQLite was analyzed"),
        }
    }

    async fn the_report_file_holds_every_row_and_the_totals(app) {
        let path = std::env::temp_dir().join(format!("navigator-report-{}.json", Uuid::now_v7().simple()));
        let status = import_command(app, &sample()).arg("--report").arg(&path).status().unwrap();
        assert!(status.success());
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).ok();
        let rows_in_export: usize = ["medical_condition", "hospital", "specialization", "contact", "patient", "eap_dossier"]
            .iter()
            .map(|f| csv::Reader::from_path(sample().join(format!("{f}.csv"))).unwrap().records().count())
            .sum();
        assert_eq!(report["entries"].as_array().unwrap().len(), rows_in_export);
        assert_eq!(report["rows_read"], rows_in_export);
        let totals: u64 = report["totals"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(totals as usize, rows_in_export);
        assert_eq!(report["dry_run"], false);
    }
}
