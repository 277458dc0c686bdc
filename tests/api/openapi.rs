//! The OpenAPI document: served, complete, and locked by a snapshot.

use axum::http::Method;
use navigator::{domain::Role, http::openapi};
use serde_json::json;

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

/// Every collection's create, and every update, links to each operation on
/// the record it returns (the id from its body, `If-Match` from its ETag),
/// for clients and schemathesis's stateful phase; a new collection is
/// covered without editing this test.
#[test]
fn every_create_links_to_the_operations_on_the_record_it_creates() {
    let doc = serde_json::to_value(openapi::document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, item) in paths {
        let Some(created) = item["post"]["responses"].get("201") else {
            continue;
        };
        let on_record = paths.iter().filter(|(other, _)| {
            other
                .strip_prefix(path.as_str())
                .and_then(|rest| rest.strip_prefix("/{id}"))
                .is_some_and(|rest| !rest.contains('{'))
        });
        for (other, target) in on_record {
            let updated = target["patch"]["responses"].get("200");
            for (method, op) in target.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                for source in [Some(created), updated].into_iter().flatten() {
                    let link = &source["links"][id];
                    assert_eq!(link["operationId"], id, "POST {path} -> {method} {other}");
                    assert_eq!(link["parameters"]["path.id"], "$response.body#/id");
                    let takes_if_match = op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == "If-Match");
                    assert_eq!(
                        link["parameters"].get("header.If-Match").is_some(),
                        takes_if_match,
                        "{id}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10 * 4, "{checked} links");
}

/// The pattern the document gives for `name`'s schema.
fn pattern(schema: &serde_json::Value) -> regex::Regex {
    regex::Regex::new(schema["pattern"].as_str().expect("a pattern")).unwrap()
}

on_both_databases! {
    async fn a_new_patient_needs_an_email_or_a_phone_as_the_schema_says(app) {
        let doc = serde_json::to_value(openapi::document()).unwrap();
        let either = doc["components"]["schemas"]["NewPatient"]["anyOf"].as_array().unwrap();
        let required: Vec<_> = either.iter().map(|rule| rule["required"][0].as_str().unwrap()).collect();
        assert_eq!(required, ["email", "phone"]);
        app.post("/v1/patients", Role::Navigator, json!({"first_name": "Ann"})).await.expect_problem(422);
        app.post("/v1/patients", Role::Navigator, json!({"email": null, "phone": null})).await.expect_problem(422);
        app.post("/v1/patients", Role::Navigator, json!({"phone": "12345"})).await.expect(201);
        app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201);
    }

    async fn the_cursors_and_etags_the_api_issues_match_the_documented_patterns(app) {
        let doc = serde_json::to_value(openapi::document()).unwrap();
        let params = |path: &str, method: &str| doc["paths"][path][method]["parameters"].as_array().unwrap().clone();
        let cursor = params("/v1/hospitals", "get").into_iter().find(|p| p["name"] == "cursor").unwrap();
        let if_match = params("/v1/hospitals/{id}", "patch").into_iter().find(|p| p["name"] == "If-Match").unwrap();
        for name in ["Ann", "Bob"] {
            app.post("/v1/hospitals", Role::Admin, json!({"name": name, "city": "Leiden"})).await.expect(201);
        }
        let page = app.get("/v1/hospitals?limit=1", Role::Viewer).await.expect(200);
        let next = page.body["next_cursor"].as_str().unwrap();
        assert!(pattern(&cursor["schema"]).is_match(next), "{next}");
        app.get(&format!("/v1/hospitals?cursor={next}"), Role::Viewer).await.expect(200);
        // The same length and alphabet, but bits past the id's 16 bytes.
        let forbidden = "AAAAAAAAAAAAAAAAAAAAAB";
        assert!(!pattern(&cursor["schema"]).is_match(forbidden));
        app.get(&format!("/v1/hospitals?cursor={forbidden}"), Role::Viewer).await.expect_problem(400);

        let id = page.body["items"][0]["id"].as_str().unwrap();
        let allows = pattern(&if_match["schema"]);
        for (city, form) in [("Delft", 0), ("Gouda", 1), ("Breda", 2)] {
            let current = app.get(&format!("/v1/hospitals/{id}"), Role::Viewer).await.expect(200);
            let etag = current.header("etag").unwrap().to_owned();
            let tag = match form {
                0 => etag,
                1 => "*".to_owned(),
                // A list; a weak tag would match the pattern but never the
                // version (strong comparison, tests/api/edges.rs).
                _ => format!("\"99999\", {etag}"),
            };
            assert!(allows.is_match(&tag), "{tag}");
            app.send(Method::PATCH, &format!("/v1/hospitals/{id}"), Some(Role::Admin), Some(json!({"city": city})), &[("if-match", &tag)]).await.expect(200);
        }
        assert!(!allows.is_match("3"));
        app.send(Method::PATCH, &format!("/v1/hospitals/{id}"), Some(Role::Admin), Some(json!({"city": "Delft"})), &[("if-match", "3")]).await.expect_problem(400);
    }
}

on_both_databases! {
    async fn every_documented_operation_is_served_and_the_server_builds_the_document_on_request(app) {
        // The server routes requests without the document (`openapi::served`);
        // a documented operation that it did not serve would reach the
        // fallback, a 404 for anyone, where every served one either asks an
        // anonymous caller for a token (401) or is public.
        let doc = serde_json::to_value(openapi::document()).unwrap();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            let uri = path.replace("{id}", "01900000-0000-7000-8000-000000000001");
            for method in item.as_object().unwrap().keys() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let reply = app.send(method.clone(), &uri, None, Some(json!({})), &[]).await;
                let status = reply.status.as_u16();
                assert!(![404, 405].contains(&status), "{method} {path} is not served: {status}");
                checked += 1;
            }
        }
        assert!(checked > 60, "{checked} operations");
        let served = app.send(Method::GET, "/openapi.json", None, None, &[]).await.expect(200).body;
        assert_eq!(served, doc);
    }
}
