//! CSV export of any list (issue 24, point 5): `Accept: text/csv`, every
//! matching record, columns as the role may read them, logged.

use axum::http::Method;
use navigator::domain::Role;
use serde_json::json;

use crate::{helpers::TestApp, on_both_databases};

async fn csv(app: &TestApp, uri: &str, role: Role) -> Vec<String> {
    let reply = app
        .send(
            Method::GET,
            uri,
            Some(role),
            None,
            &[("accept", "text/csv")],
        )
        .await
        .expect(200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    let text = reply.body.as_str().expect("CSV text").to_owned();
    text.lines().map(str::to_owned).collect()
}

on_both_databases! {
    async fn a_viewers_csv_has_no_personal_column_and_every_export_is_logged(app) {
        let ann = app.post("/v1/patients", Role::Navigator, json!({"first_name": "Ann", "email": "ann@example.org", "phone": "+31 6 1111 2222"})).await.expect(201).id();
        app.post("/v1/patients", Role::Navigator, json!({"first_name": "Bob", "email": "bob@example.org"})).await.expect(201);

        let viewer = csv(app, "/v1/patients", Role::Viewer).await;
        assert_eq!(viewer.len(), 3, "{viewer:?}");
        let columns: Vec<&str> = viewer[0].split(',').collect();
        assert!(columns.contains(&"id") && columns.contains(&"status"), "{columns:?}");
        for personal in ["first_name", "last_name", "email", "phone"] {
            assert!(!columns.contains(&personal), "{personal} in {columns:?}");
        }
        assert!(!viewer.concat().contains("Ann") && !viewer.concat().contains("example.org"));

        let navigator = csv(app, "/v1/patients?q=ann", Role::Navigator).await;
        assert_eq!(navigator.len(), 2, "{navigator:?}");
        assert!(navigator[0].contains("first_name") && navigator[0].contains("email"));
        assert!(navigator[1].contains("Ann") && navigator[1].contains("ann@example.org"));
        // A phone number starts with `+`: never a formula in a spreadsheet.
        assert!(navigator[1].contains("'+31 6 1111 2222"), "{}", navigator[1]);

        let log = app.get(&format!("/v1/patients/{ann}/access-log"), Role::Admin).await.expect(200).body;
        let exports = log["items"].as_array().unwrap().iter()
            .filter(|e| e["route"] == "GET /v1/patients").count();
        assert_eq!(exports, 2, "{log}");
        app.send(Method::GET, "/v1/patients?q=ann", Some(Role::Viewer), None, &[("accept", "text/csv")])
            .await
            .expect_problem(403);
    }

    async fn an_export_holds_every_matching_record_past_one_page_in_the_lists_order(app) {
        let patient = app.post("/v1/patients", Role::Navigator, json!({"email": "many@example.org"})).await.expect(201).id();
        let mut expected = Vec::new();
        for n in 0..205 {
            let at = format!("2026-03-01T{:02}:{:02}:00Z", n / 60, n % 60);
            let body = json!({"patient_id": patient, "scheduled_at": at});
            expected.push(app.post("/v1/calls", Role::Navigator, body).await.expect(201).id());
        }
        let cancelled = json!({"patient_id": patient, "scheduled_at": "2026-03-02T09:00:00Z", "status": "cancelled"});
        app.post("/v1/calls", Role::Navigator, cancelled).await.expect(201);
        let lines = csv(app, "/v1/calls?status=scheduled&sort=-scheduled_at", Role::Viewer).await;
        assert_eq!(lines.len(), 206);
        let ids: Vec<&str> = lines[1..].iter().map(|l| l.split(',').next().unwrap()).collect();
        expected.reverse();
        assert_eq!(ids, expected);
        assert!(!lines[0].contains("notes"), "{}", lines[0]);
    }
}
