//! The patient journey end to end: intake → calls → conversion → physician →
//! referral → enrollment, with its rules and its races.

use axum::http::Method;
use navigator::domain::Role;
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases};

async fn intake(app: &TestApp, body: Value) -> Value {
    app.send(
        Method::POST,
        "/v1/intake-submissions",
        None,
        Some(body),
        &[],
    )
    .await
    .expect(201)
    .body
}

async fn patient_by_email(app: &TestApp, email: &str) -> Value {
    let found = app
        .get(&format!("/v1/patients?email={email}"), Role::Navigator)
        .await
        .expect(200);
    found.body["items"][0].clone()
}

async fn physician(app: &TestApp) -> String {
    app.create(
        "practitioners",
        json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"}),
    )
    .await
}

/// A lead with a completed call, converted, with a physician.
pub(crate) async fn converted_patient(app: &TestApp, email: &str) -> (String, String) {
    let doctor = physician(app).await;
    let id = app
        .post(
            "/v1/patients",
            Role::Navigator,
            json!({"email": email, "physician_id": doctor}),
        )
        .await
        .expect(201)
        .id();
    app.post(
        "/v1/calls",
        Role::Navigator,
        json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z", "status": "completed"}),
    )
    .await
    .expect(201);
    app.post(
        &format!("/v1/patients/{id}/convert"),
        Role::Navigator,
        json!({}),
    )
    .await
    .expect(200);
    (id, doctor)
}

on_both_databases! {
    async fn a_conversion_waits_for_a_concurrent_change_of_the_lead_and_keeps_it(app) {
        use navigator::db::entities::patient;
        use sea_orm::ActiveValue::Set;
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "lead@example.org"})).await.expect(201).id();
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z", "status": "completed"})).await.expect(201);
        let name = patient::ActiveModel { first_name: Set(Some("Ann".into())), ..Default::default() };
        let other = app.another_writer_changes::<patient::Entity>(&id, name).await;
        let uri = format!("/v1/patients/{id}/convert");
        let convert = app.post(&uri, Role::Navigator, json!({}));
        let converted = app.racing(other, convert).await.expect(200);
        assert_eq!(converted.body["status"], "patient");
        assert_eq!(converted.body["first_name"], "Ann", "the change made while the conversion waited is kept");
        assert_eq!(converted.header("etag"), Some("\"3\""));
    }

    async fn a_patient_travels_the_whole_journey_and_history_tells_who_did_each_step(app) {
        // A public form creates a lead and books the call it asks for.
        let receipt = intake(app, json!({
            "email": " Ann.Lee@Example.org", "first_name": "Ann", "medical_condition": "glioblastoma",
            "channel": "contact_form", "requested_call_at": "2026-02-01T10:00:00Z"
        })).await;
        assert!(receipt.get("patient_id").is_none(), "an anonymous receipt reveals no patient");
        let lead = patient_by_email(app, "ann.lee@example.org").await;
        let id = lead["id"].as_str().unwrap().to_owned();
        assert_eq!(lead["status"], "lead");
        assert_eq!(lead["first_name"], "Ann");
        assert_eq!(lead["medical_condition_id"], "01900000-0000-7000-8000-000000000002");

        // A navigator curates the name; a second form from the same person
        // fills only what is empty and is kept in full beside the first.
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"first_name": "Annabel"})).await.expect(200);
        intake(app, json!({"email": "ANN.LEE@example.org", "first_name": "Anna", "last_name": "Lee", "phone": "+31 6 1111 2222", "channel": "landing_page"})).await;
        let page = app.get(&format!("/v1/patients/{id}?include=submissions,calls"), Role::Navigator).await.expect(200);
        assert_eq!(page.body["first_name"], "Annabel", "curated fields are never overwritten");
        assert_eq!(page.body["last_name"], "Lee", "empty fields are filled");
        assert_eq!(page.body["phone"], "+31 6 1111 2222");
        let submissions = page.body["submissions"].as_array().unwrap();
        assert_eq!(submissions.len(), 2);
        assert_eq!(submissions[1]["payload"]["first_name"], "Anna", "the second submission is kept as sent");
        assert_eq!(submissions[0]["payload"]["email"], " Ann.Lee@Example.org");
        let calls = page.body["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1);
        let call = calls[0]["id"].as_str().unwrap();

        // Not convertible before a completed call.
        app.post(&format!("/v1/patients/{id}/convert"), Role::Navigator, json!({})).await.expect_problem(409);
        app.patch(&format!("/v1/calls/{call}"), Role::Navigator, json!({"status": "completed", "notes": "Motivated; MRI available"})).await.expect(200);
        let converted = app.post(&format!("/v1/patients/{id}/convert"), Role::Navigator, json!({})).await.expect(200);
        assert_eq!(converted.body["status"], "patient");
        assert!(converted.body["converted_at"].is_string());
        assert_eq!(converted.body["initial_consult_at"], "2026-02-01T10:00:00Z");

        // A physician, then a referral (ineligible needs a reason) and an enrollment.
        let doctor = physician(app).await;
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"physician_id": doctor})).await.expect(200);
        let trial = app.create("clinical-trials", json!({"registry_id": " nct05000001 ", "title": "GBM vaccine"})).await;
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial, "eligibility": "ineligible"})).await.expect_problem(422);
        let referral = app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial})).await.expect(201);
        assert_eq!(referral.body["physician_id"], doctor.as_str(), "the physician defaults to the patient's");
        app.patch(&format!("/v1/trial-referrals/{}", referral.id()), Role::Navigator, json!({"eligibility": "ineligible", "ineligible_reason": "Prior bevacizumab"})).await.expect(200);
        let program = app.create("expanded-access-programs", json!({"eap_number": "EAP-2026-001", "product": "ONC-201"})).await;
        app.post("/v1/eap-enrollments", Role::Navigator, json!({"patient_id": id, "program_id": program})).await.expect(201);

        let page = app.get(&format!("/v1/patients/{id}?include=referrals,enrollments,physician"), Role::Viewer).await.expect(200);
        assert!(page.body["referrals"][0].get("ineligible_reason").is_none(), "a viewer does not see why (health data)");
        assert_eq!(page.body["referrals"][0]["eligibility"], "ineligible");
        let page = app.get(&format!("/v1/patients/{id}?include=referrals,enrollments,physician"), Role::Navigator).await.expect(200);
        assert_eq!(page.body["referrals"][0]["ineligible_reason"], "Prior bevacizumab");
        assert_eq!(page.body["enrollments"][0]["program_id"], program.as_str());
        assert_eq!(page.body["physician"]["last_name"], "Jansen");

        // The patient's history: created by the public form, filled by the
        // second, curated and converted by the navigator.
        let history = app.get(&format!("/v1/patients/{id}/history"), Role::Navigator).await.expect(200);
        let steps: Vec<(String, String)> = history.body["items"].as_array().unwrap().iter()
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned())).collect();
        let expected = [("create", "anonymous"), ("update", "navigator-user"), ("update", "anonymous"), ("update", "navigator-user"), ("update", "navigator-user")];
        assert_eq!(steps, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
        assert_eq!(history.body["items"][3]["changes"]["status"], json!({"from": "lead", "to": "patient"}));
        let call_history = app.get(&format!("/v1/calls/{call}/history"), Role::Navigator).await.expect(200);
        assert_eq!(call_history.body["items"][1]["changes"]["status"], json!({"from": "scheduled", "to": "completed"}));
        let referral_history = app.get(&format!("/v1/trial-referrals/{}/history", referral.id()), Role::Viewer).await.expect(200);
        assert_eq!(referral_history.body["items"].as_array().unwrap().len(), 2);
        assert!(!referral_history.body.to_string().contains("bevacizumab"), "a viewer does not see why in the history either");
        assert_eq!(referral_history.body["items"][1]["changes"]["eligibility"], json!({"from": "pending", "to": "ineligible"}));
    }

    async fn an_anonymous_receipt_is_the_same_for_known_and_unknown_emails(app) {
        let first = intake(app, json!({"email": "known@example.org"})).await;
        let again = intake(app, json!({"email": "known@example.org"})).await;
        let stranger = intake(app, json!({"email": "new@example.org"})).await;
        for receipt in [&first, &again, &stranger] {
            let mut keys: Vec<&String> = receipt.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["id", "submitted_at"]);
        }
    }

    async fn a_navigator_taking_an_intake_by_phone_learns_the_patient_and_whether_it_is_new(app) {
        let first = app.send(Method::POST, "/v1/intake-submissions", Some(Role::Navigator), Some(json!({"email": "bob@example.org", "channel": "phone"})), &[]).await.expect(201);
        assert_eq!(first.body["patient_created"], true);
        let again = app.send(Method::POST, "/v1/intake-submissions", Some(Role::Navigator), Some(json!({"email": "Bob@example.org", "channel": "phone"})), &[]).await.expect(201);
        assert_eq!(again.body["patient_created"], false);
        assert_eq!(first.body["patient_id"], again.body["patient_id"]);
    }

    async fn submissions_are_read_only_and_only_for_signed_in_users(app) {
        let receipt = intake(app, json!({"email": "ann@example.org", "medical_condition": "Something rare"})).await;
        let id = receipt["id"].as_str().unwrap();
        app.send(Method::GET, &format!("/v1/intake-submissions/{id}"), None, None, &[]).await.expect_problem(401);
        let stored = app.get(&format!("/v1/intake-submissions/{id}"), Role::Navigator).await.expect(200);
        assert_eq!(stored.body["medical_condition"], "Something rare");
        assert!(stored.body["medical_condition_id"].is_null());
        app.patch(&format!("/v1/intake-submissions/{id}"), Role::Admin, json!({"email": "x@example.org"})).await.expect_problem(405);
        app.send(Method::GET, "/v1/intake-submissions", None, None, &[]).await.expect_problem(401);
        let listed = app.get("/v1/intake-submissions?channel=contact_form&submitted_from=2020-01-01T00:00:00Z", Role::Viewer).await.expect(200);
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
        let none = app.get("/v1/intake-submissions?submitted_to=2020-01-01T00:00:00Z", Role::Viewer).await.expect(200);
        assert_eq!(none.body["items"].as_array().unwrap().len(), 0);
    }

    async fn a_double_clicked_form_with_one_idempotency_key_is_one_submission(app) {
        let headers = [("idempotency-key", "form-0c4f")];
        let body = json!({"email": "ann@example.org", "requested_call_at": "2026-03-01T09:00:00Z"});
        let first = app.send(Method::POST, "/v1/intake-submissions", None, Some(body.clone()), &headers).await.expect(201);
        let second = app.send(Method::POST, "/v1/intake-submissions", None, Some(body), &headers).await.expect(201);
        assert_eq!(first.body, second.body);
        assert_eq!(app.get("/v1/intake-submissions?count=true", Role::Viewer).await.body["total"], 1);
        assert_eq!(app.get("/v1/calls?count=true", Role::Viewer).await.body["total"], 1);
    }

    async fn twenty_concurrent_first_submissions_make_one_patient_and_twenty_submissions(app) {
        let sends = (0..20).map(|i| {
            let body = json!({"email": "Rush@Example.org", "first_name": format!("Try {i}")});
            async move { app.send(Method::POST, "/v1/intake-submissions", None, Some(body), &[]).await.status.as_u16() }
        });
        let statuses = futures::future::join_all(sends).await;
        assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
        assert_eq!(app.get("/v1/patients?email=rush@example.org&count=true", Role::Navigator).await.body["total"], 1);
        assert_eq!(app.get("/v1/intake-submissions?count=true", Role::Viewer).await.body["total"], 20);
    }

    async fn two_concurrent_conversions_of_one_lead_let_exactly_one_win(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z", "status": "completed"})).await.expect(201);
        let uri = format!("/v1/patients/{id}/convert");
        let tries = (0..2).map(|_| async { app.post(&uri, Role::Navigator, json!({})).await.status.as_u16() });
        let mut statuses = futures::future::join_all(tries).await;
        statuses.sort();
        assert_eq!(statuses, [200, 409]);
        let history = app.get(&format!("/v1/patients/{id}/history"), Role::Navigator).await.expect(200);
        assert_eq!(history.body["items"].as_array().unwrap().len(), 2, "one creation, one conversion");
    }

    async fn converting_twice_is_a_conflict(app) {
        let (id, _) = converted_patient(app, "ann@example.org").await;
        let again = app.post(&format!("/v1/patients/{id}/convert"), Role::Navigator, json!({})).await.expect_problem(409);
        assert!(again.body["detail"].as_str().unwrap().contains("already converted"));
    }

    async fn a_no_show_does_not_count_for_conversion(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z", "status": "no_show"})).await.expect(201);
        let refused = app.post(&format!("/v1/patients/{id}/convert"), Role::Navigator, json!({})).await.expect_problem(409);
        assert!(refused.body["detail"].as_str().unwrap().contains("completed call"));
    }

    async fn a_completed_or_missed_call_cannot_go_back_to_scheduled(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        for outcome in ["completed", "no_show"] {
            let call = app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z"})).await.expect(201).id();
            app.patch(&format!("/v1/calls/{call}"), Role::Navigator, json!({"status": outcome})).await.expect(200);
            app.patch(&format!("/v1/calls/{call}"), Role::Navigator, json!({"status": "scheduled"})).await.expect_problem(409);
        }
        let cancelled = app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-01-06T09:00:00Z", "status": "cancelled"})).await.expect(201).id();
        app.patch(&format!("/v1/calls/{cancelled}"), Role::Navigator, json!({"status": "scheduled", "scheduled_at": "2026-01-07T09:00:00Z"})).await.expect(200);
        app.delete(&format!("/v1/calls/{cancelled}"), Role::Navigator).await.expect_problem(403);
        app.delete(&format!("/v1/calls/{cancelled}"), Role::Admin).await.expect(204);
    }

    async fn calls_are_filtered_by_patient_status_navigator_and_date(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "navigator": "alice", "scheduled_at": "2026-01-05T09:00:00Z"})).await.expect(201);
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "navigator": "bob", "scheduled_at": "2026-02-05T09:00:00Z", "status": "completed"})).await.expect(201);
        let count = |uri: String| async move { app.get(&uri, Role::Viewer).await.expect(200).body["items"].as_array().unwrap().len() };
        assert_eq!(count(format!("/v1/calls?patient_id={id}")).await, 2);
        assert_eq!(count("/v1/calls?status=completed".into()).await, 1);
        assert_eq!(count("/v1/calls?navigator=alice".into()).await, 1);
        assert_eq!(count("/v1/calls?scheduled_from=2026-02-01T00:00:00Z".into()).await, 1);
        assert_eq!(count("/v1/calls?scheduled_from=2026-01-01T00:00:00Z&scheduled_to=2026-02-01T00:00:00Z".into()).await, 1);
        app.get("/v1/calls?scheduled_from=yesterday", Role::Viewer).await.expect_problem(400);
    }

    async fn a_lead_cannot_be_referred_or_enrolled(app) {
        let doctor = physician(app).await;
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org", "physician_id": doctor})).await.expect(201).id();
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT01"})).await;
        let program = app.create("expanded-access-programs", json!({"eap_number": "EAP-1", "product": "X"})).await;
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial})).await.expect_problem(409);
        app.post("/v1/eap-enrollments", Role::Navigator, json!({"patient_id": id, "program_id": program})).await.expect_problem(409);
    }

    async fn a_patient_without_a_physician_cannot_be_referred_unless_one_is_given(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z", "status": "completed"})).await.expect(201);
        app.post(&format!("/v1/patients/{id}/convert"), Role::Navigator, json!({})).await.expect(200);
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT02"})).await;
        let refused = app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial})).await.expect_problem(409);
        assert!(refused.body["detail"].as_str().unwrap().contains("physician"));
        let pharmacist = app.create("practitioners", json!({"kind": "pharmacist", "first_name": "P", "last_name": "B"})).await;
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial, "physician_id": pharmacist})).await.expect_problem(422);
        let doctor = physician(app).await;
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial, "physician_id": doctor})).await.expect(201);
    }

    async fn one_referral_per_patient_and_trial(app) {
        let (id, _) = converted_patient(app, "ann@example.org").await;
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT03"})).await;
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial})).await.expect(201);
        let dup = app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial})).await.expect_problem(409);
        assert!(dup.body["detail"].as_str().unwrap().contains("patient and trial"), "{}", dup.body);
        let other = app.create("clinical-trials", json!({"registry_id": "NCT04"})).await;
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": other})).await.expect(201);
        let filtered = app.get(&format!("/v1/trial-referrals?patient_id={id}&outcome=pending&eligibility=pending"), Role::Viewer).await.expect(200);
        assert_eq!(filtered.body["items"].as_array().unwrap().len(), 2);
    }

    async fn the_ineligible_reason_comes_exactly_with_ineligibility(app) {
        let (id, _) = converted_patient(app, "ann@example.org").await;
        let trial = app.create("clinical-trials", json!({"registry_id": "NCT05"})).await;
        app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial, "ineligible_reason": "why"})).await.expect_problem(422);
        let referral = app.post("/v1/trial-referrals", Role::Navigator, json!({"patient_id": id, "trial_id": trial, "eligibility": "ineligible", "ineligible_reason": "Age"})).await.expect(201);
        let uri = format!("/v1/trial-referrals/{}", referral.id());
        app.patch(&uri, Role::Navigator, json!({"ineligible_reason": null})).await.expect_problem(422);
        let eligible = app.patch(&uri, Role::Navigator, json!({"eligibility": "eligible"})).await.expect(200);
        assert!(eligible.body["ineligible_reason"].is_null(), "becoming eligible clears the reason");
        app.patch(&uri, Role::Navigator, json!({"eligibility": "ineligible"})).await.expect_problem(422);
        let outcome = app.patch(&uri, Role::Navigator, json!({"outcome": "enrolled"})).await.expect(200);
        assert_eq!(outcome.body["outcome"], "enrolled");
        app.patch(&uri, Role::Navigator, json!({"outcome": "maybe"})).await.expect_problem(422);
    }

    async fn one_open_enrollment_per_patient_and_program(app) {
        let (id, _) = converted_patient(app, "ann@example.org").await;
        let program = app.create("expanded-access-programs", json!({"eap_number": "EAP-7", "product": "X"})).await;
        let first = app.post("/v1/eap-enrollments", Role::Navigator, json!({"patient_id": id, "program_id": program})).await.expect(201);
        app.post("/v1/eap-enrollments", Role::Navigator, json!({"patient_id": id, "program_id": program})).await.expect_problem(409);
        app.patch(&format!("/v1/eap-enrollments/{}", first.id()), Role::Navigator, json!({"status": "withdrawn"})).await.expect(200);
        app.post("/v1/eap-enrollments", Role::Navigator, json!({"patient_id": id, "program_id": program, "status": "active"})).await.expect(201);
        let active = app.get(&format!("/v1/eap-enrollments?program_id={program}&status=active"), Role::Viewer).await.expect(200);
        assert_eq!(active.body["items"].as_array().unwrap().len(), 1);
    }

    async fn programs_and_trials_are_unique_reference_data_for_admins(app) {
        app.post("/v1/clinical-trials", Role::Navigator, json!({"registry_id": "NCT06"})).await.expect_problem(403);
        let trial = app.post("/v1/clinical-trials", Role::Admin, json!({"registry_id": " nct06 "})).await.expect(201);
        assert_eq!(trial.body["registry_id"], "NCT06");
        assert_eq!(trial.body["status"], "recruiting");
        app.post("/v1/clinical-trials", Role::Admin, json!({"registry_id": "NCT06"})).await.expect_problem(409);
        let found = app.get("/v1/clinical-trials?registry_id=nct06", Role::Viewer).await.expect(200);
        assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
        app.create("expanded-access-programs", json!({"eap_number": "EAP-9", "product": "X", "medical_condition_id": "01900000-0000-7000-8000-000000000001"})).await;
        app.post("/v1/expanded-access-programs", Role::Admin, json!({"eap_number": "EAP-9", "product": "Y"})).await.expect_problem(409);
        let by_condition = app.get("/v1/expanded-access-programs?medical_condition_id=01900000-0000-7000-8000-000000000001&status=open", Role::Viewer).await.expect(200);
        assert_eq!(by_condition.body["items"].as_array().unwrap().len(), 1);
    }

    async fn an_include_names_only_known_relations(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.get(&format!("/v1/patients/{id}?include=calls,secrets"), Role::Viewer).await.expect_problem(400);
        let page = app.get(&format!("/v1/patients/{id}?include=physician"), Role::Viewer).await.expect(200);
        assert!(page.body["physician"].is_null() && page.body.get("physician").is_some());
        assert!(page.body.get("calls").is_none());
    }

    async fn a_person_with_calls_cannot_be_deleted_silently(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z"})).await.expect(201);
        app.delete(&format!("/v1/patients/{id}"), Role::Admin).await.expect_problem(409);
    }
}
