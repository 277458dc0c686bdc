//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the offline docs page. Error responses are added here by one rule per
//! kind of operation, so that every operation lists every status it can
//! return without each handler repeating them; so are the links from the
//! operation that creates a record to those that read, change, delete it
//! and list its history, and the rules between fields that no single
//! field's schema can say.

use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, Content, HttpMethod, OpenApi as Document, Ref, RefOr, ResponseBuilder, Schema,
        path::{Operation, ParameterIn},
        schema::{ArrayItems, Object},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_axum::router::OpenApiRouter;

use super::{AppState, error::Problem, resources, resources::declare::Declaration};
use crate::domain::{Eligibility, Role};
use serde_json::{Value, json};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Navigator API",
        description = "Patients' journeys to Expanded Access Programs and clinical trials: leads, calls, conversion, referrals and enrollments.",
    ),
    components(schemas(Problem)),
    modifiers(&Security),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "medical-conditions", description = "The consolidated list of medical conditions (reference data)"),
        (name = "hospitals", description = "Hospitals where practitioners work (reference data)"),
        (name = "specializations", description = "Practitioners' specializations (reference data)"),
        (name = "practitioners", description = "Physicians and pharmacists"),
        (name = "patients", description = "Leads and patients: one record per person"),
        (name = "intake-submissions", description = "Web-form submissions, kept whole; creating is public"),
        (name = "calls", description = "Calls with leads and patients, with their outcomes"),
        (name = "expanded-access-programs", description = "Expanded Access Programs (reference data)"),
        (name = "eap-enrollments", description = "Patients' enrollments in Expanded Access Programs"),
        (name = "clinical-trials", description = "Clinical trials (reference data)"),
        (name = "trial-referrals", description = "Patients' referrals to clinical trials"),
        (name = "legacy-ids", description = "Where each imported CRM row went"),
        (name = "metrics", description = "The funnel per month and medical condition: counts and durations, no personal data"),
        (name = "staff", description = "The people who sign in; patients' owners and calls' navigators name them"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API's modules, each with its documented routes (`routes()`) and the
/// same routes as served (`served()`), listed once.
macro_rules! api {
    ($($module:path),+ $(,)?) => {
        /// Every documented route, not yet bound to state.
        pub fn router() -> OpenApiRouter<AppState> {
            OpenApiRouter::with_openapi(ApiDoc::openapi())
                $(.merge({ use $module as module; module::routes() }))+
        }

        /// Every route as the server serves it: the handlers of
        /// [`router`], without building the document.
        pub fn served() -> axum::Router<AppState> {
            axum::Router::new()
                $(.merge({ use $module as module; module::served() }))+
        }
    };
}

api! {
    super::health,
    resources::medical_conditions,
    resources::hospitals,
    resources::specializations,
    resources::practitioners,
    resources::patients,
    resources::duplicates,
    resources::privacy,
    resources::intake_submissions,
    resources::calls,
    resources::expanded_access_programs,
    resources::eap_enrollments,
    resources::clinical_trials,
    resources::trial_referrals,
    resources::legacy_ids,
    resources::staff,
    resources::metrics,
}

/// The finished document: every route plus the error responses.
pub fn document() -> Document {
    let (_, doc) = router().split_for_parts();
    finish(doc)
}

/// Adds to each operation the problem responses it can produce and its
/// links, to each view's schema which of its properties a viewer does not
/// receive, and to the request bodies their cross-field rules and what
/// they must name.
fn finish(mut doc: Document) -> Document {
    note_withheld_properties(&mut doc);
    add_rules(&mut doc);
    note_references(&mut doc);
    link_records(&mut doc);
    for (path, item) in doc.paths.paths.iter_mut() {
        let methods = [
            (HttpMethod::Get, item.get.as_mut()),
            (HttpMethod::Post, item.post.as_mut()),
            (HttpMethod::Patch, item.patch.as_mut()),
            (HttpMethod::Delete, item.delete.as_mut()),
        ];
        for (method, operation) in methods {
            if let Some(operation) = operation {
                add_problems(path, method, operation);
            }
        }
    }
    doc
}

/// From each view's declaration: a property withheld from the viewer role
/// is optional in the schema (it is omitted, not null) and says so, in the
/// view's schema and in its pages' (which utoipa writes inline).
fn note_withheld_properties(doc: &mut Document) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for declaration in resources::declarations() {
        if let Some(RefOr::T(Schema::Object(view))) = components.schemas.get_mut(declaration.schema)
        {
            note_withheld(declaration, view);
        }
        let page = format!("Page_{}", declaration.schema);
        if let Some(RefOr::T(Schema::Object(page))) = components.schemas.get_mut(&page)
            && let Some(RefOr::T(Schema::Array(items))) = page.properties.get_mut("items")
            && let ArrayItems::RefOrSchema(item) = &mut items.items
            && let RefOr::T(Schema::Object(view)) = item.as_mut()
        {
            note_withheld(declaration, view);
        }
    }
}

fn note_withheld(declaration: &Declaration, view: &mut Object) {
    for field in declaration.withheld_from_viewers() {
        view.required.retain(|name| name != field.name);
        if let Some(RefOr::T(Schema::Object(property))) = view.properties.get_mut(field.name) {
            let note = format!(
                "{}: omitted for the viewer role.",
                capitalised(field.class.name())
            );
            property.description = Some(match property.description.take() {
                Some(text) => format!("{text} {note}"),
                None => note,
            });
        }
    }
}

/// Whether a list operation takes a filter on a field that a viewer does
/// not receive (a match would tell it the value): such a filter is refused
/// to a viewer with 403.
fn filters_withheld_field(operation: &Operation) -> bool {
    let Some(RefOr::T(ok)) = operation.responses.responses.get("200") else {
        return false;
    };
    let Some(page) = ok
        .content
        .values()
        .find_map(|content| match &content.schema {
            Some(RefOr::Ref(reference)) => reference
                .ref_location
                .strip_prefix("#/components/schemas/Page_"),
            _ => None,
        })
    else {
        return false;
    };
    let Some(declaration) = resources::declarations()
        .into_iter()
        .find(|d| d.schema == page)
    else {
        return false;
    };
    let params = operation.parameters.as_deref().unwrap_or_default();
    declaration.withheld_from_viewers().any(|field| {
        params
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query) && p.name == field.name)
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn add_problems(path: &str, method: HttpMethod, operation: &mut Operation) {
    let security = serde_json::to_value(&operation.security).unwrap_or_default();
    let requirements = security.as_array().cloned().unwrap_or_default();
    let secured = !requirements.is_empty();
    // An empty requirement (`{}`) makes the token optional: a bad token is
    // still a 401, but every role may call.
    let optional = requirements
        .iter()
        .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
    // The bearer requirement's scope is the least role the operation needs
    // (what its handler's `http::auth::Caller` checks). Every signed-in
    // role is at least a viewer: only a higher one can be refused.
    let above_viewer = requirements
        .iter()
        .filter_map(|r| r.get("bearer")?.as_array())
        .flatten()
        .filter_map(|scope| Role::from_text(scope.as_str()?))
        .any(|role| role != Role::Viewer);
    let has_body = operation.request_body.is_some();
    let has_path_id = path.contains('{');
    let params = operation.parameters.as_deref().unwrap_or_default();
    let has_query = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let has_header = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Header));
    // A write that takes If-Match (a conversion too) can find it stale.
    let has_if_match = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Header) && p.name == "If-Match");
    let mut statuses: Vec<(u16, &str)> = Vec::new();
    if has_body || has_path_id || has_query || has_header {
        statuses.push((
            400,
            "Malformed request: JSON syntax, query parameter, header or path",
        ));
    }
    if secured {
        statuses.push((401, "Missing, invalid or expired bearer token"));
        if above_viewer && !optional {
            statuses.push((403, "The caller's role does not allow this operation"));
        } else if filters_withheld_field(operation) {
            statuses.push((
                403,
                "A viewer filtered by a field it does not receive (email, name)",
            ));
        }
    }
    if has_path_id {
        statuses.push((404, "No record with this id"));
    }
    if matches!(
        method,
        HttpMethod::Post | HttpMethod::Patch | HttpMethod::Delete
    ) {
        statuses.push((409, "Conflicts with existing data: a unique value, a missing or still-referenced record, or a rule of the model"));
    }
    if has_if_match || matches!(method, HttpMethod::Patch | HttpMethod::Delete) {
        statuses.push((412, "If-Match names a version that is no longer current"));
    }
    if has_body {
        statuses.push((413, "The body is larger than 64 KiB"));
        statuses.push((415, "The body is not JSON"));
        statuses.push((422, "Invalid field values (with field-level detail), or an Idempotency-Key reused with another body"));
    }
    if path.starts_with("/v1") {
        statuses.push((503, "The database is unavailable"));
    }
    statuses.push((500, "Unexpected failure (details are logged, not sent)"));
    for (status, description) in statuses {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem")))),
            )
            .build();
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert(RefOr::T(response));
    }
}

/// The rules between fields of a request body that no field's own schema
/// can say, in JSON Schema (each schema takes one keyword, so its output
/// does not depend on a map's order). The handlers enforce the same
/// (`patients.rs`, `trial_referrals.rs`): the schema only lets a client or
/// a fuzzer know them beforehand.
fn rules() -> Vec<(&'static str, &'static str, Value)> {
    // A present, non-null value: the property's own schema says the rest
    // (and some generators mishandle a `$ref` inside these branches).
    let given = json!({"type": "string"});
    let not_ineligible: Vec<Value> = Eligibility::ALL
        .iter()
        .filter(|e| **e != Eligibility::Ineligible)
        .map(|e| json!(e.as_str()))
        .collect();
    let ineligible = Eligibility::Ineligible.as_str();
    let not_ineligible_or_null = [not_ineligible.clone(), vec![Value::Null]].concat();
    vec![
        (
            "NewPatient",
            "anyOf",
            json!([
                {"required": ["email"], "properties": {"email": given}},
                {"required": ["phone"], "properties": {"phone": given}},
            ]),
        ),
        (
            // Whether the record keeps one depends on the fields the body
            // leaves alone; the schema can only refuse clearing both.
            "PatientPatch",
            "not",
            json!({
                "required": ["email", "phone"],
                "properties": {"email": {"type": "null"}, "phone": {"type": "null"}},
            }),
        ),
        (
            "NewTrialReferral",
            "oneOf",
            json!([
                {
                    "required": ["eligibility", "ineligible_reason"],
                    "properties": {"eligibility": {"const": ineligible}, "ineligible_reason": given},
                },
                {
                    "properties": {
                        "eligibility": {"enum": not_ineligible_or_null},
                        "ineligible_reason": {"type": "null"},
                    },
                },
            ]),
        ),
        (
            // Without `eligibility`, the record's own decides.
            "TrialReferralPatch",
            "oneOf",
            json!([
                {
                    "required": ["eligibility"],
                    "properties": {"eligibility": {"const": ineligible}, "ineligible_reason": given},
                },
                {
                    "required": ["eligibility"],
                    "properties": {
                        "eligibility": {"enum": not_ineligible},
                        "ineligible_reason": {"type": "null"},
                    },
                },
                {"not": {"required": ["eligibility"]}},
            ]),
        ),
    ]
}

fn add_rules(doc: &mut Document) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (name, keyword, rule) in rules() {
        if let Some(RefOr::T(Schema::Object(schema))) = components.schemas.get_mut(name) {
            schema
                .extensions
                .get_or_insert_with(Default::default)
                .insert(keyword.to_owned(), rule);
        }
    }
}

/// The request bodies' schemas (`NewCall`, `CallPatch`...), by name.
fn request_body_schemas(doc: &Document) -> Vec<String> {
    let mut names: Vec<String> = doc
        .paths
        .paths
        .values()
        .flat_map(|item| [&item.post, &item.patch, &item.put])
        .flatten()
        .filter_map(|operation| operation.request_body.as_ref())
        .flat_map(|body| body.content.values())
        .filter_map(|content| match &content.schema {
            Some(RefOr::Ref(reference)) => reference
                .ref_location
                .strip_prefix("#/components/schemas/")
                .map(str::to_owned),
            _ => None,
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// A body's `…_id` property must name a record that exists, which no
/// schema can say: each says so, so that a reader (and whoever reads the
/// fuzzers' warnings) knows why a well-formed id can still be refused.
fn note_references(doc: &mut Document) {
    let names = request_body_schemas(doc);
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for name in names {
        let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut(&name) else {
            continue;
        };
        for (field, property) in body.properties.iter_mut() {
            let Some(noun) = field.strip_suffix("_id") else {
                continue;
            };
            let RefOr::T(Schema::Object(property)) = property else {
                continue;
            };
            if !matches!(
                property.format,
                Some(openapi::SchemaFormat::KnownFormat(
                    openapi::KnownFormat::Uuid
                ))
            ) {
                continue;
            }
            let note = format!(
                "Must name an existing {}: an id that names none is refused (422).",
                noun.replace('_', " ")
            );
            // An optional reference's example is none: a made-up id is
            // exactly the value the API must refuse.
            let nullable = serde_json::to_value(&property.schema_type)
                .is_ok_and(|t| t.as_array().is_some_and(|t| t.contains(&json!("null"))));
            if nullable && property.examples.is_empty() {
                property.examples = vec![Value::Null];
            }
            property.description = Some(match property.description.take() {
                Some(text) => format!("{text} {note}"),
                None => note,
            });
        }
    }
}

/// One operation on a record (`/v1/calls/{id}`, `/v1/calls/{id}/history`):
/// its path's collection, its id and whether it takes `If-Match`.
struct OnRecord {
    collection: String,
    operation_id: String,
    if_match: bool,
}

/// Links, for clients and for schemathesis's stateful phase, from each
/// response that returns a record (a create's 201, an update's 200) to
/// every operation on that record: its id from the body, and `If-Match`
/// from the ETag where the operation takes it. Derived from the paths, so
/// a new collection's operations are linked without a line here.
fn link_records(doc: &mut Document) {
    let mut on_record = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let Some((collection, rest)) = path.split_once("/{id}") else {
            continue;
        };
        if collection.contains('{') || rest.contains('{') {
            continue;
        }
        for operation in [&item.get, &item.post, &item.patch, &item.delete]
            .into_iter()
            .flatten()
        {
            let Some(operation_id) = operation.operation_id.clone() else {
                continue;
            };
            let if_match = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.parameter_in, ParameterIn::Header) && p.name == "If-Match");
            on_record.push(OnRecord {
                collection: collection.to_owned(),
                operation_id,
                if_match,
            });
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let sources = [
            (path.as_str(), item.post.as_mut(), "201"),
            (
                path.strip_suffix("/{id}").unwrap_or_default(),
                item.patch.as_mut(),
                "200",
            ),
        ];
        for (collection, operation, status) in sources {
            let Some(operation) = operation else { continue };
            let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) else {
                continue;
            };
            let links: serde_json::Map<String, Value> = on_record
                .iter()
                .filter(|target| target.collection == collection)
                .map(|target| {
                    let mut parameters = json!({"path.id": "$response.body#/id"});
                    if target.if_match {
                        parameters["header.If-Match"] = json!("$response.header.ETag");
                    }
                    let link =
                        json!({"operationId": target.operation_id, "parameters": parameters});
                    (target.operation_id.clone(), link)
                })
                .collect();
            if !links.is_empty() {
                // Written as JSON: utoipa 5.5's `Link` spells its fields in
                // snake case (`operation_id`), which no reader understands.
                response
                    .extensions
                    .get_or_insert_with(Default::default)
                    .insert("links".to_owned(), Value::Object(links));
            }
        }
    }
}

#[allow(unused_imports)]
use openapi::Info as _;
