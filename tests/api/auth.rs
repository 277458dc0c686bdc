use axum::http::Method;
use base64::Engine;
use navigator::{domain::Role, http::JwtKeys};
use serde_json::json;

use crate::on_both_databases;

on_both_databases! {
    async fn a_request_without_a_token_is_unauthorized(app) {
        let reply = app.send(Method::GET, "/v1/patients", None, None, &[]).await.expect_problem(401);
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }

    async fn a_token_signed_with_another_secret_is_unauthorized(app) {
        let forged = JwtKeys::new(b"another-secret-another-secret-!!").mint("mallory", Role::Admin, 60);
        let bearer = format!("Bearer {forged}");
        app.send(Method::GET, "/v1/patients", None, None, &[("authorization", &bearer)]).await.expect_problem(401);
    }

    async fn an_unsigned_alg_none_token_is_unauthorized(app) {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(br#"{"sub":"mallory","role":"admin","exp":9999999999,"iat":0}"#)
        );
        let bearer = format!("Bearer {token}");
        app.send(Method::GET, "/v1/patients", None, None, &[("authorization", &bearer)]).await.expect_problem(401);
    }

    async fn a_malformed_authorization_header_is_unauthorized(app) {
        app.send(Method::GET, "/v1/patients", None, None, &[("authorization", "Basic abc")]).await.expect_problem(401);
        app.send(Method::GET, "/v1/patients", None, None, &[("authorization", "Bearer not.a.jwt")]).await.expect_problem(401);
    }

    async fn a_viewer_reads_but_cannot_write(app) {
        app.get("/v1/patients", Role::Viewer).await.expect(200);
        app.post("/v1/patients", Role::Viewer, json!({"email": "ann@example.org"})).await.expect_problem(403);
    }

    async fn a_navigator_writes_patients_but_not_reference_data(app) {
        app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201);
        app.post("/v1/hospitals", Role::Navigator, json!({"name": "AMC", "city": "Amsterdam"})).await.expect_problem(403);
    }

    async fn only_an_admin_deletes(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        app.delete(&format!("/v1/patients/{id}"), Role::Navigator).await.expect_problem(403);
        app.delete(&format!("/v1/patients/{id}"), Role::Admin).await.expect(204);
    }

    async fn health_and_readiness_are_public(app) {
        let health = app.send(Method::GET, "/health", None, None, &[]).await.expect(200);
        assert_eq!(health.body["status"], "ok");
        app.send(Method::GET, "/ready", None, None, &[]).await.expect(200);
    }

    async fn the_actor_in_history_is_the_tokens_subject(app) {
        let id = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201).id();
        let history = app.get(&format!("/v1/patients/{id}/history"), Role::Navigator).await.expect(200);
        assert_eq!(history.body["items"][0]["actor"], "navigator-user");
    }
}
