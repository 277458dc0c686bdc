use navigator::domain::Role;
use serde_json::json;

use crate::on_both_databases;

on_both_databases! {
    async fn physicians_and_pharmacists_are_filtered_by_kind_hospital_and_email(app) {
        let hospital = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        let specialization = app.create("specializations", json!({"name": "Oncology"})).await;
        let doctor = app.post("/v1/practitioners", Role::Navigator, json!({
            "kind": "physician", "first_name": "Eva", "last_name": "Jansen", "email": "E.Jansen@amc.nl",
            "job_title": "Neuro-oncologist", "license_number": "BIG-123", "hospital_id": hospital, "specialization_id": specialization,
        })).await.expect(201);
        assert_eq!(doctor.body["email"], "e.jansen@amc.nl");
        app.post("/v1/practitioners", Role::Navigator, json!({"kind": "pharmacist", "first_name": "Piet", "last_name": "Bakker"})).await.expect(201);

        let physicians = app.get("/v1/practitioners?kind=physician", Role::Viewer).await.expect(200);
        assert_eq!(physicians.body["items"].as_array().unwrap().len(), 1);
        let at_hospital = app.get(&format!("/v1/practitioners?hospital_id={hospital}"), Role::Viewer).await.expect(200);
        assert_eq!(at_hospital.body["items"][0]["id"], doctor.id().as_str());
        let by_specialization = app.get(&format!("/v1/practitioners?specialization_id={specialization}"), Role::Viewer).await.expect(200);
        assert_eq!(by_specialization.body["items"].as_array().unwrap().len(), 1);
        let by_email = app.get("/v1/practitioners?email=e.jansen%40AMC.nl", Role::Viewer).await.expect(200);
        assert_eq!(by_email.body["items"][0]["last_name"], "Jansen");
    }

    async fn a_practitioner_at_an_unknown_hospital_is_refused(app) {
        let reply = app.post("/v1/practitioners", Role::Navigator, json!({
            "kind": "physician", "first_name": "Eva", "last_name": "Jansen", "hospital_id": "0190aaaa-0000-7000-8000-000000000000",
        })).await.expect_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "/hospital_id");
    }

    async fn a_practitioner_needs_a_kind_and_a_name(app) {
        app.post("/v1/practitioners", Role::Navigator, json!({"first_name": "Eva", "last_name": "Jansen"})).await.expect_problem(422);
        app.post("/v1/practitioners", Role::Navigator, json!({"kind": "nurse", "first_name": "Eva", "last_name": "Jansen"})).await.expect_problem(422);
        app.post("/v1/practitioners", Role::Navigator, json!({"kind": "physician", "first_name": "  ", "last_name": "Jansen"})).await.expect_problem(422);
    }

    async fn a_physician_that_patients_name_cannot_become_a_pharmacist(app) {
        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"})).await;
        app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org", "physician_id": doctor})).await.expect(201);
        app.patch(&format!("/v1/practitioners/{doctor}"), Role::Navigator, json!({"kind": "pharmacist"})).await.expect_problem(409);
    }

    async fn practitioner_emails_are_unique(app) {
        app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen", "email": "eva@amc.nl"})).await;
        app.post("/v1/practitioners", Role::Navigator, json!({"kind": "pharmacist", "first_name": "E", "last_name": "J", "email": "EVA@amc.nl"})).await.expect_problem(409);
    }
}
