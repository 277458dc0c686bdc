//! The OpenAPI document: served, complete, and locked by a snapshot.

use axum::http::Method;
use navigator::{domain::Role, http::openapi};

use crate::on_both_databases;

/// The committed document (`openapi.json`) must equal the generated one:
/// an API change shows up in review. `UPDATE_SNAPSHOTS=1` rewrites it.
#[test]
fn the_openapi_document_matches_its_snapshot() {
    let generated = openapi::document().to_pretty_json().unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is out of date: run UPDATE_SNAPSHOTS=1 cargo test --test api openapi"
    );
}

#[test]
fn every_secured_operation_documents_its_auth_failures_and_every_operation_its_errors() {
    let doc = serde_json::to_value(openapi::document()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
            assert!(responses.contains_key("500"), "{method} {path}");
            let public_intake = path == "/v1/intake-submissions" && method == "post";
            if path.starts_with("/v1") && !public_intake {
                let scopes = &op["security"][0]["bearer"];
                let role = scopes[0].as_str().and_then(Role::from_text);
                assert!(
                    role.is_some() && scopes.as_array().unwrap().len() == 1,
                    "{method} {path} names no role as its bearer scope: {scopes}"
                );
                assert!(responses.contains_key("401"), "{method} {path}");
                if role != Some(Role::Viewer) {
                    assert!(responses.contains_key("403"), "{method} {path}");
                }
            }
            if public_intake {
                assert_eq!(
                    op["security"][0],
                    serde_json::json!({}),
                    "the intake form is public"
                );
                assert!(responses.contains_key("401") && !responses.contains_key("403"));
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{method} {path}");
            }
            if method == "patch" || method == "delete" {
                assert!(responses.contains_key("412"), "{method} {path}");
            }
            if op.get("requestBody").is_some() {
                for status in ["413", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    assert!(operations > 2 + 10 * 6 + 3, "{operations} operations");
}

on_both_databases! {
    async fn the_document_and_the_offline_docs_page_are_served(app) {
        let doc = app.send(Method::GET, "/openapi.json", None, None, &[]).await.expect(200);
        assert!(doc.body["paths"]["/v1/patients"]["post"].is_object());
        let page = app.send(Method::GET, "/docs/", None, None, &[]).await.expect(200);
        assert!(page.body.as_str().unwrap().contains("swagger-ui"));
        let asset = app.send(Method::GET, "/docs/swagger-ui-bundle.js", None, None, &[("accept-encoding", "gzip, br")]).await.expect(200);
        assert!(asset.body.as_str().unwrap().len() > 100_000, "the UI's JavaScript is served from the binary");
        assert_eq!(asset.header("content-encoding"), Some("gzip"));
        assert_eq!(asset.header("content-type"), Some("text/javascript; charset=utf-8"));
        app.send(Method::GET, "/docs/swagger-ui-bundle.js", None, None, &[("accept-encoding", "identity")]).await.expect_problem(406);
    }
}
