//! Funnel metrics (issue 24, point 4): the figures of a small known data
//! set, exactly, on both databases.

use navigator::{
    db::{entities::patient, migrations},
    domain::Role,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, prelude::Uuid};
use serde_json::json;

use crate::{
    helpers::{TestApp, converted_patient},
    on_both_databases,
};

const DMD: &str = "01900000-0000-7000-8000-000000000001";
const GBM: &str = "01900000-0000-7000-8000-000000000002";
const IPF: &str = "01900000-0000-7000-8000-000000000003";

/// A person first contacted at `contact`, with `condition`; converted at
/// `converted` (after a completed call) if given.
async fn person(
    app: &TestApp,
    n: u32,
    contact: &str,
    condition: Option<&str>,
    converted: Option<&str>,
) -> String {
    let body = json!({"email": format!("p{n}@example.org"), "first_contact_at": contact, "medical_condition_id": condition});
    let id = app
        .post("/v1/patients", Role::Navigator, body)
        .await
        .expect(201)
        .id();
    if let Some(converted) = converted {
        call(app, &id, contact, "completed").await;
        app.post(
            &format!("/v1/patients/{id}/convert"),
            Role::Navigator,
            json!({}),
        )
        .await
        .expect(200);
        // Conversion is stamped now; the data set needs a known moment.
        let row = patient::ActiveModel {
            id: Set(id.parse::<Uuid>().unwrap()),
            converted_at: Set(Some(converted.parse().unwrap())),
            ..Default::default()
        };
        row.update(&app.db).await.unwrap();
    }
    id
}

async fn call(app: &TestApp, patient: &str, at: &str, status: &str) -> String {
    let body = json!({"patient_id": patient, "scheduled_at": at, "status": status});
    app.post("/v1/calls", Role::Navigator, body)
        .await
        .expect(201)
        .id()
}

/// Every metric, as a viewer reads them.
async fn all_metrics(app: &TestApp) -> serde_json::Value {
    let mut all = Vec::new();
    for metric in ["funnel", "calls", "referrals", "enrollments"] {
        let uri = format!("/v1/metrics/{metric}");
        all.push(app.get(&uri, Role::Viewer).await.expect(200).body);
    }
    json!(all)
}

on_both_databases! {
    async fn the_funnel_figures_of_a_small_known_data_set_are_exact(app) {
        let a = person(app, 1, "2026-01-05T09:00:00Z", Some(GBM), Some("2026-01-15T09:00:00Z")).await;
        let b = person(app, 2, "2026-01-10T09:00:00Z", Some(GBM), Some("2026-01-14T09:00:00Z")).await;
        let c = person(app, 3, "2026-01-20T09:00:00Z", Some(GBM), None).await;
        let d = person(app, 4, "2026-01-02T00:00:00Z", Some(GBM), Some("2026-01-03T12:00:00Z")).await;
        let e = person(app, 5, "2026-01-31T23:00:00Z", None, None).await;
        person(app, 6, "2026-02-01T09:00:00Z", Some(GBM), Some("2026-02-03T09:00:00Z")).await;
        person(app, 7, "2026-02-10T09:00:00Z", Some(GBM), Some("2026-02-15T09:00:00Z")).await;
        call(app, &a, "2026-01-07T09:00:00Z", "no_show").await;
        call(app, &c, "2026-01-21T09:00:00Z", "no_show").await;
        call(app, &c, "2026-01-22T09:00:00Z", "cancelled").await;
        call(app, &e, "2026-02-05T09:00:00Z", "scheduled").await;

        let funnel = app.get("/v1/metrics/funnel", Role::Viewer).await.expect(200).body;
        assert_eq!(funnel, json!([
            {"month": "2026-01", "medical_condition_id": GBM, "leads_created": 4, "leads_converted": 3,
             "conversion_rate": 0.75, "median_days_to_conversion": 4.0, "median_days_to_first_referral": null},
            {"month": "2026-01", "medical_condition_id": null, "leads_created": 1, "leads_converted": 0,
             "conversion_rate": 0.0, "median_days_to_conversion": null, "median_days_to_first_referral": null},
            {"month": "2026-02", "medical_condition_id": GBM, "leads_created": 2, "leads_converted": 2,
             "conversion_rate": 1.0, "median_days_to_conversion": 3.5, "median_days_to_first_referral": null},
        ]));
        let calls = app.get("/v1/metrics/calls", Role::Viewer).await.expect(200).body;
        assert_eq!(calls, json!([
            {"month": "2026-01", "medical_condition_id": GBM, "calls_held": 3, "no_shows": 2, "no_show_rate": 0.4},
            {"month": "2026-02", "medical_condition_id": GBM, "calls_held": 2, "no_shows": 0, "no_show_rate": 0.0},
            {"month": "2026-02", "medical_condition_id": null, "calls_held": 0, "no_shows": 0, "no_show_rate": null},
        ]));
        let february = app.get("/v1/metrics/funnel?from=2026-02", Role::Viewer).await.expect(200).body;
        assert_eq!(february.as_array().map(Vec::len), Some(1));
        assert_eq!(february[0]["month"], "2026-02");
        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"})).await;
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT05000001", "medical_condition_id": GBM})).await;
        let program = app.create("expanded-access-programs", json!({"eap_number": "EAP-2026-001", "product": "ONC-201"})).await;
        // First referral or enrollment: a after 3 days (the enrollment
        // before its referral), b after 2, d after 1: median 2.
        for (patient, eligibility, at) in [
            (&a, "pending", "2026-01-20T09:00:00Z"),
            (&b, "eligible", "2026-01-16T09:00:00Z"),
            (&d, "eligible", "2026-01-10T12:00:00Z"),
        ] {
            let body = json!({"patient_id": patient, "trial_id": trial, "physician_id": doctor, "eligibility": eligibility, "referred_at": at});
            app.post("/v1/trial-referrals", Role::Navigator, body).await.expect(201);
        }
        for (patient, at) in [(&a, "2026-01-18T09:00:00Z"), (&d, "2026-01-04T12:00:00Z")] {
            let body = json!({"patient_id": patient, "program_id": program, "physician_id": doctor, "enrolled_at": at});
            app.post("/v1/eap-enrollments", Role::Navigator, body).await.expect(201);
        }
        let funnel = app.get("/v1/metrics/funnel?to=2026-01", Role::Viewer).await.expect(200).body;
        assert_eq!(funnel[0]["median_days_to_first_referral"], json!(2.0));
        assert_eq!(funnel[1]["median_days_to_first_referral"], json!(null));
        assert_eq!(funnel.as_array().map(Vec::len), Some(2));
        let now = chrono::Utc::now().format("%Y-%m").to_string();
        let referrals = app.get("/v1/metrics/referrals", Role::Viewer).await.expect(200).body;
        assert_eq!(referrals, json!([
            {"month": now, "medical_condition_id": GBM, "eligibility": "eligible", "outcome": "pending", "referrals": 2},
            {"month": now, "medical_condition_id": GBM, "eligibility": "pending", "outcome": "pending", "referrals": 1},
        ]));
        let enrollments = app.get("/v1/metrics/enrollments", Role::Viewer).await.expect(200).body;
        assert_eq!(enrollments, json!([
            {"month": now, "medical_condition_id": GBM, "status": "pending", "enrollments": 2},
        ]));

        // No personal data: nothing for the access log.
        let log = app.get(&format!("/v1/patients/{a}/access-log"), Role::Admin).await.expect(200).body;
        let metrics = log["items"].as_array().unwrap().iter().filter(|e| e["route"].as_str().is_some_and(|r| r.contains("metrics"))).count();
        assert_eq!(metrics, 0);
    }
}

on_both_databases! {
    async fn the_summary_stays_what_the_rows_say_through_every_kind_of_write(app) {
        let a = person(app, 1, "2026-03-05T09:00:00Z", Some(GBM), Some("2026-03-09T09:00:00Z")).await;
        let b = person(app, 2, "2026-03-06T09:00:00Z", Some(DMD), Some("2026-03-20T09:00:00Z")).await;
        let c = person(app, 3, "2026-04-01T09:00:00Z", None, None).await;
        let d = person(app, 4, "2026-04-02T09:00:00Z", Some(GBM), None).await;
        let c_call = call(app, &c, "2026-04-03T09:00:00Z", "scheduled").await;
        let b_call = call(app, &b, "2026-03-07T09:00:00Z", "no_show").await;
        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"})).await;
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT05000002", "medical_condition_id": GBM})).await;
        let program = app.create("expanded-access-programs", json!({"eap_number": "EAP-2026-002", "product": "ONC-201"})).await;
        let mut referrals = Vec::new();
        for (patient, at) in [(&a, "2026-03-12T09:00:00Z"), (&b, "2026-03-25T09:00:00Z")] {
            let body = json!({"patient_id": patient, "trial_id": trial, "physician_id": doctor, "referred_at": at});
            referrals.push(app.post("/v1/trial-referrals", Role::Navigator, body).await.expect(201).id());
        }
        let body = json!({"patient_id": b, "program_id": program, "physician_id": doctor, "enrolled_at": "2026-03-22T09:00:00Z"});
        let enrollment = app.post("/v1/eap-enrollments", Role::Navigator, body).await.expect(201).id();
        // A patient written converted already, as the CRM import does.
        patient::ActiveModel {
            medical_condition_id: Set(Some(IPF.parse().unwrap())),
            first_contact_at: Set(Some("2026-03-01T09:00:00Z".parse().unwrap())),
            converted_at: Set(Some("2026-03-03T09:00:00Z".parse().unwrap())),
            ..converted_patient("imported@example.org")
        }
        .insert(&app.db)
        .await
        .unwrap();
        let before = all_metrics(app).await;

        // Writes that move counts between cells, or durations.
        let changes = [
            (format!("/v1/patients/{a}"), json!({"medical_condition_id": IPF})),
            (format!("/v1/patients/{d}"), json!({"first_contact_at": "2026-05-02T09:00:00Z"})),
            (format!("/v1/calls/{c_call}"), json!({"status": "completed", "scheduled_at": "2026-05-01T09:00:00Z"})),
            (format!("/v1/trial-referrals/{}", referrals[0]), json!({"eligibility": "eligible", "referred_at": "2026-03-10T09:00:00Z"})),
            (format!("/v1/eap-enrollments/{enrollment}"), json!({"status": "active", "enrolled_at": "2026-03-21T09:00:00Z"})),
            (format!("/v1/clinical-trials/{trial}"), json!({"medical_condition_id": DMD})),
        ];
        for (uri, body) in changes {
            app.patch(&uri, Role::Admin, body).await.expect(200);
        }
        app.post(&format!("/v1/patients/{c}/convert"), Role::Navigator, json!({})).await.expect(200);
        for uri in [format!("/v1/calls/{b_call}"), format!("/v1/trial-referrals/{}", referrals[1]), format!("/v1/patients/{d}")] {
            app.delete(&uri, Role::Admin).await.expect(204);
        }
        let after = all_metrics(app).await;
        assert_ne!(after, before);
        assert_eq!(after[0][0]["month"], "2026-03");
        assert_eq!(after[0][0]["medical_condition_id"], DMD);
        // b: referred 5 days after conversion, enrolled 1 day after.
        assert_eq!(after[0][0]["median_days_to_first_referral"], json!(1.0));

        // The same figures from the summary built afresh from the rows.
        for statement in migrations::rebuild_metrics_summary(app.db.get_database_backend()) {
            app.db.execute_raw(statement).await.unwrap();
        }
        assert_eq!(all_metrics(app).await, after);
    }

    async fn a_period_is_whole_months(app) {
        person(app, 1, "2026-03-31T23:30:00Z", Some(GBM), None).await;
        person(app, 2, "2026-04-01T00:30:00Z", Some(GBM), None).await;
        let march = app.get("/v1/metrics/funnel?from=2026-03&to=2026-03", Role::Viewer).await.expect(200).body;
        assert_eq!(march.as_array().map(Vec::len), Some(1));
        assert_eq!(march[0]["leads_created"], 1);
        for bad in ["2026-13", "2026-3", "2026-03-01T00:00:00Z"] {
            app.get(&format!("/v1/metrics/calls?from={bad}"), Role::Viewer).await.expect_problem(400);
        }
    }
}

/// The summary's non-zero cells and every duration, as the database holds
/// them.
async fn summary(app: &TestApp) -> Vec<String> {
    let queries = [
        "SELECT metric, month, label, CAST(SUM(n) AS bigint) FROM metric_counts \
         GROUP BY metric, month, condition_id, label HAVING SUM(n) <> 0 \
         ORDER BY metric, month, condition_id, label",
        "SELECT metric, month, '', CAST(ROUND(days * 1000) AS bigint) FROM metric_durations \
         ORDER BY patient_id, metric",
    ];
    let mut out = Vec::new();
    for sql in queries {
        let statement = sea_orm::Statement::from_string(app.db.get_database_backend(), sql);
        for row in app.db.query_all_raw(statement).await.unwrap() {
            let text = |i: usize| row.try_get_by_index::<String>(i).unwrap();
            let n = row.try_get_by_index::<i64>(3).unwrap();
            out.push(format!("{} {} {} {n}", text(0), text(1), text(2)));
        }
    }
    out
}

on_both_databases! {
    async fn the_summary_stays_what_the_rows_say_through_imports_of_many_rows_per_statement(app) {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-crm");
        for export in ["sample", "later"] {
            navigator::legacy::import(&app.db, &fixtures.join(export), Default::default()).await.unwrap();
        }
        let kept = summary(app).await;
        assert!(kept.iter().any(|cell| cell.starts_with("calls ")), "the import counted no call");
        assert!(kept.iter().any(|cell| cell.starts_with("first_referral ")), "the import timed no referral");

        for statement in migrations::rebuild_metrics_summary(app.db.get_database_backend()) {
            app.db.execute_raw(statement).await.unwrap();
        }
        assert_eq!(summary(app).await, kept);
    }
}
