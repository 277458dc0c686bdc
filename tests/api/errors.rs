use axum::{
    body::Body,
    http::{Method, Request},
};
use navigator::domain::Role;
use serde_json::json;

use crate::on_both_databases;

on_both_databases! {
    async fn an_unknown_field_is_rejected_with_its_name(app) {
        let reply = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org", "favourite_colour": "blue"})).await;
        let reply = reply.expect_problem(422);
        assert!(reply.body["errors"][0]["message"].as_str().unwrap().contains("favourite_colour"));
    }

    async fn a_read_only_field_is_rejected_not_ignored(app) {
        for field in [json!({"email": "ann@example.org", "status": "patient"}), json!({"email": "ann@example.org", "version": 7}), json!({"email": "ann@example.org", "id": "0190aaaa-0000-7000-8000-000000000000"})] {
            app.post("/v1/patients", Role::Navigator, field).await.expect_problem(422);
        }
        assert_eq!(app.get("/v1/patients?count=true", Role::Viewer).await.body["total"], 0);
    }

    async fn an_invalid_email_names_the_field_but_not_the_value(app) {
        let reply = app.post("/v1/patients", Role::Navigator, json!({"email": "ann.example.org"})).await.expect_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "/email");
        assert!(!reply.body.to_string().contains("ann.example.org"));
    }

    async fn a_wrong_type_is_a_validation_error(app) {
        let reply = app.post("/v1/hospitals", Role::Admin, json!({"name": 42, "city": "Leiden"})).await.expect_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "/name");
    }

    async fn malformed_json_is_a_bad_request(app) {
        let request = Request::post("/v1/patients")
            .header("authorization", format!("Bearer {}", app.token(Role::Navigator)))
            .header("content-type", "application/json")
            .body(Body::from("{\"email\": "))
            .unwrap();
        app.raw(request).await.expect_problem(400);
    }

    async fn a_body_that_is_not_json_is_unsupported(app) {
        let request = Request::post("/v1/patients")
            .header("authorization", format!("Bearer {}", app.token(Role::Navigator)))
            .header("content-type", "text/plain")
            .body(Body::from("email=ann@example.org"))
            .unwrap();
        app.raw(request).await.expect_problem(415);
    }

    async fn an_oversized_body_is_too_large(app) {
        let huge = json!({"email": "ann@example.org", "first_name": "x".repeat(100_000)});
        app.post("/v1/patients", Role::Navigator, huge).await.expect_problem(413);
    }

    async fn a_missing_record_is_not_found(app) {
        app.get("/v1/patients/0190aaaa-0000-7000-8000-000000000000", Role::Viewer).await.expect_problem(404);
        app.patch("/v1/hospitals/0190aaaa-0000-7000-8000-000000000000", Role::Admin, json!({"city": "Delft"})).await.expect_problem(404);
        app.delete("/v1/hospitals/0190aaaa-0000-7000-8000-000000000000", Role::Admin).await.expect_problem(404);
    }

    async fn a_malformed_id_is_a_bad_request(app) {
        app.get("/v1/patients/not-a-uuid", Role::Viewer).await.expect_problem(400);
    }

    async fn an_unknown_path_and_an_unknown_method_are_problems(app) {
        app.get("/v1/nothing-here", Role::Viewer).await.expect_problem(404);
        app.send(Method::PUT, "/v1/patients", Some(Role::Admin), None, &[]).await.expect_problem(405);
    }

    async fn a_misspelt_filter_is_a_bad_request_not_an_unfiltered_list(app) {
        let reply = app.get("/v1/patients?stauts=lead", Role::Viewer).await.expect_problem(400);
        assert!(reply.body["errors"][0]["message"].as_str().unwrap().contains("stauts"));
        app.get("/v1/patients?status=gone", Role::Viewer).await.expect_problem(400);
        app.get("/v1/patients?limit=abc", Role::Viewer).await.expect_problem(400);
    }

    async fn null_cannot_clear_a_required_field(app) {
        let id = app.create("hospitals", json!({"name": "LUMC", "city": "Leiden"})).await;
        app.patch(&format!("/v1/hospitals/{id}"), Role::Admin, json!({"name": null})).await.expect_problem(422);
    }
}
