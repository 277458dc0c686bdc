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
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, prelude::Uuid};
use serde_json::Value;

use crate::{helpers::TestApp, on_both_databases};

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
        let report = legacy::import(&app.db, &sample(), legacy::Options { dry_run: true }).await.unwrap();
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
        let export = generated_export(2500);
        let binary = env!("CARGO_BIN_EXE_navigator");
        let mut child = Command::new(binary)
            .args(["import-legacy", export.to_str().unwrap()])
            .env("DATABASE_URL", &app.url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it as soon as its first people are committed: the import is
        // then certainly half-way (the legacy ids are written last).
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let people = patient::Entity::find().count(&app.db).await.unwrap_or(0);
            if people > 0 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(patient::Entity::find().count(&app.db).await.unwrap() > 0, "the import committed nothing before it was killed");
        assert_eq!(legacy_id::Entity::find().count(&app.db).await.unwrap(), 0, "the kill came after the import finished");

        let status = Command::new(binary).args(["import-legacy", export.to_str().unwrap()]).env("DATABASE_URL", &app.url).env("RUST_LOG", "warn").stdout(Stdio::null()).status().unwrap();
        assert!(status.success());

        let clean = TestApp::new(app.backend).await;
        legacy::import(&clean.db, &export, legacy::Options::default()).await.unwrap();
        let (resumed, uninterrupted) = (snapshot(app).await, snapshot(&clean).await);
        clean.finish().await;
        same(&resumed, &uninterrupted);
        std::fs::remove_dir_all(export.parent().unwrap()).ok();
    }
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
