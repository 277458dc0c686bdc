//! A patient's privacy: erasure of their personal data (GDPR art. 17) and
//! the log of every read of it.

use axum::http::Method;
use navigator::{
    db::{
        access_log::{self, AccessEvent},
        store::PageRequest,
    },
    domain::Role,
    http::AccessLog,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement, prelude::Uuid};
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases};

/// Values no other test data contains, so finding one anywhere is a leak.
const FIRST: &str = "zebulonia";
const LAST: &str = "quixwellstrand";
const EMAIL: &str = "zq.erasure@example.org";
const PHONE: &str = "+31 6 9876 1357";
const CONDITION: &str = "xylophoid fibrosis";
const NOTES: &str = "prefers mornings, xylophoid flare";
const REASON: &str = "egfr below thirty (xylophoid)";
const PERSONAL: &[&str] = &[FIRST, LAST, EMAIL, PHONE, CONDITION, NOTES, REASON];

/// Every row of every table, as lower-case text.
async fn every_table_as_text(app: &TestApp) -> String {
    let backend = app.db.get_database_backend();
    let tables_sql = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_schema WHERE type = 'table'",
    };
    let tables: Vec<String> = app
        .db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect();
    assert!(tables.len() > 15, "found the tables: {tables:?}");
    let mut text = String::new();
    for table in tables {
        let row_text = match backend {
            DbBackend::Postgres => format!("SELECT CAST(t AS text) AS row FROM \"{table}\" t"),
            _ => {
                let columns: Vec<String> = app
                    .db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| {
                        let name = row.try_get::<String>("", "name").unwrap();
                        // Ids are 16-byte blobs on SQLite.
                        format!(
                            "coalesce(CASE typeof(\"{name}\") WHEN 'blob' THEN hex(\"{name}\") \
                             ELSE CAST(\"{name}\" AS TEXT) END, '')"
                        )
                    })
                    .collect();
                format!(
                    "SELECT {} AS row FROM \"{table}\"",
                    columns.join(" || '|' || ")
                )
            }
        };
        for row in app
            .db
            .query_all_raw(Statement::from_string(backend, row_text))
            .await
            .unwrap()
        {
            text.push_str(&row.try_get::<String>("", "row").unwrap().to_lowercase());
            text.push('\n');
        }
    }
    text
}

fn leaks(text: &str) -> Vec<&'static str> {
    PERSONAL
        .iter()
        .copied()
        .filter(|value| text.contains(&value.to_lowercase()))
        .collect()
}

/// A converted patient whose personal data is everywhere it can be: two
/// submissions (one with the raw body), a patched name, a call with notes,
/// an ineligible referral with a reason, an enrollment, and a create sent
/// with an Idempotency-Key. Returns the patient's id.
async fn patient_with_data_everywhere(app: &TestApp) -> String {
    let doctor = app
        .create(
            "practitioners",
            json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"}),
        )
        .await;
    let id = app
        .send(
            Method::POST,
            "/v1/patients",
            Some(Role::Navigator),
            Some(json!({"email": EMAIL, "first_name": "Zeb", "physician_id": doctor})),
            &[("idempotency-key", "erasure-test-create")],
        )
        .await
        .expect(201)
        .id();
    app.patch(
        &format!("/v1/patients/{id}"),
        Role::Navigator,
        json!({"first_name": FIRST, "last_name": LAST, "phone": PHONE}),
    )
    .await
    .expect(200);
    for channel in ["contact_form", "landing_page"] {
        app.send(
            Method::POST,
            "/v1/intake-submissions",
            None,
            Some(json!({
                "email": EMAIL, "first_name": FIRST, "last_name": LAST, "phone": PHONE,
                "medical_condition": CONDITION, "channel": channel
            })),
            &[],
        )
        .await
        .expect(201);
    }
    app.post(
        "/v1/calls",
        Role::Navigator,
        json!({"patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z",
               "status": "completed", "notes": NOTES}),
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
    let trial = app
        .create("clinical-trials", json!({"registry_id": "NCT09990001"}))
        .await;
    app.post(
        "/v1/trial-referrals",
        Role::Navigator,
        json!({"patient_id": id, "trial_id": trial, "eligibility": "ineligible",
               "ineligible_reason": REASON}),
    )
    .await
    .expect(201);
    let program = app
        .create(
            "expanded-access-programs",
            json!({"eap_number": "EAP-ERASE-1", "product": "X-1"}),
        )
        .await;
    app.post(
        "/v1/eap-enrollments",
        Role::Navigator,
        json!({"patient_id": id, "program_id": program}),
    )
    .await
    .expect(201);
    id
}

/// Values only the records deleted before an erasure hold.
const DELETED_NOTES: &str = "called back about the quorvantic rash";
const DELETED_REASON: &str = "quorvantic ejection fraction";

/// Creates as a navigator with an Idempotency-Key (so that the response is
/// stored); the new record's id.
async fn create_keyed(app: &TestApp, path: &str, key: &str, body: Value) -> String {
    app.send(
        Method::POST,
        path,
        Some(Role::Navigator),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
    .expect(201)
    .id()
}

/// A converted patient with a physician, created with a stored response.
async fn converted_patient(app: &TestApp, key: &str) -> String {
    let doctor = app
        .create(
            "practitioners",
            json!({"kind": "physician", "first_name": "Lotte", "last_name": "Kuipers"}),
        )
        .await;
    let id = create_keyed(
        app,
        "/v1/patients",
        key,
        json!({
            "email": EMAIL, "first_name": FIRST, "last_name": LAST, "phone": PHONE,
            "physician_id": doctor,
        }),
    )
    .await;
    app.post(
        "/v1/calls",
        Role::Navigator,
        json!({
            "patient_id": id, "scheduled_at": "2026-01-05T09:00:00Z", "status": "completed",
        }),
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
    id
}

/// A call with notes, a referral with a reason and an enrollment of the
/// patient, each created with a stored response and then deleted; the
/// deleted records' paths.
async fn records_deleted_later(app: &TestApp, id: &str, tag: &str) -> Vec<String> {
    let call = create_keyed(
        app,
        "/v1/calls",
        &format!("{tag}-call"),
        json!({
            "patient_id": id, "scheduled_at": "2026-01-06T09:00:00Z", "notes": DELETED_NOTES,
        }),
    )
    .await;
    let trial = app
        .create(
            "clinical-trials",
            json!({"registry_id": format!("NCT0{}", 9990100 + tag.len())}),
        )
        .await;
    let referral = create_keyed(
        app,
        "/v1/trial-referrals",
        &format!("{tag}-referral"),
        json!({
            "patient_id": id, "trial_id": trial, "eligibility": "ineligible",
            "ineligible_reason": DELETED_REASON,
        }),
    )
    .await;
    let program = app
        .create(
            "expanded-access-programs",
            json!({"eap_number": format!("EAP-{tag}"), "product": "Q-1"}),
        )
        .await;
    let enrollment = create_keyed(
        app,
        "/v1/eap-enrollments",
        &format!("{tag}-enrollment"),
        json!({"patient_id": id, "program_id": program}),
    )
    .await;
    let paths = vec![
        format!("/v1/calls/{call}"),
        format!("/v1/trial-referrals/{referral}"),
        format!("/v1/eap-enrollments/{enrollment}"),
    ];
    for path in &paths {
        app.delete(path, Role::Admin).await.expect(204);
    }
    paths
}

/// What the history of each of these records answers, as lower-case text.
async fn histories(app: &TestApp, paths: &[String]) -> String {
    let mut text = String::new();
    for path in paths {
        let reply = app
            .get(&format!("{path}/history"), Role::Admin)
            .await
            .expect(200);
        text.push_str(&reply.body.to_string().to_lowercase());
    }
    text
}

fn leaks_of(text: &str, values: &[&'static str]) -> Vec<&'static str> {
    values
        .iter()
        .copied()
        .filter(|v| text.contains(&v.to_lowercase()))
        .collect()
}

async fn erase(app: &TestApp, id: &str, role: Role, body: Value) -> crate::helpers::Reply {
    app.post(&format!("/v1/patients/{id}/erase"), role, body)
        .await
}

async fn reads_of(app: &TestApp, id: &str) -> Vec<Value> {
    app.get(&format!("/v1/patients/{id}/access-log"), Role::Admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

on_both_databases! {
    async fn erasure_leaves_no_personal_value_in_any_table_or_response(app) {
        let id = patient_with_data_everywhere(app).await;
        let before = every_table_as_text(app).await;
        assert_eq!(leaks(&before), PERSONAL.to_vec(), "the search finds every value before erasure");

        let erased = erase(app, &id, Role::Admin, json!({"reason": "Art. 17 request #42"})).await.expect(200);
        assert_eq!(erased.body["patient_id"], id.as_str());
        assert_eq!(erased.body["actor"], "admin-user");
        assert_eq!(erased.body["reason"], "Art. 17 request #42");

        let after = every_table_as_text(app).await;
        assert_eq!(leaks(&after), Vec::<&str>::new(), "no table keeps an erased value");

        let mut responses = String::new();
        for uri in [
            format!("/v1/patients/{id}?include=calls,submissions,referrals,enrollments,physician"),
            format!("/v1/patients/{id}/history"),
            "/v1/intake-submissions".to_owned(),
            "/v1/calls".to_owned(),
            "/v1/trial-referrals".to_owned(),
        ] {
            let reply = app.get(&uri, Role::Admin).await.expect(200);
            responses.push_str(&reply.body.to_string().to_lowercase());
        }
        assert_eq!(leaks(&responses), Vec::<&str>::new(), "no response carries an erased value");
    }

    async fn erasure_reaches_records_of_the_person_deleted_before_it(app) {
        let id = patient_with_data_everywhere(app).await;
        let deleted = records_deleted_later(app, &id, "live").await;
        let gone = [DELETED_NOTES, DELETED_REASON];
        assert_eq!(leaks_of(&every_table_as_text(app).await, &gone), gone, "kept before erasure");
        assert_eq!(leaks_of(&histories(app, &deleted).await, &gone), gone, "served before erasure");

        erase(app, &id, Role::Admin, json!({"reason": "Art. 17 request #43"})).await.expect(200);
        let after = every_table_as_text(app).await;
        assert_eq!(leaks_of(&after, &gone), Vec::<&str>::new(), "no table keeps a deleted record's values");
        assert_eq!(leaks(&after), Vec::<&str>::new());
        assert_eq!(leaks_of(&histories(app, &deleted).await, &gone), Vec::<&str>::new());
        // That the deleted records existed, and changed, stays.
        let history = app.get(&format!("{}/history", deleted[0]), Role::Admin).await.expect(200);
        let items = history.body["items"].as_array().unwrap();
        assert_eq!(items.last().unwrap()["action"], "delete");
        assert_eq!(items.last().unwrap()["changes"]["notes"], json!({}));
    }

    async fn a_deleted_patient_can_be_erased_and_only_once(app) {
        let id = converted_patient(app, "deleted-patient").await;
        let mut deleted = records_deleted_later(app, &id, "gone").await;
        // The completed call the conversion needed, then the person.
        let calls = app.get(&format!("/v1/calls?patient_id={id}"), Role::Admin).await.expect(200);
        for call in calls.body["items"].as_array().unwrap() {
            let path = format!("/v1/calls/{}", call["id"].as_str().unwrap());
            app.delete(&path, Role::Admin).await.expect(204);
            deleted.push(path);
        }
        app.delete(&format!("/v1/patients/{id}"), Role::Admin).await.expect(204);
        deleted.push(format!("/v1/patients/{id}"));
        let values = [FIRST, LAST, EMAIL, PHONE, DELETED_NOTES, DELETED_REASON];
        assert_eq!(leaks_of(&every_table_as_text(app).await, &values), values, "kept before erasure");
        assert_eq!(leaks_of(&histories(app, &deleted).await, &values), values, "served before erasure");

        let erased = erase(app, &id, Role::Admin, json!({"reason": "Art. 17 request #44"})).await.expect(200);
        assert_eq!(erased.body["patient_id"], id.as_str());
        let after = every_table_as_text(app).await;
        assert_eq!(leaks_of(&after, &values), Vec::<&str>::new(), "no table keeps a value");
        assert_eq!(leaks_of(&histories(app, &deleted).await, &values), Vec::<&str>::new());
        erase(app, &id, Role::Admin, json!({"reason": "again"})).await.expect_problem(409);
    }

    async fn an_erased_patient_keeps_the_skeleton_that_counts_and_referrals_need(app) {
        let id = patient_with_data_everywhere(app).await;
        erase(app, &id, Role::Admin, json!({"reason": "request"})).await.expect(200);

        let page = app
            .get(&format!("/v1/patients/{id}?include=calls,submissions,referrals,enrollments"), Role::Admin)
            .await
            .expect(200);
        assert_eq!(page.body["status"], "patient");
        assert!(page.body["converted_at"].is_string());
        assert!(page.body["erased_at"].is_string());
        for field in ["first_name", "last_name", "email", "phone", "medical_condition_id"] {
            assert!(page.body[field].is_null(), "{field} is erased");
        }
        assert_eq!(page.body["submissions"].as_array().unwrap().len(), 2);
        assert_eq!(page.body["submissions"][0]["payload"], json!({}));
        assert_eq!(page.body["calls"][0]["status"], "completed");
        assert!(page.body["calls"][0]["notes"].is_null());
        assert_eq!(page.body["referrals"][0]["eligibility"], "ineligible");
        assert_eq!(page.body["referrals"][0]["ineligible_reason"], "[erased]");
        assert_eq!(page.body["enrollments"].as_array().unwrap().len(), 1);

        let history = app.get(&format!("/v1/patients/{id}/history"), Role::Admin).await.expect(200);
        let last = history.body["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["actor"], "admin-user", "the erasure is in the history, by whom");
        assert_eq!(last["changes"]["email"], json!({}), "that the email changed, not what it was");
    }

    async fn an_erased_patient_accepts_no_personal_data_again(app) {
        let id = patient_with_data_everywhere(app).await;
        erase(app, &id, Role::Admin, json!({"reason": "request"})).await.expect(200);
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"first_name": "Back"}))
            .await
            .expect_problem(409);
        erase(app, &id, Role::Admin, json!({"reason": "again"})).await.expect_problem(409);

        // A new form with the same email is a new person: nothing links it
        // to the erased record.
        app.send(Method::POST, "/v1/intake-submissions", None,
            Some(json!({"email": EMAIL, "channel": "contact_form"})), &[]).await.expect(201);
        let found = app.get(&format!("/v1/patients?email={EMAIL}"), Role::Navigator).await.expect(200);
        assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
        assert_ne!(found.body["items"][0]["id"], id.as_str());
    }

    async fn erasure_waits_for_a_concurrent_change_of_the_patient_and_erases_it_too(app) {
        use navigator::db::entities::patient;
        use sea_orm::ActiveValue::Set;
        let id = patient_with_data_everywhere(app).await;
        let phone = patient::ActiveModel { phone: Set(Some("+31 6 1111 2222".into())), ..Default::default() };
        let other = app.another_writer_changes::<patient::Entity>(&id, phone).await;
        app.racing(other, erase(app, &id, Role::Admin, json!({"reason": "request"}))).await.expect(200);
        let page = app.get(&format!("/v1/patients/{id}"), Role::Admin).await.expect(200);
        assert!(page.body["phone"].is_null(), "the number written while the erasure waited is erased too");
    }

    async fn erasure_is_for_admins_with_a_reason_and_an_existing_patient(app) {
        let id = patient_with_data_everywhere(app).await;
        erase(app, &id, Role::Navigator, json!({"reason": "request"})).await.expect_problem(403);
        erase(app, &id, Role::Admin, json!({"reason": "  "})).await.expect_problem(422);
        erase(app, &id, Role::Admin, json!({})).await.expect_problem(422);
        erase(app, &id, Role::Admin, json!({"reason": "x", "by": "me"})).await.expect_problem(422);
        erase(app, "01900000-0000-7000-8000-0000000000ff", Role::Admin, json!({"reason": "request"}))
            .await
            .expect_problem(404);
        let page = app.get(&format!("/v1/patients/{id}"), Role::Admin).await.expect(200);
        assert_eq!(page.body["first_name"], FIRST, "a refused erasure changes nothing");
    }

    async fn the_schema_holds_erased_rows_free_of_personal_data(app) {
        let id = patient_with_data_everywhere(app).await;
        let backend = app.db.get_database_backend();
        let run = |sql: String| {
            let db = app.db.clone();
            async move { db.execute_raw(Statement::from_string(backend, sql)).await }
        };
        let now = match backend {
            DbBackend::Postgres => "now()",
            _ => "'2026-11-27T10:00:00+00:00'",
        };
        // Erased with a name left: refused.
        assert!(run(format!("UPDATE patients SET erased_at = {now} WHERE email = '{EMAIL}'")).await.is_err());
        assert!(run(format!("UPDATE intake_submissions SET erased_at = {now}")).await.is_err());
        // Without email or phone and not erased: still refused (the
        // loosened CHECK kept its rule).
        assert!(run(format!("UPDATE patients SET email = NULL, phone = NULL WHERE email = '{EMAIL}'")).await.is_err());
        assert!(run("UPDATE intake_submissions SET email = NULL".into()).await.is_err());
        // Erased through the API, the rows pass the same checks.
        erase(app, &id, Role::Admin, json!({"reason": "request"})).await.expect(200);
        assert!(run("UPDATE patients SET first_name = 'Back' WHERE erased_at IS NOT NULL".into()).await.is_err());
        assert!(run("UPDATE intake_submissions SET phone = '123' WHERE erased_at IS NOT NULL".into()).await.is_err());
    }

    async fn every_read_of_a_patient_is_logged_with_who_when_and_how(app) {
        let ann = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        let bob = app.post("/v1/patients", Role::Navigator, json!({"email": "bob@example.org"})).await.expect(201).id();
        let reads_after_creation = reads_of(app, &ann).await.len();

        app.get(&format!("/v1/patients/{ann}"), Role::Navigator).await.expect(200);
        app.get(&format!("/v1/patients/{ann}?include=calls"), Role::Viewer).await.expect(200);
        app.get("/v1/patients?status=lead", Role::Navigator).await.expect(200);
        app.get(&format!("/v1/patients/{ann}/history"), Role::Navigator).await.expect(200);

        let reads = reads_of(app, &ann).await;
        let new: Vec<(&str, &str)> = reads[reads_after_creation..]
            .iter()
            .map(|r| (r["actor"].as_str().unwrap(), r["route"].as_str().unwrap()))
            .collect();
        assert_eq!(new, vec![
            ("navigator-user", "GET /v1/patients/{id}"),
            ("viewer-user", "GET /v1/patients/{id}"),
            ("navigator-user", "GET /v1/patients"),
            ("navigator-user", "GET /v1/patients/{id}/history"),
        ]);
        assert!(reads.iter().all(|r| r["at"].is_string() && r["id"].is_string()));

        // The list's read names every patient it returned, under one id.
        let list_read = &reads[reads_after_creation + 2];
        assert!(reads_of(app, &bob).await.iter().any(|r| r["id"] == list_read["id"]));

        // A read that returned nothing (or failed) names no one.
        app.get("/v1/patients?status=patient", Role::Navigator).await.expect(200);
        app.get(&format!("/v1/patients/{ann}?include=nonsense"), Role::Navigator).await.expect_problem(400);
        assert_eq!(reads_of(app, &ann).await.len(), reads.len());
    }

    async fn the_access_log_is_for_admins_and_pages_by_cursor(app) {
        let ann = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        for _ in 0..5 {
            app.get(&format!("/v1/patients/{ann}"), Role::Navigator).await.expect(200);
        }
        app.get(&format!("/v1/patients/{ann}/access-log"), Role::Navigator).await.expect_problem(403);
        let first = app.get(&format!("/v1/patients/{ann}/access-log?limit=2&count=true"), Role::Admin).await.expect(200);
        assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
        let total = first.body["total"].as_u64().unwrap();
        assert!(total >= 5, "total {total}");
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = app.get(&format!("/v1/patients/{ann}/access-log?limit=2&cursor={cursor}"), Role::Admin).await.expect(200);
        assert!(second.body["items"][0]["id"].as_str() > first.body["items"][1]["id"].as_str());
        let never_read = app.get("/v1/patients/01900000-0000-7000-8000-0000000000ff/access-log", Role::Admin).await.expect(200);
        assert_eq!(never_read.body["items"], json!([]));
    }

    async fn the_access_log_and_the_erasures_cannot_be_rewritten(app) {
        let id = patient_with_data_everywhere(app).await;
        app.get(&format!("/v1/patients/{id}"), Role::Navigator).await.expect(200);
        erase(app, &id, Role::Admin, json!({"reason": "request"})).await.expect(200);
        assert!(!reads_of(app, &id).await.is_empty());
        let backend = app.db.get_database_backend();
        for sql in [
            "UPDATE access_events SET actor = 'someone-else'",
            "DELETE FROM access_events",
            "DELETE FROM access_event_patients",
            "UPDATE erasures SET reason = 'changed'",
            "DELETE FROM erasures",
        ] {
            let result = app.db.execute_raw(Statement::from_string(backend, sql)).await;
            assert!(result.is_err(), "{sql} must be refused");
        }
    }

    async fn reading_calls_or_submissions_is_logged_as_a_read_of_their_patient(app) {
        let id = patient_with_data_everywhere(app).await;
        let before = reads_of(app, &id).await.len();
        let call = app.get(&format!("/v1/calls?patient_id={id}"), Role::Viewer).await.expect(200);
        app.get(&format!("/v1/calls/{}", call.body["items"][0]["id"].as_str().unwrap()), Role::Navigator).await.expect(200);
        let submissions = app.get("/v1/intake-submissions", Role::Navigator).await.expect(200);
        app.get(&format!("/v1/intake-submissions/{}", submissions.body["items"][0]["id"].as_str().unwrap()), Role::Navigator).await.expect(200);
        let routes: Vec<String> = reads_of(app, &id).await[before..]
            .iter()
            .map(|r| r["route"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(routes, [
            "GET /v1/calls", "GET /v1/calls/{id}",
            "GET /v1/intake-submissions", "GET /v1/intake-submissions/{id}",
        ]);
    }
}

/// The ids of `collection`'s records of patient `id`.
async fn records_of(app: &TestApp, collection: &str, id: &str) -> Vec<String> {
    app.get(&format!("/v1/{collection}?patient_id={id}"), Role::Admin)
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

on_both_databases! {
    async fn a_history_shows_a_role_only_the_fields_it_may_read_in_the_record(app) {
        let id = patient_with_data_everywhere(app).await;
        let referral = &records_of(app, "trial-referrals", &id).await[0];
        let uri = format!("/v1/trial-referrals/{referral}/history");
        let as_viewer = app.get(&uri, Role::Viewer).await.expect(200);
        assert_eq!(leaks(&as_viewer.body.to_string()), Vec::<&str>::new());
        assert_eq!(as_viewer.body["items"][0]["changes"]["eligibility"], json!({"to": "ineligible"}));
        let as_navigator = app.get(&uri, Role::Navigator).await.expect(200);
        assert_eq!(as_navigator.body["items"][0]["changes"]["ineligible_reason"], json!({"to": REASON}));
        // Columns the API never shows are not in its history either.
        assert!(as_navigator.body["items"][0]["changes"].get("patient_status").is_none());
    }

    async fn every_response_with_a_patients_data_is_logged_whatever_the_route(app) {
        let id = patient_with_data_everywhere(app).await;
        let referral = &records_of(app, "trial-referrals", &id).await[0];
        let call = &records_of(app, "calls", &id).await[0];
        let before = reads_of(app, &id).await.len();
        app.post("/v1/calls", Role::Navigator, json!({"patient_id": id, "scheduled_at": "2026-02-01T09:00:00Z", "notes": NOTES}))
            .await.expect(201);
        app.patch(&format!("/v1/calls/{call}"), Role::Navigator, json!({"notes": NOTES})).await.expect(200);
        app.get(&format!("/v1/trial-referrals/{referral}"), Role::Viewer).await.expect(200);
        app.get(&format!("/v1/trial-referrals?patient_id={id}"), Role::Navigator).await.expect(200);
        app.get(&format!("/v1/trial-referrals/{referral}/history"), Role::Navigator).await.expect(200);
        app.patch(&format!("/v1/trial-referrals/{referral}"), Role::Navigator, json!({"outcome": "not_enrolled"}))
            .await.expect(200);
        app.send(Method::POST, "/v1/intake-submissions", Some(Role::Navigator), Some(json!({"email": EMAIL})), &[])
            .await.expect(201);
        app.get(&format!("/v1/patients/{id}?include=calls,referrals,calls"), Role::Navigator).await.expect(200);
        let routes: Vec<String> = reads_of(app, &id).await[before..]
            .iter()
            .map(|r| r["route"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(routes, [
            "POST /v1/calls", "PATCH /v1/calls/{id}",
            "GET /v1/trial-referrals/{id}", "GET /v1/trial-referrals", "GET /v1/trial-referrals/{id}/history",
            "PATCH /v1/trial-referrals/{id}", "POST /v1/intake-submissions", "GET /v1/patients/{id}",
        ]);
    }

    async fn a_replayed_creation_is_logged_like_the_first(app) {
        let id = patient_with_data_everywhere(app).await;
        let body = json!({"patient_id": id, "scheduled_at": "2026-03-01T09:00:00Z", "notes": NOTES});
        let before = reads_of(app, &id).await.len();
        for _ in 0..2 {
            app.send(Method::POST, "/v1/calls", Some(Role::Navigator), Some(body.clone()), &[("idempotency-key", "replayed-call")])
                .await.expect(201);
        }
        let routes: Vec<Value> = reads_of(app, &id).await[before..].iter().map(|r| r["route"].clone()).collect();
        assert_eq!(routes, [json!("POST /v1/calls"), json!("POST /v1/calls")]);
    }

    async fn include_names_each_related_collection_once_however_often_asked(app) {
        let id = patient_with_data_everywhere(app).await;
        let many = vec!["calls"; 2_000].join(",");
        app.get(&format!("/v1/patients/{id}?include={many}"), Role::Navigator).await.expect_problem(400);
        let page = app.get(&format!("/v1/patients/{id}?include=calls,calls,calls,referrals"), Role::Navigator).await.expect(200);
        assert_eq!(page.body["calls"].as_array().unwrap().len(), 1);
        assert_eq!(page.body["referrals"][0]["ineligible_reason"], REASON);
        let as_viewer = app.get(&format!("/v1/patients/{id}?include=calls,referrals,submissions,physician"), Role::Viewer)
            .await.expect(200);
        assert_eq!(leaks(&as_viewer.body.to_string()), Vec::<&str>::new());
    }
}

// The log's writer thread, as `serve` runs it, on its own connection.
on_both_databases! {
    // A read's response leaves once `record` returns: by then its entry is
    // committed, with no flush (a process killed then keeps it).
    async fn a_read_is_committed_when_record_returns(app) {
        let log = AccessLog::on_own_thread(&app.url).unwrap();
        let patient = Uuid::now_v7();
        let page = PageRequest { limit: 1, after: None, count: true };
        for n in 1..=20u64 {
            log.record(AccessEvent {
                actor: format!("reader-{n}"),
                route: "GET /v1/patients/{id}".into(),
                patients: vec![patient],
            })
            .await
            .unwrap();
            let listed = access_log::reads_of(&app.db, patient, page).await.unwrap();
            assert_eq!(listed.total, Some(n), "read {n} is committed when recorded");
        }
    }

    // A read whose entry cannot be committed is not answered: the batch
    // fails, and its requests get a 500 without the data.
    async fn a_read_whose_entry_cannot_be_committed_is_withheld(app) {
        let ann = app
            .post("/v1/patients", Role::Navigator, json!({"email": "ann.withheld@example.org"}))
            .await
            .expect(201)
            .id();
        let served = app.with_state(|state| {
            state.with_access_log(AccessLog::on_own_thread(&app.url).unwrap())
        });
        served.get(&format!("/v1/patients/{ann}"), Role::Navigator).await.expect(200);
        let backend = app.db.get_database_backend();
        let refuse: &[&str] = match backend {
            DbBackend::Postgres => &[
                "CREATE FUNCTION refuse_reads() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
                "CREATE TRIGGER tr_refuse_reads BEFORE INSERT ON access_events \
                 FOR EACH ROW EXECUTE FUNCTION refuse_reads()",
            ],
            _ => &["CREATE TRIGGER tr_refuse_reads BEFORE INSERT ON access_events \
                    BEGIN SELECT RAISE(ABORT, 'refused'); END"],
        };
        for sql in refuse {
            app.db.execute_raw(Statement::from_string(backend, *sql)).await.unwrap();
        }
        let refused = served.get(&format!("/v1/patients/{ann}"), Role::Navigator).await.expect_problem(500);
        assert!(!refused.body.to_string().contains("ann.withheld"), "{}", refused.body);
    }

    // A flush, as the server does after a graceful shutdown, waits for
    // every read recorded before it.
    async fn a_flush_writes_every_read_recorded_before_it(app) {
        let log = AccessLog::on_own_thread(&app.url).unwrap();
        let patient = Uuid::now_v7();
        for n in 0..300 {
            log.record(AccessEvent {
                actor: format!("reader-{n}"),
                route: "GET /v1/patients/{id}".into(),
                patients: vec![patient],
            })
            .await
            .unwrap();
        }
        log.flush().await.unwrap();
        let page = PageRequest { limit: 1, after: None, count: true };
        let listed = access_log::reads_of(&app.db, patient, page).await.unwrap();
        assert_eq!(listed.total, Some(300));
    }

    // One batch carries many reads (recorded at once, as by concurrent
    // requests), whose links the writer sorts together: each read is still
    // linked once to each patient it named, and to no other.
    async fn a_batch_links_each_read_once_to_each_patient_it_named(app) {
        let log = AccessLog::on_own_thread(&app.url).unwrap();
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let reads = (0..200).map(|n| log.record(AccessEvent {
            actor: format!("reader-{n}"),
            route: "GET /v1/patients".into(),
            // A page may name a patient twice (a list and its includes).
            patients: if n % 2 == 0 { vec![ann, bob, ann] } else { vec![bob] },
        }));
        for recorded in futures::future::join_all(reads).await {
            recorded.unwrap();
        }
        log.flush().await.unwrap();
        let all = PageRequest { limit: 500, after: None, count: true };
        let of_ann = access_log::reads_of(&app.db, ann, all).await.unwrap();
        assert_eq!(of_ann.total, Some(100));
        let actors: Vec<String> = of_ann.items.iter().map(|e| e.actor.clone()).collect();
        let expected: Vec<String> = (0..200).step_by(2).map(|n| format!("reader-{n}")).collect();
        assert_eq!(actors, expected, "ann's reads, in order, and only hers");
        assert_eq!(access_log::reads_of(&app.db, bob, all).await.unwrap().total, Some(200));
    }
}

// SQLite only: PostgreSQL's dead row versions stay until vacuum, which
// docs/security.md leaves to the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_values_are_overwritten_in_the_sqlite_file_not_left_in_free_space() {
    let app = TestApp::new(crate::helpers::Backend::Sqlite).await;
    let id = patient_with_data_everywhere(&app).await;
    records_deleted_later(&app, &id, "file").await;
    erase(&app, &id, Role::Admin, json!({"reason": "request"}))
        .await
        .expect(200);
    // The write-ahead log copied into the file and emptied, as at shutdown.
    navigator::db::checkpoint_all(&app.db).await.unwrap();
    let file = std::path::PathBuf::from(app.url.trim_start_matches("sqlite://"));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend(std::fs::read(file.with_extension("db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    assert!(text.contains("erasures"), "the file was read");
    let mut values = PERSONAL.to_vec();
    values.extend([DELETED_NOTES, DELETED_REASON]);
    assert_eq!(
        leaks_of(&text, &values),
        Vec::<&str>::new(),
        "no erased value left in the file's bytes"
    );
    app.finish().await;
}

/// Makes every stored Idempotency-Key response a day and a minute old.
async fn age_idempotency_keys(app: &TestApp) {
    use navigator::db::entities::idempotency_key;
    use sea_orm::{EntityTrait, sea_query::Expr};
    let then = chrono::Utc::now() - chrono::TimeDelta::hours(24) - chrono::TimeDelta::minutes(1);
    idempotency_key::Entity::update_many()
        .col_expr(idempotency_key::Column::CreatedAt, Expr::value(then))
        .exec(&app.db)
        .await
        .unwrap();
}

async fn stored_keys(app: &TestApp) -> Vec<String> {
    use navigator::db::entities::idempotency_key;
    use sea_orm::EntityTrait;
    let mut keys: Vec<String> = idempotency_key::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key)
        .collect();
    keys.sort();
    keys
}

on_both_databases! {
    async fn an_idempotency_key_replays_for_a_day_and_then_no_more(app) {
        let body = json!({"kind": "physician", "first_name": "Jelle", "last_name": "Brandsma"});
        let post = || app.send(Method::POST, "/v1/practitioners", Some(Role::Navigator),
            Some(body.clone()), &[("idempotency-key", "retry-tomorrow")]);
        let first = post().await.expect(201);
        let retried = post().await.expect(201);
        assert_eq!(retried.header("idempotent-replayed"), Some("true"));
        assert_eq!(retried.id(), first.id());

        age_idempotency_keys(app).await;
        let next_day = post().await.expect(201);
        assert_eq!(next_day.header("idempotent-replayed"), None, "an expired key does not replay");
        assert_ne!(next_day.id(), first.id(), "it is served as a new request");
        let again = post().await.expect(201);
        assert_eq!(again.id(), next_day.id(), "and the key replays the new response from then on");
    }

    async fn expired_idempotency_keys_are_purged_by_later_posts(app) {
        for key in ["old-1", "old-2", "old-3"] {
            app.send(Method::POST, "/v1/practitioners", Some(Role::Navigator),
                Some(json!({"kind": "physician", "first_name": "Old", "last_name": key})), &[("idempotency-key", key)])
                .await
                .expect(201);
        }
        age_idempotency_keys(app).await;
        app.send(Method::POST, "/v1/practitioners", Some(Role::Navigator),
            Some(json!({"kind": "physician", "first_name": "Fresh", "last_name": "New"})), &[("idempotency-key", "new-1")])
            .await
            .expect(201);
        assert_eq!(stored_keys(app).await, ["new-1"], "the expired keys are gone");
    }
}
