//! A write that names a record that does not exist, or that does not
//! qualify (a pharmacist as a physician), is a 422 on the field that named
//! it, on create and on change. The foreign keys refuse such a write; the
//! API then looks up which field was at fault, and only then: a write that
//! succeeds reads none of the records it names first.

use navigator::domain::Role;
use serde_json::{Value, json};

use crate::{helpers::TestApp, journey::converted_patient, on_both_databases};

const MISSING: &str = "0190aaaa-0000-7000-8000-000000000000";

/// The 422's one field, for a write that should be refused for it.
async fn refused_field(app: &TestApp, method: &str, uri: &str, body: Value) -> String {
    let reply = match method {
        "POST" => app.post(uri, Role::Admin, body).await,
        _ => app.patch(uri, Role::Admin, body).await,
    };
    let reply = reply.expect_problem(422);
    let errors = reply.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{method} {uri}: {}", reply.body);
    errors[0]["field"].as_str().unwrap().to_owned()
}

on_both_databases! {
    async fn every_missing_record_a_new_record_names_is_a_422_on_its_field(app) {
        let (patient, _) = converted_patient(app, "ann@example.org").await;
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT01"})).await;
        let program = app.create("expanded-access-programs", json!({"eap_number": "EAP-1", "product": "X"})).await;
        let cases = [
            ("/v1/patients", json!({"email": "bob@example.org", "medical_condition_id": MISSING}), "/medical_condition_id"),
            ("/v1/patients", json!({"email": "bob@example.org", "physician_id": MISSING}), "/physician_id"),
            ("/v1/practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen", "hospital_id": MISSING}), "/hospital_id"),
            ("/v1/practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen", "specialization_id": MISSING}), "/specialization_id"),
            ("/v1/calls", json!({"patient_id": MISSING, "scheduled_at": "2026-01-05T09:00:00Z"}), "/patient_id"),
            ("/v1/clinical-trials", json!({"registry_id": "NCT02", "medical_condition_id": MISSING}), "/medical_condition_id"),
            ("/v1/expanded-access-programs", json!({"eap_number": "EAP-2", "product": "X", "medical_condition_id": MISSING}), "/medical_condition_id"),
            ("/v1/trial-referrals", json!({"patient_id": patient, "trial_id": MISSING}), "/trial_id"),
            ("/v1/eap-enrollments", json!({"patient_id": patient, "program_id": MISSING}), "/program_id"),
        ];
        for (uri, body, field) in cases {
            assert_eq!(refused_field(app, "POST", uri, body).await, field, "POST {uri}");
        }
        // Nothing of the refused writes was kept.
        let leads = app.get("/v1/patients", Role::Navigator).await.expect(200);
        assert_eq!(leads.body["items"].as_array().unwrap().len(), 1);
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": patient, "trial_id": trial})).await.expect(201);
        app.post("/v1/eap-enrollments", Role::Navigator, json!({"patient_id": patient, "program_id": program})).await.expect(201);
    }

    async fn every_missing_or_unqualified_record_a_change_names_is_a_422_on_its_field(app) {
        let (patient, doctor) = converted_patient(app, "ann@example.org").await;
        let pharmacist = app.create("practitioners", json!({"kind": "pharmacist", "first_name": "Piet", "last_name": "Bakker"})).await;
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT01"})).await;
        let program = app.create("expanded-access-programs", json!({"eap_number": "EAP-1", "product": "X"})).await;
        let referral = app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": patient, "trial_id": trial})).await.expect(201).id();
        let enrollment = app.post("/v1/eap-enrollments", Role::Navigator, json!({"patient_id": patient, "program_id": program})).await.expect(201).id();
        let cases = [
            (format!("/v1/patients/{patient}"), json!({"medical_condition_id": MISSING}), "/medical_condition_id"),
            (format!("/v1/patients/{patient}"), json!({"physician_id": MISSING}), "/physician_id"),
            (format!("/v1/patients/{patient}"), json!({"physician_id": pharmacist}), "/physician_id"),
            (format!("/v1/practitioners/{doctor}"), json!({"hospital_id": MISSING}), "/hospital_id"),
            (format!("/v1/practitioners/{doctor}"), json!({"specialization_id": MISSING}), "/specialization_id"),
            (format!("/v1/clinical-trials/{trial}"), json!({"medical_condition_id": MISSING}), "/medical_condition_id"),
            (format!("/v1/expanded-access-programs/{program}"), json!({"medical_condition_id": MISSING}), "/medical_condition_id"),
            (format!("/v1/trial-referrals/{referral}"), json!({"physician_id": pharmacist}), "/physician_id"),
            (format!("/v1/eap-enrollments/{enrollment}"), json!({"physician_id": MISSING}), "/physician_id"),
        ];
        for (uri, body, field) in cases {
            let before = app.get(&uri, Role::Navigator).await.expect(200).body;
            assert_eq!(refused_field(app, "PATCH", &uri, body).await, field, "PATCH {uri}");
            let after = app.get(&uri, Role::Navigator).await.expect(200).body;
            assert_eq!(after, before, "PATCH {uri} changed the record");
        }
    }

    async fn a_change_to_a_record_that_does_not_exist_is_a_404_whatever_its_body_names(app) {
        app.patch(&format!("/v1/patients/{MISSING}"), Role::Navigator, json!({"medical_condition_id": MISSING})).await.expect_problem(404);
    }

    async fn a_stale_change_is_a_412_whatever_its_body_names(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        let reply = app
            .send(axum::http::Method::PATCH, &format!("/v1/patients/{id}"), Some(Role::Navigator), Some(json!({"physician_id": MISSING})), &[("if-match", "\"7\"")])
            .await;
        reply.expect_problem(412);
    }
}
