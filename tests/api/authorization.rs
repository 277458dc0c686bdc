//! Who may call what, and what each role receives: every operation of the
//! app's own OpenAPI document answers as its documented role allows, a
//! viewer never receives patients' personal data, and
//! `docs/authorization.md` is generated from the same document.

use axum::http::Method;
use navigator::{domain::Role, http::openapi};
use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_databases};

const ROLES: [Role; 3] = [Role::Viewer, Role::Navigator, Role::Admin];

/// What the schemas say a viewer does not receive.
const WITHHELD: &str = "omitted for the viewer role";

/// A patient's condition is data concerning health: withheld like their name.
const PATIENT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "medical_condition_id",
];
const SUBMISSION_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "medical_condition",
    "medical_condition_id",
    "payload",
];
const CALL_FIELDS: &[&str] = &["notes"];

/// The least role an operation documents (the scope of its bearer
/// requirement), or `None` for a public one (no requirement, or the empty
/// one that makes a token optional).
fn least_role(method: &str, path: &str, op: &Value) -> Option<Role> {
    let requirements = op["security"].as_array()?;
    if requirements.is_empty() || requirements.iter().any(|r| r == &json!({})) {
        return None;
    }
    let scope = requirements[0]["bearer"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path} is secured but names no role"));
    Some(Role::from_text(scope).unwrap_or_else(|| panic!("{method} {path}: unknown role {scope}")))
}

/// Every operation of a document: method, path template, operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let order = ["get", "post", "patch", "put", "delete"];
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in order {
            if let Some(op) = item.get(method) {
                all.push((method.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    all
}

/// A path template with a fresh random id for each parameter.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_auth_failure(status: u16) -> bool {
    status == 401 || status == 403
}

/// The document the app serves, as a client sees it.
async fn served_document(app: &TestApp) -> Value {
    app.send(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(200)
        .body
}

/// A lead with personal data everywhere it can be: the patient, a form
/// submission and a call with notes (again: the same person each time).
/// Returns their ids.
async fn a_lead_with_a_submission_and_a_call(app: &TestApp) -> (String, String, String) {
    let receipt = app
        .send(
            Method::POST,
            "/v1/intake-submissions",
            None,
            Some(json!({"email": "ann.lee@example.org", "first_name": "Ann", "last_name": "Lee", "phone": "+31 6 1234 5678", "medical_condition": "GBM"})),
            &[],
        )
        .await
        .expect(201);
    let submission = receipt.id();
    let stored = app
        .get(
            &format!("/v1/intake-submissions/{submission}"),
            Role::Navigator,
        )
        .await
        .expect(200);
    let patient = stored.body["patient_id"].as_str().unwrap().to_owned();
    let call = app
        .post("/v1/calls", Role::Navigator, json!({"patient_id": patient, "scheduled_at": "2026-01-05T10:00:00Z", "notes": "Worried about the side effects."}))
        .await
        .expect(201)
        .id();
    (patient, submission, call)
}

/// Every record of that lead as `role` reads it, with the personal fields
/// its kind has: single reads, lists and the patient page's includes.
async fn everything_about_the_lead(
    app: &TestApp,
    role: Role,
) -> Vec<(String, Value, &'static [&'static str])> {
    let (patient, submission, call) = a_lead_with_a_submission_and_a_call(app).await;
    let mut seen = Vec::new();
    let mut read = |what: &str, record: &Value, fields: &'static [&'static str]| {
        seen.push((what.to_owned(), record.clone(), fields));
    };
    let page = app
        .get(
            &format!(
                "/v1/patients/{patient}?include=calls,submissions,referrals,enrollments,physician"
            ),
            role,
        )
        .await
        .expect(200)
        .body;
    read("GET /v1/patients/{id}?include=...", &page, PATIENT_FIELDS);
    read("included call", &page["calls"][0], CALL_FIELDS);
    read(
        "included submission",
        &page["submissions"][0],
        SUBMISSION_FIELDS,
    );
    let plain = app
        .get(&format!("/v1/patients/{patient}"), role)
        .await
        .expect(200)
        .body;
    read("GET /v1/patients/{id}", &plain, PATIENT_FIELDS);
    let listed = app
        .get("/v1/patients?status=lead", role)
        .await
        .expect(200)
        .body;
    read("GET /v1/patients", &listed["items"][0], PATIENT_FIELDS);
    let one = app
        .get(&format!("/v1/calls/{call}"), role)
        .await
        .expect(200)
        .body;
    read("GET /v1/calls/{id}", &one, CALL_FIELDS);
    let listed = app
        .get(&format!("/v1/calls?patient_id={patient}"), role)
        .await
        .expect(200)
        .body;
    read("GET /v1/calls", &listed["items"][0], CALL_FIELDS);
    let one = app
        .get(&format!("/v1/intake-submissions/{submission}"), role)
        .await
        .expect(200)
        .body;
    read("GET /v1/intake-submissions/{id}", &one, SUBMISSION_FIELDS);
    let listed = app
        .get(
            &format!("/v1/intake-submissions?patient_id={patient}"),
            role,
        )
        .await
        .expect(200)
        .body;
    read(
        "GET /v1/intake-submissions",
        &listed["items"][0],
        SUBMISSION_FIELDS,
    );
    seen
}

on_both_databases! {
    async fn every_documented_operation_answers_as_its_documented_role_allows(app) {
        let doc = served_document(app).await;
        let mut kinds = std::collections::BTreeSet::new();
        for (method, path, op) in operations(&doc) {
            let needed = least_role(&method, &path, &op);
            kinds.insert(needed.map_or("public".to_owned(), |r| r.to_string()));
            let body = op.get("requestBody").map(|_| json!({}));
            let method_ = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for caller in [None, Some(Role::Viewer), Some(Role::Navigator), Some(Role::Admin)] {
                let uri = concrete(&path);
                let reply = app.send(method_.clone(), &uri, caller, body.clone(), &[]).await;
                let status = reply.status.as_u16();
                let who = caller.map_or("an anonymous caller".to_owned(), |r| format!("a {r}"));
                let outcome = format!("{method} {path} answered {status} to {who}: {}", reply.body);
                match (needed, caller) {
                    (None, _) => assert!(!is_auth_failure(status), "public, yet {outcome}"),
                    (Some(_), None) => assert_eq!(status, 401, "secured, yet {outcome}"),
                    (Some(needed), Some(role)) if role.allows(needed) => {
                        assert!(!is_auth_failure(status), "documented for {needed}, yet {outcome}")
                    }
                    (Some(needed), Some(_)) => assert_eq!(status, 403, "documented for {needed}, yet {outcome}"),
                }
                assert!(op["responses"].get(status.to_string()).is_some(), "undocumented status: {outcome}");
            }
        }
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["admin", "navigator", "public", "viewer"], "the walk met every kind of operation");
    }

    async fn the_document_and_the_docs_page_are_public_whoever_asks(app) {
        for uri in ["/openapi.json", "/docs/"] {
            app.send(Method::GET, uri, None, None, &[]).await.expect(200);
            for role in ROLES {
                app.get(uri, role).await.expect(200);
            }
        }
    }

    async fn a_role_too_low_is_refused_before_its_request_is_read(app) {
        let nowhere = uuid::Uuid::new_v4();
        app.post("/v1/patients", Role::Viewer, json!({"no_such_field": true})).await.expect_problem(403);
        app.patch(&format!("/v1/calls/{nowhere}"), Role::Viewer, json!({"status": "bogus"})).await.expect_problem(403);
        app.post("/v1/hospitals", Role::Navigator, json!({"name": 42})).await.expect_problem(403);
        app.delete(&format!("/v1/patients/{nowhere}"), Role::Navigator).await.expect_problem(403);
        app.send(Method::POST, "/v1/calls", None, Some(json!({"patient_id": "not-a-uuid"})), &[]).await.expect_problem(401);
    }

    async fn a_viewer_receives_no_personal_data_of_patients(app) {
        for (what, record, fields) in everything_about_the_lead(app, Role::Viewer).await {
            assert!(record["id"].is_string(), "{what} is missing: {record}");
            for field in fields {
                assert!(record.get(*field).is_none(), "{what} sent {field} to a viewer: {record}");
            }
        }
    }

    async fn a_navigator_and_an_admin_receive_what_a_viewer_does_not(app) {
        for role in [Role::Navigator, Role::Admin] {
            for (what, record, fields) in everything_about_the_lead(app, role).await {
                for field in fields {
                    assert!(record.get(*field).is_some_and(|v| !v.is_null()), "{what} withheld {field} from a {role}: {record}");
                }
            }
        }
    }

    async fn a_viewer_cannot_look_a_person_up_by_email_or_name(app) {
        app.post("/v1/patients", Role::Navigator, json!({"first_name": "Ann", "email": "ann@example.org"})).await.expect(201);
        app.get("/v1/patients?email=ann@example.org", Role::Viewer).await.expect_problem(403);
        app.get("/v1/patients?q=ann", Role::Viewer).await.expect_problem(403);
        assert_eq!(app.get("/v1/patients?status=lead", Role::Viewer).await.expect(200).body["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.get("/v1/patients?email=ann@example.org", Role::Navigator).await.expect(200).body["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.get("/v1/patients?q=ann", Role::Navigator).await.expect(200).body["items"].as_array().unwrap().len(), 1);
    }

    async fn the_history_of_patients_and_calls_is_for_navigators_and_other_history_for_viewers(app) {
        let (patient, _, call) = a_lead_with_a_submission_and_a_call(app).await;
        let doctor = app.create("practitioners", json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen"})).await;
        for uri in [format!("/v1/patients/{patient}/history"), format!("/v1/calls/{call}/history")] {
            app.get(&uri, Role::Viewer).await.expect_problem(403);
            app.get(&uri, Role::Navigator).await.expect(200);
        }
        app.get(&format!("/v1/practitioners/{doctor}/history"), Role::Viewer).await.expect(200);
    }

    async fn a_viewer_submitting_a_form_learns_no_more_than_an_anonymous_visitor(app) {
        app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201);
        let receipt = app.post("/v1/intake-submissions", Role::Viewer, json!({"email": "ann@example.org"})).await.expect(201);
        let mut keys: Vec<&String> = receipt.body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "submitted_at"], "whether the email was known is personal data");
    }
}

#[test]
fn every_property_withheld_from_viewers_is_optional_in_its_schema() {
    let doc = serde_json::to_value(openapi::document()).unwrap();
    let withheld = withheld_properties(&doc);
    for (schema, property, required) in &withheld {
        assert!(
            !required,
            "{schema}.{property} is withheld from viewers but required"
        );
    }
    let of = |schema: &str| {
        let mut names: Vec<&str> = withheld
            .iter()
            .filter(|(s, ..)| s == schema)
            .map(|(_, p, _)| p.as_str())
            .collect();
        names.sort();
        names
    };
    let sorted = |fields: &[&'static str]| {
        let mut fields = fields.to_vec();
        fields.sort();
        fields
    };
    assert_eq!(of("Patient"), sorted(PATIENT_FIELDS));
    assert_eq!(of("IntakeSubmission"), sorted(SUBMISSION_FIELDS));
    assert_eq!(of("Call"), sorted(CALL_FIELDS));
}

/// Each component schema's properties documented as withheld from viewers:
/// schema, property, and whether the schema requires it.
fn withheld_properties(doc: &Value) -> Vec<(String, String, bool)> {
    let mut found = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let Some(properties) = schema["properties"].as_object() else {
            continue;
        };
        let required: Vec<&Value> = schema["required"]
            .as_array()
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        for (property, definition) in properties {
            let description = definition["description"].as_str().unwrap_or_default();
            if description.contains(WITHHELD) {
                found.push((
                    name.clone(),
                    property.clone(),
                    required.contains(&&json!(property)),
                ));
            }
        }
    }
    found
}

/// The generated part of `docs/authorization.md`: the role matrix, the
/// properties a viewer does not receive and what each write may set.
fn generated_tables(doc: &Value) -> String {
    let mut out = String::new();
    out.push_str("### Who may call each operation\n\n");
    out.push_str("| Method | Path | Least role | anonymous | viewer | navigator | admin |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (method, path, op) in operations(doc) {
        let needed = least_role(&method, &path, &op);
        let mark = |allowed: bool| if allowed { "yes" } else { "no" };
        out.push_str(&format!(
            "| {} | `{path}` | {} | {} | {} | {} | {} |\n",
            method.to_uppercase(),
            needed.map_or("public".to_owned(), |r| r.to_string()),
            mark(needed.is_none()),
            mark(needed.is_none_or(|n| Role::Viewer.allows(n))),
            mark(needed.is_none_or(|n| Role::Navigator.allows(n))),
            mark(needed.is_none_or(|n| Role::Admin.allows(n))),
        ));
    }
    out.push_str("\n### What a viewer does not receive\n\n");
    out.push_str("| Schema | Properties omitted for the viewer role |\n| --- | --- |\n");
    let withheld = withheld_properties(doc);
    let mut schemas: Vec<&String> = withheld.iter().map(|(s, ..)| s).collect();
    schemas.dedup();
    for schema in schemas {
        let properties: Vec<String> = withheld
            .iter()
            .filter(|(s, ..)| s == schema)
            .map(|(_, p, _)| format!("`{p}`"))
            .collect();
        out.push_str(&format!("| `{schema}` | {} |\n", properties.join(", ")));
    }
    out.push_str("\n### What each write may set\n\n");
    out.push_str("| Method | Path | Least role | Request schema | Writable properties |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for (method, path, op) in operations(doc) {
        let Some(reference) =
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        else {
            continue;
        };
        let name = reference.rsplit('/').next().unwrap();
        let properties: Vec<String> = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .map(|p| p.keys().map(|k| format!("`{k}`")).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "| {} | `{path}` | {} | `{name}` | {} |\n",
            method.to_uppercase(),
            least_role(&method, &path, &op).map_or("public".to_owned(), |r| r.to_string()),
            properties.join(", "),
        ));
    }
    out
}

const BEGIN: &str =
    "<!-- generated from the OpenAPI document by tests/api/authorization.rs: do not edit -->\n";
const END: &str = "<!-- end of generated part -->\n";

/// The tables in `docs/authorization.md` must equal those the document
/// gives: a role or field change shows up there. `UPDATE_SNAPSHOTS=1`
/// rewrites them.
#[test]
fn the_tables_of_docs_authorization_md_match_the_openapi_document() {
    let doc = serde_json::to_value(openapi::document()).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/authorization.md");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        panic!("docs/authorization.md lacks the markers of its generated part");
    };
    let current = &text[start + BEGIN.len()..end];
    let generated = generated_tables(&doc);
    if current != generated && std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        let updated = format!("{}{BEGIN}{generated}{}", &text[..start], &text[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    assert!(
        current == generated,
        "docs/authorization.md is out of date: run UPDATE_SNAPSHOTS=1 cargo test --test api authorization"
    );
}
