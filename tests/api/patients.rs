use navigator::domain::Role;
use serde_json::json;

use crate::on_both_databases;

on_both_databases! {
    async fn a_new_person_is_a_lead_first_contacted_now(app) {
        let lead = app.post("/v1/patients", Role::Navigator, json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.org", "phone": "+31 6 1234 5678"})).await.expect(201);
        assert_eq!(lead.body["status"], "lead");
        assert_eq!(lead.body["version"], 1);
        assert!(lead.body["first_contact_at"].is_string());
        assert!(lead.body["converted_at"].is_null());
    }

    async fn a_person_must_be_reachable_by_email_or_phone(app) {
        let reply = app.post("/v1/patients", Role::Navigator, json!({"first_name": "Ann"})).await.expect_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "/email");
        let id = app.post("/v1/patients", Role::Navigator, json!({"phone": "020 123 4567"})).await.expect(201).id();
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"phone": null})).await.expect_problem(422);
        let cleared = app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"email": "ann@example.org", "phone": null})).await.expect(200);
        assert!(cleared.body["phone"].is_null());
    }

    async fn a_patients_physician_must_be_a_physician(app) {
        let pharmacist = app.create("practitioners", json!({"kind": "pharmacist", "first_name": "Piet", "last_name": "Bakker"})).await;
        let reply = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org", "physician_id": pharmacist})).await.expect_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "/physician_id");
        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"})).await;
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        let assigned = app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"physician_id": doctor})).await.expect(200);
        assert_eq!(assigned.body["physician_id"], doctor.as_str());
    }

    async fn the_status_changes_only_through_conversion(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"status": "patient"})).await.expect_problem(422);
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"converted_at": "2026-01-01T00:00:00Z"})).await.expect_problem(422);
        assert_eq!(app.get(&format!("/v1/patients/{id}"), Role::Viewer).await.body["status"], "lead");
    }

    async fn patients_are_filtered_by_status_condition_physician_and_name(app) {
        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"})).await;
        let gbm = "01900000-0000-7000-8000-000000000002";
        app.post("/v1/patients", Role::Navigator, json!({"first_name": "Ann", "last_name": "van der Berg", "email": "ann@example.org", "medical_condition_id": gbm, "physician_id": doctor})).await.expect(201);
        app.post("/v1/patients", Role::Navigator, json!({"first_name": "Bob", "last_name": "Smit", "email": "bob@example.org"})).await.expect(201);
        app.post("/v1/patients", Role::Navigator, json!({"first_name": "Anna", "last_name": "Bergman", "email": "anna@example.org"})).await.expect(201);

        let count = |uri: String| async move { app.get(&uri, Role::Navigator).await.expect(200).body["items"].as_array().unwrap().len() };
        assert_eq!(count("/v1/patients?status=lead".into()).await, 3);
        assert_eq!(count("/v1/patients?status=patient".into()).await, 0);
        assert_eq!(count(format!("/v1/patients?medical_condition_id={gbm}")).await, 1);
        assert_eq!(count(format!("/v1/patients?physician_id={doctor}")).await, 1);
        assert_eq!(count("/v1/patients?q=berg".into()).await, 2);
        assert_eq!(count("/v1/patients?q=ANN%20berg".into()).await, 2);
        assert_eq!(count("/v1/patients?q=bob%20smit".into()).await, 1);
        assert_eq!(count("/v1/patients?q=100%25".into()).await, 0);
    }

    async fn an_unknown_medical_condition_is_refused(app) {
        let reply = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org", "medical_condition_id": "0190aaaa-0000-7000-8000-000000000000"})).await.expect_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "/medical_condition_id");
    }

    async fn timestamps_are_read_in_any_offset_and_returned_in_utc(app) {
        let lead = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org", "first_contact_at": "2024-03-01T10:30:00+01:00"})).await.expect(201);
        assert_eq!(lead.body["first_contact_at"], "2024-03-01T09:30:00Z");
        app.post("/v1/patients", Role::Navigator, json!({"email": "bob@example.org", "first_contact_at": "01-03-2024 10:30"})).await.expect_problem(422);
    }
}
