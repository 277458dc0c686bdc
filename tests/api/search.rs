//! Search as staff type (issue 24, point 3): one `q` on patients,
//! practitioners and hospitals, case- and accent-insensitive, by word
//! prefix, kept current with every change; and possible duplicates.

use navigator::domain::Role;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases};

async fn found(app: &TestApp, uri: &str) -> Vec<String> {
    let page = app.get(uri, Role::Navigator).await.expect(200).body;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn patient(app: &TestApp, body: Value) -> String {
    app.post("/v1/patients", Role::Navigator, body)
        .await
        .expect(201)
        .id()
}

on_both_databases! {
    async fn muller_finds_muller_and_jose_finds_jose_by_word_prefix(app) {
        let muller = patient(app, json!({"first_name": "Anne-Marie", "last_name": "Müller", "email": "am.mueller@example.org"})).await;
        let jose = patient(app, json!({"first_name": "José", "last_name": "García", "phone": "+34 612 345 678"})).await;
        patient(app, json!({"first_name": "Bob", "last_name": "Smit", "email": "bob@example.org"})).await;
        assert_eq!(found(app, "/v1/patients?q=muller").await, [muller.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=MÜL").await, [muller.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=marie%20mul").await, [muller.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=am.muel").await, [muller.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=jose").await, [jose.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=garcia%20j").await, [jose.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=612").await, [jose.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=34612").await, [jose.as_str()]);
        // Word prefixes, not substrings.
        assert!(found(app, "/v1/patients?q=uller").await.is_empty());

        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Zoë", "last_name": "Ørsted", "license_number": "BIG-1234567"})).await;
        assert_eq!(found(app, "/v1/practitioners?q=zoe").await, [doctor.as_str()]);
        assert_eq!(found(app, "/v1/practitioners?q=big-123").await, [doctor.as_str()]);
        let hospital = app.create("hospitals", json!({"name": "Universitätsspital", "city": "Zürich"})).await;
        assert_eq!(found(app, "/v1/hospitals?q=zurich").await, [hospital.as_str()]);
        assert_eq!(found(app, "/v1/hospitals?q=universitats%20zu").await, [hospital.as_str()]);
    }

    async fn the_search_follows_every_change(app) {
        let id = patient(app, json!({"first_name": "Ann", "last_name": "Jansen", "email": "ann@example.org"})).await;
        app.patch(&format!("/v1/patients/{id}"), Role::Navigator, json!({"last_name": "Çelik"}))
            .await
            .expect(200);
        assert!(found(app, "/v1/patients?q=jansen").await.is_empty());
        assert_eq!(found(app, "/v1/patients?q=celik").await, [id.as_str()]);
        app.delete(&format!("/v1/patients/{id}"), Role::Admin).await.expect(204);
        assert!(found(app, "/v1/patients?q=celik").await.is_empty());
        let too_long = format!("/v1/patients?q={}", "a".repeat(201));
        app.get(&too_long, Role::Navigator).await.expect_problem(400);
    }

    async fn possible_duplicates_share_a_phone_or_a_name_and_condition_under_another_email(app) {
        let gbm = "01900000-0000-7000-8000-000000000002";
        let person = json!({"first_name": "Ann", "last_name": "Berg", "email": "ann@example.org", "phone": "+31 6 1111 2222", "medical_condition_id": gbm});
        let id = patient(app, person).await;
        let same_phone = patient(app, json!({"email": "other@example.org", "phone": "+31 6 1111 2222"})).await;
        let same_name = patient(app, json!({"first_name": "Ann", "last_name": "Berg", "email": "ann.berg@example.org", "medical_condition_id": gbm})).await;
        patient(app, json!({"first_name": "Ann", "last_name": "Berg", "email": "ann.b@example.org"})).await;
        patient(app, json!({"first_name": "Bob", "last_name": "Berg", "email": "bob@example.org", "medical_condition_id": gbm})).await;
        let uri = format!("/v1/patients/{id}/duplicates");
        assert_eq!(found(app, &uri).await, [same_phone.as_str(), same_name.as_str()]);
        app.get(&uri, Role::Viewer).await.expect_problem(403);
        let log = app.get(&format!("/v1/patients/{same_phone}/access-log"), Role::Admin).await.expect(200).body;
        let routes: Vec<&str> = log["items"].as_array().unwrap().iter().filter_map(|e| e["route"].as_str()).collect();
        assert!(routes.contains(&"GET /v1/patients/{id}/duplicates"), "{log}");
    }
}

on_both_databases! {
    async fn the_migrate_step_gives_records_without_terms_theirs(app) {
        // Rows written before migration 8 (or by a writer that bypassed the
        // store) have no terms: `q` misses them until the backfill.
        let id = patient(app, json!({"first_name": "José", "last_name": "Müller", "email": "jm@example.org"})).await;
        let hospital = app.create("hospitals", json!({"name": "Hôpital Necker", "city": "Paris"})).await;
        app.db.execute_unprepared("DELETE FROM search_terms").await.unwrap();
        assert!(found(app, "/v1/patients?q=muller").await.is_empty());
        assert!(found(app, "/v1/hospitals?q=hopital").await.is_empty());

        let report = navigator::lambda::migration_report(&app.db).await.unwrap();
        assert_eq!(report["search_terms_backfilled"], 2);
        assert_eq!(found(app, "/v1/patients?q=muller").await, [id.as_str()]);
        assert_eq!(found(app, "/v1/patients?q=jose").await, [id.as_str()]);
        assert_eq!(found(app, "/v1/hospitals?q=hopital").await, [hospital.as_str()]);
        // Done once: a second run finds nothing to write.
        let again = navigator::lambda::migration_report(&app.db).await.unwrap();
        assert_eq!(again["search_terms_backfilled"], 0);
    }
}

on_both_databases! {
    async fn a_records_terms_are_replaced_through_the_index_by_record_without_statistics(app) {
        // Never analysed, as a database the import filled: the delete of a
        // record's terms (on every change of a searched field) must not
        // scan every record's terms of its collection.
        for n in 0..50 {
            patient(app, json!({"first_name": format!("Ann{n}"), "last_name": "Lee", "email": format!("a{n}@example.org")})).await;
        }
        // On a table this small PostgreSQL would read it all.
        let plan = app
            .query_plan(
                "DELETE FROM search_terms \
                 WHERE record_id = '01900000-0000-7000-8000-000000000001' AND collection = 'patients'",
                "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off",
            )
            .await;
        assert!(plan.contains("ix_search_terms_record"), "{plan}");
        assert!(plan.contains("record_id"), "{plan}");
    }
}
