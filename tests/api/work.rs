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
