//! The shared mechanisms: pagination, ETags, idempotency, history, email
//! normalisation.

use axum::http::Method;
use navigator::domain::Role;
use serde_json::json;

use crate::on_both_databases;

on_both_databases! {
    async fn a_list_is_walked_page_by_page_with_cursors_and_nothing_repeats(app) {
        for i in 0..7 {
            app.create("hospitals", json!({"name": format!("Hospital {i}"), "city": "Utrecht"})).await;
        }
        let mut seen = Vec::new();
        let mut uri = "/v1/hospitals?limit=3&count=true".to_owned();
        loop {
            let page = app.get(&uri, Role::Viewer).await.expect(200);
            assert_eq!(page.body["total"], 7);
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|h| h["name"].as_str().unwrap().to_owned()));
            match page.body["next_cursor"].as_str() {
                Some(cursor) => uri = format!("/v1/hospitals?limit=3&count=true&cursor={cursor}"),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).map(|i| format!("Hospital {i}")).collect();
        assert_eq!(seen, expected, "creation order, each once");
    }

    async fn the_total_is_only_counted_when_asked(app) {
        let page = app.get("/v1/hospitals", Role::Viewer).await.expect(200);
        assert!(page.body.get("total").is_none());
    }

    async fn the_page_size_is_capped_and_cursors_are_checked(app) {
        app.get("/v1/hospitals?limit=201", Role::Viewer).await.expect_problem(400);
        app.get("/v1/hospitals?limit=0", Role::Viewer).await.expect_problem(400);
        app.get("/v1/hospitals?cursor=bogus", Role::Viewer).await.expect_problem(400);
        app.get("/v1/hospitals?limit=200", Role::Viewer).await.expect(200);
    }

    async fn every_record_is_json_carrying_its_version_as_an_etag(app) {
        let created = app.post("/v1/hospitals", Role::Admin, json!({"name": "AMC", "city": "Amsterdam"})).await.expect(201);
        assert_eq!(created.header("etag"), Some("\"1\""));
        assert_eq!(created.header("location"), Some(format!("/v1/hospitals/{}", created.id()).as_str()));
        let read = app.get(&format!("/v1/hospitals/{}", created.id()), Role::Viewer).await.expect(200);
        assert_eq!(read.header("etag"), Some("\"1\""));
        assert_eq!(read.header("content-type"), Some("application/json"));
        assert_eq!(read.body["version"], 1);
    }

    async fn a_write_with_a_stale_if_match_is_refused(app) {
        let id = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        let uri = format!("/v1/hospitals/{id}");
        let first = app.send(Method::PATCH, &uri, Some(Role::Admin), Some(json!({"country": "NL"})), &[("if-match", "\"1\"")]).await.expect(200);
        assert_eq!(first.header("etag"), Some("\"2\""));
        app.send(Method::PATCH, &uri, Some(Role::Admin), Some(json!({"country": "BE"})), &[("if-match", "\"1\"")]).await.expect_problem(412);
        app.send(Method::DELETE, &uri, Some(Role::Admin), None, &[("if-match", "\"1\"")]).await.expect_problem(412);
        assert_eq!(app.get(&uri, Role::Viewer).await.body["country"], "NL");
        app.send(Method::DELETE, &uri, Some(Role::Admin), None, &[("if-match", "\"2\"")]).await.expect(204);
    }

    async fn a_malformed_if_match_is_a_bad_request(app) {
        let id = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        app.send(Method::PATCH, &format!("/v1/hospitals/{id}"), Some(Role::Admin), Some(json!({"country": "NL"})), &[("if-match", "version-one")]).await.expect_problem(400);
    }

    async fn a_patch_that_changes_nothing_keeps_the_version(app) {
        let id = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        let same = app.patch(&format!("/v1/hospitals/{id}"), Role::Admin, json!({"city": "Amsterdam"})).await.expect(200);
        assert_eq!(same.body["version"], 1);
    }

    async fn a_retried_post_with_the_same_idempotency_key_returns_the_first_response(app) {
        let body = json!({"email": "ann@example.org", "first_name": "Ann"});
        let headers = [("idempotency-key", "form-123")];
        let first = app.send(Method::POST, "/v1/patients", Some(Role::Navigator), Some(body.clone()), &headers).await.expect(201);
        let again = app.send(Method::POST, "/v1/patients", Some(Role::Navigator), Some(body), &headers).await.expect(201);
        assert_eq!(first.body, again.body);
        assert_eq!(first.header("location"), again.header("location"));
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(app.get("/v1/patients?count=true", Role::Viewer).await.body["total"], 1);
    }

    async fn the_same_idempotency_key_with_another_body_is_refused(app) {
        let headers = [("idempotency-key", "form-123")];
        app.send(Method::POST, "/v1/patients", Some(Role::Navigator), Some(json!({"email": "ann@example.org"})), &headers).await.expect(201);
        app.send(Method::POST, "/v1/patients", Some(Role::Navigator), Some(json!({"email": "bob@example.org"})), &headers).await.expect_problem(422);
        assert_eq!(app.get("/v1/patients?count=true", Role::Viewer).await.body["total"], 1);
    }

    async fn an_invalid_idempotency_key_is_a_bad_request(app) {
        let headers = [("idempotency-key", "has spaces")];
        app.send(Method::POST, "/v1/patients", Some(Role::Navigator), Some(json!({"email": "ann@example.org"})), &headers).await.expect_problem(400);
    }

    async fn history_records_who_changed_what_and_survives_deletion(app) {
        let id = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        let uri = format!("/v1/hospitals/{id}");
        app.patch(&uri, Role::Admin, json!({"city": "Amstelveen", "country": "NL"})).await.expect(200);
        app.delete(&uri, Role::Admin).await.expect(204);
        app.get(&uri, Role::Viewer).await.expect_problem(404);
        let history = app.get(&format!("{uri}/history"), Role::Viewer).await.expect(200);
        let items = history.body["items"].as_array().unwrap();
        let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["create", "update", "delete"]);
        assert_eq!(items[0]["changes"]["name"], json!({"to": "AMC"}));
        assert_eq!(items[1]["changes"], json!({"city": {"from": "Amsterdam", "to": "Amstelveen"}, "country": {"to": "NL"}}));
        assert_eq!(items[1]["version"], 2);
        assert!(items.iter().all(|e| e["actor"] == "admin-user" && e["at"].is_string()));
    }

    async fn a_record_that_never_existed_has_no_history(app) {
        app.get("/v1/patients/0190aaaa-0000-7000-8000-000000000000/history", Role::Navigator).await.expect_problem(404);
    }

    async fn emails_are_normalised_and_unique_however_they_are_written(app) {
        let created = app.post("/v1/patients", Role::Navigator, json!({"email": "  Ann.Lee@Example.ORG "})).await.expect(201);
        assert_eq!(created.body["email"], "ann.lee@example.org");
        app.post("/v1/patients", Role::Navigator, json!({"email": "ANN.LEE@example.org"})).await.expect_problem(409);
        let found = app.get("/v1/patients?email=%20ANN.Lee%40example.org", Role::Navigator).await.expect(200);
        assert_eq!(found.body["items"].as_array().unwrap().len(), 1);
    }

    async fn the_same_email_may_belong_to_a_patient_and_a_practitioner(app) {
        app.post("/v1/patients", Role::Navigator, json!({"email": "sam@example.org"})).await.expect(201);
        app.post("/v1/practitioners", Role::Navigator, json!({"kind": "physician", "first_name": "Sam", "last_name": "Jones", "email": "Sam@example.org"})).await.expect(201);
    }

    async fn every_response_carries_a_request_id(app) {
        let reply = app.get("/health", Role::Viewer).await;
        assert!(reply.header("x-request-id").is_some());
    }
}

on_both_databases! {
    async fn a_write_finishes_even_when_the_client_goes_away(app) {
        use axum::{body::Body, http::Request};
        use futures::FutureExt;
        use tower::ServiceExt;
        let request = Request::post("/v1/patients")
            .header("authorization", format!("Bearer {}", app.token(Role::Navigator)))
            .header("content-type", "application/json")
            .body(Body::from(json!({"email": "gone@example.org"}).to_string()))
            .unwrap();
        // The write waits behind this transaction, so it cannot finish
        // within the request's first poll, however the threads are
        // scheduled (under load, a descheduled test thread once let it).
        use sea_orm::ConnectionTrait;
        let blocker = navigator::db::begin_write(&app.db).await.unwrap();
        if app.backend == crate::helpers::Backend::Postgres {
            blocker.execute_unprepared("LOCK TABLE patients IN SHARE MODE").await.unwrap();
        }
        // Polled once, then dropped: what hyper does when the client disconnects.
        let dropped = app.router.clone().oneshot(request).now_or_never();
        assert!(dropped.is_none(), "the request finished within its first poll; the test proves nothing");
        blocker.commit().await.unwrap();
        // Up to 10 s: under the whole suite's parallel load on 2 cores the
        // detached write once took longer than 2 s. Cut off, it never lands.
        let mut found = 0;
        for _ in 0..500 {
            found = app.get("/v1/patients?email=gone@example.org&count=true", Role::Navigator).await.body["total"].as_u64().unwrap();
            if found == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(found, 1, "the write was cut off with its connection");
        // The pool's connections are clean: further writes work.
        app.post("/v1/patients", Role::Navigator, json!({"email": "next@example.org"})).await.expect(201);
    }
}

/// Another writer's open transaction that has moved hospital `id` to
/// version 2, its city to Rotterdam.
async fn another_writer_moves(
    app: &crate::helpers::TestApp,
    id: &str,
) -> navigator::db::WriteTransaction {
    use navigator::db::entities::hospital;
    let city = hospital::ActiveModel {
        city: sea_orm::ActiveValue::Set("Rotterdam".into()),
        ..Default::default()
    };
    app.another_writer_changes::<hospital::Entity>(id, city)
        .await
}

on_both_databases! {
    async fn a_change_without_if_match_waits_for_a_concurrent_one_and_keeps_both(app) {
        let id = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        let uri = format!("/v1/hospitals/{id}");
        let other = another_writer_moves(app, &id).await;
        let reply = app.racing(other, app.patch(&uri, Role::Admin, json!({"country": "NL"}))).await.expect(200);
        assert_eq!(reply.header("etag"), Some("\"3\""));
        assert_eq!(reply.body["city"], "Rotterdam", "the other writer's change is kept");
        assert_eq!(reply.body["country"], "NL");
    }

    async fn a_delete_without_if_match_waits_for_a_concurrent_change(app) {
        let id = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        let uri = format!("/v1/hospitals/{id}");
        let other = another_writer_moves(app, &id).await;
        app.racing(other, app.delete(&uri, Role::Admin)).await.expect(204);
        app.get(&uri, Role::Viewer).await.expect_problem(404);
    }
}
