//! The navigators' day (issue 24): staff made on sign-in, owners and
//! holders of calls, and the work queues as filtered, sorted lists.

use navigator::domain::Role;
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases};

/// The caller's staff id, made on their first request.
async fn me(app: &TestApp, role: Role) -> String {
    app.get("/v1/me", role).await.expect(200).body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn lead(app: &TestApp, email: &str) -> String {
    app.post("/v1/patients", Role::Navigator, json!({"email": email}))
        .await
        .expect(201)
        .id()
}

async fn call(app: &TestApp, body: Value) -> String {
    app.post("/v1/calls", Role::Navigator, body)
        .await
        .expect(201)
        .id()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

on_both_databases! {
    async fn signing_in_makes_a_staff_record_whose_name_an_admin_sets(app) {
        let first = app.get("/v1/me", Role::Navigator).await.expect(200).body;
        assert_eq!(first["subject"], "navigator-user");
        assert_eq!(first["display_name"], Value::Null);
        let id = first["id"].as_str().unwrap();
        // The same record on every request.
        assert_eq!(me(app, Role::Navigator).await, id);
        let uri = format!("/v1/staff/{id}");
        app.patch(&uri, Role::Navigator, json!({"display_name": "Noor"}))
            .await
            .expect_problem(403);
        app.patch(&uri, Role::Admin, json!({"display_name": "Noor"}))
            .await
            .expect(200);
        let shown = app.get(&uri, Role::Viewer).await.expect(200).body;
        assert_eq!(shown["display_name"], "Noor");
        let history = app
            .get(&format!("{uri}/history"), Role::Admin)
            .await
            .expect(200)
            .body;
        let actions: Vec<_> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["create", "update"]);
        assert_eq!(history["items"][0]["actor"], "navigator-user");
        let listed = app.get("/v1/staff", Role::Viewer).await.expect(200).body;
        assert!(ids(&listed).contains(&id.to_owned()));
    }

    async fn navigator_me_returns_only_the_callers_calls(app) {
        let (mine, theirs) = (me(app, Role::Navigator).await, me(app, Role::Admin).await);
        let patient = lead(app, "me@example.org").await;
        let at = "2026-03-02T09:00:00Z";
        let my_call = call(app, json!({"patient_id": patient, "scheduled_at": at, "navigator_id": mine})).await;
        call(app, json!({"patient_id": patient, "scheduled_at": at, "navigator_id": theirs})).await;
        call(app, json!({"patient_id": patient, "scheduled_at": at, "navigator": "Noor"})).await;
        for query in ["navigator=me", "navigator_id=me", &format!("navigator_id={mine}")] {
            let page = app.get(&format!("/v1/calls?{query}"), Role::Navigator).await.expect(200).body;
            assert_eq!(ids(&page), [my_call.as_str()], "{query}");
        }
        let legacy = app.get("/v1/calls?navigator=Noor", Role::Navigator).await.expect(200).body;
        assert_eq!(legacy["items"].as_array().unwrap().len(), 1);
        app.get("/v1/calls?navigator_id=someone", Role::Navigator).await.expect_problem(400);
    }

    async fn reassigning_is_a_patch_with_history(app) {
        let (mine, theirs) = (me(app, Role::Navigator).await, me(app, Role::Admin).await);
        let patient = app
            .post("/v1/patients", Role::Navigator, json!({"email": "owned@example.org", "owner_id": mine}))
            .await
            .expect(201)
            .id();
        lead(app, "unowned@example.org").await;
        let page = app.get("/v1/patients?owner_id=me", Role::Navigator).await.expect(200).body;
        assert_eq!(ids(&page), [patient.as_str()]);
        let uri = format!("/v1/patients/{patient}");
        let moved = app.patch(&uri, Role::Navigator, json!({"owner_id": theirs})).await.expect(200).body;
        assert_eq!(moved["owner_id"], theirs.as_str());
        let history = app.get(&format!("{uri}/history"), Role::Navigator).await.expect(200).body;
        assert_eq!(history["items"][1]["changes"]["owner_id"], json!({"from": mine, "to": theirs}));
        let page = app.get("/v1/patients?owner_id=me", Role::Navigator).await.expect(200).body;
        assert!(ids(&page).is_empty());
        let nobody = "0190d0f0-0000-7000-8000-000000000000";
        let refused = app.patch(&uri, Role::Navigator, json!({"owner_id": nobody})).await.expect_problem(422);
        assert!(refused.body.to_string().contains("/owner_id"), "{}", refused.body);

        let call_id = call(app, json!({"patient_id": patient, "scheduled_at": "2026-03-02T09:00:00Z"})).await;
        let call_uri = format!("/v1/calls/{call_id}");
        app.patch(&call_uri, Role::Navigator, json!({"navigator_id": mine})).await.expect(200);
        let history = app.get(&format!("{call_uri}/history"), Role::Navigator).await.expect(200).body;
        assert_eq!(history["items"][1]["changes"]["navigator_id"], json!({"to": mine}));
        app.patch(&call_uri, Role::Navigator, json!({"navigator_id": nobody})).await.expect_problem(422);
    }
}

/// The ids of every page of `uri` (which sets `limit`), following cursors.
async fn all_pages(app: &TestApp, uri: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = uri.to_owned();
    loop {
        let page = app.get(&next, Role::Navigator).await.expect(200).body;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{uri}&cursor={cursor}"),
            None => return seen,
        }
    }
}

on_both_databases! {
    async fn reminders_due_lists_scheduled_calls_whose_reminder_passed_and_no_completed_one(app) {
        let patient = lead(app, "remind@example.org").await;
        let at = "2030-01-01T09:00:00Z";
        let due = |reminder: &str, status: &str| {
            json!({"patient_id": patient, "scheduled_at": at, "reminder_at": reminder, "status": status})
        };
        let later = call(app, due("2026-01-02T09:00:00Z", "scheduled")).await;
        let sooner = call(app, due("2026-01-01T09:00:00Z", "scheduled")).await;
        call(app, due("2026-01-01T09:00:00Z", "completed")).await;
        call(app, due("2026-01-01T09:00:00Z", "cancelled")).await;
        call(app, due("2099-01-01T09:00:00Z", "scheduled")).await;
        call(app, json!({"patient_id": patient, "scheduled_at": at})).await;
        let listed = app
            .get("/v1/calls?reminder_due=true&sort=reminder_at", Role::Navigator)
            .await
            .expect(200)
            .body;
        assert_eq!(ids(&listed), [sooner.as_str(), later.as_str()]);
    }

    async fn a_list_sorted_by_a_date_pages_by_keyset_in_either_direction(app) {
        let patient = lead(app, "sorted@example.org").await;
        let mut expected = Vec::new();
        // Created out of date order, with ties on the date.
        for (n, day) in [5, 1, 3, 3, 2, 5, 4].into_iter().enumerate() {
            let at = format!("2026-02-0{day}T09:00:00Z");
            let id = call(app, json!({"patient_id": patient, "scheduled_at": at})).await;
            expected.push((day, id, n));
        }
        expected.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let ascending: Vec<String> = expected.iter().map(|e| e.1.clone()).collect();
        assert_eq!(all_pages(app, "/v1/calls?sort=scheduled_at&limit=2").await, ascending);
        let mut descending = ascending.clone();
        descending.reverse();
        assert_eq!(all_pages(app, "/v1/calls?sort=-scheduled_at&limit=3").await, descending);
        let range = "/v1/calls?sort=scheduled_at&limit=1&scheduled_from=2026-02-03T00:00:00Z&scheduled_to=2026-02-05T00:00:00Z";
        let within: Vec<String> = expected.iter().filter(|e| (3..5).contains(&e.0)).map(|e| e.1.clone()).collect();
        assert_eq!(all_pages(app, range).await, within);
        let counted = app.get("/v1/calls?sort=scheduled_at&limit=1&count=true", Role::Viewer).await.expect(200).body;
        assert_eq!(counted["total"], 7);

        app.get("/v1/calls?sort=notes", Role::Navigator).await.expect_problem(400);
        // A cursor of the list in id order is not one of a sorted list.
        let by_id = app.get("/v1/calls?limit=1", Role::Navigator).await.expect(200).body;
        let cursor = by_id["next_cursor"].as_str().unwrap();
        app.get(&format!("/v1/calls?sort=scheduled_at&cursor={cursor}"), Role::Navigator)
            .await
            .expect_problem(400);
    }

    async fn leads_without_a_call_booked_and_patients_without_a_physician_are_queues(app) {
        let booked = lead(app, "booked@example.org").await;
        call(app, json!({"patient_id": booked, "scheduled_at": "2030-01-01T09:00:00Z"})).await;
        let called = lead(app, "called@example.org").await;
        call(app, json!({"patient_id": called, "scheduled_at": "2026-01-01T09:00:00Z", "status": "completed"})).await;
        let never = lead(app, "never@example.org").await;
        let to_call = app
            .get("/v1/patients?status=lead&call_booked=false", Role::Viewer)
            .await
            .expect(200)
            .body;
        assert_eq!(ids(&to_call), [called.as_str(), never.as_str()]);
        let with_call = app.get("/v1/patients?call_booked=true", Role::Viewer).await.expect(200).body;
        assert_eq!(ids(&with_call), [booked.as_str()]);

        app.post(&format!("/v1/patients/{called}/convert"), Role::Navigator, json!({}))
            .await
            .expect(200);
        let waiting = app
            .get("/v1/patients?status=patient&has_physician=false&sort=-converted_at", Role::Viewer)
            .await
            .expect(200)
            .body;
        assert_eq!(ids(&waiting), [called.as_str()]);
        let since = "/v1/patients?created_from=2099-01-01T00:00:00Z";
        assert!(ids(&app.get(since, Role::Viewer).await.expect(200).body).is_empty());
    }
}

on_both_databases! {
    async fn converted_patients_without_a_physician_are_one_index_range(app) {
        use navigator::db::entities::patient;
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, prelude::Uuid};
        // The queue's page as the store asks for it (sort=-converted_at):
        // it must read the index in order, with neither a scan of every
        // converted patient nor a sort, whatever the table's size. Most
        // converted patients have a physician, as in production. (On a
        // table this small PostgreSQL would rather read it all, or a bitmap
        // and sort three rows: those are turned off, so that the plan shows
        // which index would serve the page.)
        let doctor: Uuid = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"})).await.parse().unwrap();
        for n in 0..300 {
            patient::ActiveModel {
                physician_id: Set((n % 100 != 0).then_some(doctor)),
                ..crate::helpers::converted_patient(&format!("p{n}@example.org"))
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        app.db.execute_unprepared("ANALYZE").await.unwrap();
        let text = app
            .query_plan(
                "SELECT id FROM patients WHERE status = 'patient' AND physician_id IS NULL \
                 AND converted_at IS NOT NULL ORDER BY converted_at DESC, id DESC LIMIT 51",
                "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off",
            )
            .await;
        assert!(text.contains("ix_patients_without_physician"), "{text}");
        assert!(!text.contains("TEMP B-TREE") && !text.contains("Sort"), "{text}");
    }

    async fn every_list_filters_and_sorts_by_its_records_creation_and_change(app) {
        let doc = serde_json::to_value(navigator::http::openapi::document()).unwrap();
        let mut lists = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let Some(params) = item["get"]["parameters"].as_array() else { continue };
            let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
            let other = ["/v1/legacy-ids", "/v1/intake-submissions"].contains(&path.as_str());
            if !names.contains(&"limit") || path.contains('{') || other {
                continue;
            }
            lists += 1;
            for name in ["created_from", "created_to", "updated_from", "updated_to", "sort"] {
                assert!(names.contains(&name), "{path} has no {name}");
            }
            let future = format!("{path}?created_from=2999-01-01T00:00:00Z&sort=-updated_at");
            let page = app.get(&future, Role::Admin).await.expect(200).body;
            assert_eq!(page["items"], json!([]), "{path}");
            app.get(&format!("{path}?sort=id"), Role::Admin).await.expect_problem(400);
            app.get(&format!("{path}?created_to=yesterday"), Role::Admin).await.expect_problem(400);
        }
        assert!(lists >= 11, "{lists} lists");

        let hospital = |name: &str| json!({"name": name, "city": "Lyon", "country": "FR"});
        let first = app.post("/v1/hospitals", Role::Admin, hospital("First")).await.expect(201).body;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let second = app.post("/v1/hospitals", Role::Admin, hospital("Second")).await.expect(201).body;
        let newest_first = app.get("/v1/hospitals?sort=-created_at", Role::Viewer).await.expect(200).body;
        assert_eq!(ids(&newest_first), [second["id"].as_str().unwrap(), first["id"].as_str().unwrap()]);
        let since = second["created_at"].as_str().unwrap();
        let uri = format!("/v1/hospitals?created_from={}", since.replace('+', "%2B"));
        let recent = app.get(&uri, Role::Viewer).await.expect(200).body;
        assert_eq!(ids(&recent), [second["id"].as_str().unwrap()]);
    }

    async fn a_boolean_filter_takes_true_or_false_and_nothing_else(app) {
        app.get("/v1/calls?reminder_due=true", Role::Viewer).await.expect(200);
        app.get("/v1/patients?has_physician=false", Role::Viewer).await.expect(200);
        let refused = app.get("/v1/patients?call_booked=yes", Role::Viewer).await.expect_problem(400).body;
        assert!(refused.to_string().contains("call_booked"), "{refused}");
    }
}
