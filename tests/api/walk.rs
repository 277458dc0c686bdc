//! A walk over every operation of the OpenAPI document, as every caller,
//! over data in which each personal and health value of a patient is a
//! marker no other value contains. No anonymous caller or viewer may be
//! shown a marker, and every response that shows one must have its own
//! access-log entry naming the patient the marker belongs to.
//!
//! The operations come from the router's own `/openapi.json`, so a route
//! added later is walked without editing this test; one the walk cannot
//! fill (a path parameter of a collection it has no record in, a required
//! field or parameter it cannot make) fails it, saying what to add.

use std::collections::{BTreeSet, HashMap};

use axum::http::Method;
use navigator::domain::Role;
use serde_json::{Map, Value, json};

use crate::{
    helpers::{Reply, TestApp},
    on_both_databases,
};

/// The fields of a request body about a patient that hold the patient's
/// personal or health data. (A patient's medical condition is a link to
/// reference data; the condition typed into an intake form is free text.)
const PERSONAL_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "notes",
    "ineligible_reason",
    "medical_condition",
];

/// The collection each `*_id` field of a request body names.
const ID_FIELDS: &[(&str, &str)] = &[
    ("patient_id", "patients"),
    ("physician_id", "practitioners"),
    ("trial_id", "clinical-trials"),
    ("program_id", "expanded-access-programs"),
    ("medical_condition_id", "medical-conditions"),
    ("hospital_id", "hospitals"),
    ("specialization_id", "specializations"),
    ("owner_id", "staff"),
    ("navigator_id", "staff"),
];

/// Anonymous, then each role.
const CALLERS: [Option<Role>; 4] = [
    None,
    Some(Role::Viewer),
    Some(Role::Navigator),
    Some(Role::Admin),
];

on_both_databases! {
    async fn no_operation_shows_a_viewer_personal_data_or_anyone_personal_data_unlogged(app) {
        let mut walk = Walk::new(app).await;
        walk.make_the_dataset().await;
        let operations = walk.operations();
        let phase = |phase: Phase| operations.iter().filter(move |o| o.phase() == phase);
        walk.call_as_everyone(phase(Phase::Read)).await;
        walk.call_as_everyone(phase(Phase::Write)).await;
        walk.call_as_everyone(phase(Phase::Delete)).await;
        // A deleted record's history stays: each record is read again.
        walk.after_the_deletes = true;
        walk.call_as_everyone(phase(Phase::Read).filter(|o| o.path.contains('{'))).await;
        walk.call_as_everyone(phase(Phase::Erase)).await;
        walk.assert_every_marker_of_the_dataset_was_shown();
        walk.assert_no_violations();
    }
}

/// A value the walk planted, and whose data it is.
#[derive(Debug, Clone)]
struct Marker {
    text: String,
    field: String,
    /// The patient's id; `None` when no response told whose it is.
    patient: Option<String>,
}

/// One operation of the document.
struct Operation {
    method: Method,
    /// The path template, as the access log names the route.
    path: String,
    spec: Value,
}

/// Reads first, then writes; then what destroys the data the others look
/// for: deletes, and erasure last of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Read,
    Write,
    Delete,
    Erase,
}

impl Operation {
    fn phase(&self) -> Phase {
        match self.method {
            Method::GET | Method::HEAD => Phase::Read,
            Method::DELETE => Phase::Delete,
            _ if self.path.ends_with("/erase") => Phase::Erase,
            _ => Phase::Write,
        }
    }
}

struct Walk<'a> {
    app: &'a TestApp,
    doc: Value,
    /// Makes every planted value unique.
    counter: usize,
    markers: Vec<Marker>,
    /// Markers planted by the request being made: whose they are is known
    /// only from its response.
    pending: Vec<(String, String)>,
    /// The markers of the dataset, and those some response of the walk showed.
    dataset_markers: usize,
    shown: BTreeSet<String>,
    /// For each collection, the record the walk reads, updates and deletes.
    records: HashMap<String, String>,
    /// The patient each record the walk made is about (a patient, itself).
    patient_of: HashMap<String, String>,
    names: HashMap<String, String>,
    /// How many access-log entries of each patient were already looked at.
    log_seen: HashMap<String, usize>,
    after_the_deletes: bool,
    violations: Vec<String>,
}

impl<'a> Walk<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let doc = app
            .send(Method::GET, "/openapi.json", None, None, &[])
            .await
            .expect(200)
            .body;
        Self {
            app,
            doc,
            counter: 0,
            markers: Vec::new(),
            pending: Vec::new(),
            dataset_markers: 0,
            shown: BTreeSet::new(),
            records: HashMap::new(),
            patient_of: HashMap::new(),
            names: HashMap::new(),
            log_seen: HashMap::new(),
            after_the_deletes: false,
            violations: Vec::new(),
        }
    }

    /// Patient A has every kind of personal and health value the API keeps:
    /// a lead with name, email and phone, a public form of theirs, a
    /// completed call with notes, conversion, a referral found ineligible
    /// for a reason, an enrollment. Patient B, a lead with a call, tells
    /// which patient a response disclosed. Every response is examined.
    async fn make_the_dataset(&mut self) {
        let (admin, navigator) = (Some(Role::Admin), Some(Role::Navigator));
        let specialization = self
            .create(admin, "specializations", json!({"name": "Neuro-oncology"}))
            .await;
        let hospital = self
            .create(
                admin,
                "hospitals",
                json!({"name": "UMC", "city": "Utrecht"}),
            )
            .await;
        let condition = self
            .create(
                admin,
                "medical-conditions",
                json!({"name": "Walked condition", "abbreviation": "WLK"}),
            )
            .await;
        let physician = self
            .create(
                navigator,
                "practitioners",
                json!({"kind": "physician", "first_name": "Eva", "last_name": "Jansen",
                       "hospital_id": hospital, "specialization_id": specialization}),
            )
            .await;
        let trial = self
            .create(
                admin,
                "clinical-trials",
                json!({"registry_id": "NCT05000001", "medical_condition_id": condition}),
            )
            .await;
        let program = self
            .create(
                admin,
                "expanded-access-programs",
                json!({"eap_number": "EAP-2026-001", "product": "ONC-201"}),
            )
            .await;

        let (a, email) = self.lead("patient A", &condition, &physician).await;
        let form = json!({
            "email": email, "first_name": self.marker("first_name"),
            "last_name": self.marker("last_name"), "phone": self.marker("phone"),
            "medical_condition": self.marker("medical_condition"), "channel": "contact_form"
        });
        self.create(None, "intake-submissions", form).await;
        self.call_with_notes(&a).await;
        let convert = format!("/v1/patients/{a}/convert");
        let converted = self
            .send(
                navigator,
                Method::POST,
                "/v1/patients/{id}/convert",
                &convert,
                Some(json!({})),
            )
            .await;
        assert_eq!(converted.status, 200, "converting A: {}", converted.body);
        let referral = json!({"patient_id": a, "trial_id": trial, "eligibility": "ineligible",
                              "ineligible_reason": self.marker("ineligible_reason")});
        self.create(navigator, "trial-referrals", referral).await;
        let enrollment = json!({"patient_id": a, "program_id": program});
        self.create(navigator, "eap-enrollments", enrollment).await;

        let (b, _) = self.lead("patient B", &condition, &physician).await;
        self.call_with_notes(&b).await;

        // Staff records are made by signing in, not by a POST.
        let me = self
            .send(navigator, Method::GET, "/v1/me", "/v1/me", None)
            .await;
        assert_eq!(me.status, 200, "GET /v1/me: {}", me.body);
        let staff = me.body["id"].as_str().expect("a staff id").to_owned();
        self.records.insert("staff".into(), staff);

        self.dataset_markers = self.markers.len();
        self.shown.clear();
    }

    /// A lead with a marked name, email and phone; returns its id and email.
    async fn lead(&mut self, name: &str, condition: &str, physician: &str) -> (String, String) {
        let email = self.marker("email");
        let body = json!({
            "email": email, "first_name": self.marker("first_name"),
            "last_name": self.marker("last_name"), "phone": self.marker("phone"),
            "medical_condition_id": condition, "physician_id": physician
        });
        let id = self.create(Some(Role::Navigator), "patients", body).await;
        self.names.insert(id.clone(), name.to_owned());
        (id, email)
    }

    async fn call_with_notes(&mut self, patient: &str) {
        let call = json!({"patient_id": patient, "scheduled_at": "2026-01-05T09:00:00Z",
                          "status": "completed", "notes": self.marker("notes")});
        self.create(Some(Role::Navigator), "calls", call).await;
    }

    /// Creates a record; the first of each collection is the one the walk uses.
    async fn create(&mut self, caller: Option<Role>, collection: &str, body: Value) -> String {
        let uri = format!("/v1/{collection}");
        let reply = self
            .send(caller, Method::POST, &uri, &uri, Some(body))
            .await;
        assert_eq!(
            reply.status, 201,
            "making the dataset, POST {uri}: {}",
            reply.body
        );
        let id = reply.id();
        self.records
            .entry(collection.to_owned())
            .or_insert_with(|| id.clone());
        id
    }

    /// A value no other value contains, planted in `field` of the next
    /// request, shaped as the field needs.
    fn marker(&mut self, field: &str) -> String {
        self.counter += 1;
        let n = self.counter;
        let text = match field {
            "email" => format!("zw{n:03}.email@example.org"),
            "phone" => format!("+99 {n:04} 7357"),
            _ => format!("zw{n:03}-{field}"),
        };
        self.pending.push((text.clone(), field.to_owned()));
        text
    }

    fn operations(&self) -> Vec<Operation> {
        const METHODS: [&str; 8] = [
            "get", "head", "post", "put", "patch", "delete", "options", "trace",
        ];
        let mut operations = Vec::new();
        for (path, item) in self.doc["paths"]
            .as_object()
            .expect("the document has paths")
        {
            for (method, spec) in item.as_object().expect("a path item is an object") {
                if METHODS.contains(&method.as_str()) {
                    operations.push(Operation {
                        method: method.to_uppercase().parse().unwrap(),
                        path: path.clone(),
                        spec: spec.clone(),
                    });
                }
            }
        }
        operations
    }

    async fn call_as_everyone(&mut self, operations: impl Iterator<Item = &Operation>) {
        for operation in operations {
            for caller in CALLERS {
                self.call(operation, caller).await;
            }
        }
    }

    /// Calls `operation` as `caller`: plain, and again with every list
    /// parameter (such as `include`) set to all of its values.
    async fn call(&mut self, operation: &Operation, caller: Option<Role>) {
        let planned = self.uri_for(&operation.path).and_then(|uri| {
            let query = self.full_query(operation)?;
            let body = match request_schema(operation)? {
                Some(schema) => Some(self.body_for(&operation.path, &schema)?),
                None => None,
            };
            Ok((uri, query, body))
        });
        let (uri, query, body) = match planned {
            Ok(planned) => planned,
            Err(why) => {
                self.pending.clear();
                let what = format!("{} {}", operation.method, operation.path);
                return self.violation(format!("{what}: cannot be walked: {why}"));
            }
        };
        let (method, route) = (operation.method.clone(), operation.path.as_str());
        self.send(caller, method.clone(), route, &uri, body).await;
        if let Some(query) = query {
            self.send(caller, method, route, &format!("{uri}?{query}"), None)
                .await;
        }
    }

    /// The path with each parameter replaced by the walk's record of the
    /// collection named just before it.
    fn uri_for(&self, path: &str) -> Result<String, String> {
        let mut segments: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            if segment.starts_with('{') {
                let collection = segments.last().copied().unwrap_or_default();
                let record = self.records.get(collection).ok_or_else(|| {
                    format!(
                        "no record of `{collection}` for {segment}: make one in make_the_dataset"
                    )
                })?;
                segments.push(record);
            } else {
                segments.push(segment);
            }
        }
        Ok(segments.join("/"))
    }

    /// The query that sets every list parameter to all of its values, if
    /// the operation has one.
    fn full_query(&self, operation: &Operation) -> Result<Option<String>, String> {
        let mut pairs = Vec::new();
        for parameter in operation.spec["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = parameter["name"].as_str().unwrap_or_default();
            let place = parameter["in"].as_str().unwrap_or_default();
            let values = every_value(self.resolve(&parameter["schema"]));
            match (place, values) {
                ("path", _) => {}
                ("query", Some(values)) => pairs.push(format!("{name}={values}")),
                _ if parameter["required"] == true => {
                    return Err(format!(
                        "no value for its required {place} parameter `{name}`"
                    ));
                }
                _ => {}
            }
        }
        Ok((!pairs.is_empty()).then(|| pairs.join("&")))
    }

    /// A body with the schema's required fields and, in a body about a
    /// patient, a fresh marker in every personal field.
    fn body_for(&mut self, path: &str, schema: &Value) -> Result<Value, String> {
        let collection = path.trim_start_matches("/v1/").split('/').next();
        let record = collection.and_then(|c| self.records.get(c));
        let names_a_patient = self.merged(schema)["properties"]
            .get("patient_id")
            .is_some();
        let about_a_patient =
            names_a_patient || record.is_some_and(|r| self.patient_of.contains_key(r));
        self.value_for("body", schema, about_a_patient)
    }

    fn value_for(
        &mut self,
        field: &str,
        schema: &Value,
        about_a_patient: bool,
    ) -> Result<Value, String> {
        let schema = self.merged(schema);
        if let Some(variants) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
            let variant = variants
                .iter()
                .find(|v| self.resolve(v)["type"] != "null")
                .ok_or_else(|| format!("`{field}` can only be null"))?;
            return self.value_for(field, variant, about_a_patient);
        }
        if let Some(value) = schema["enum"].get(0).or(schema.get("const")) {
            return Ok(value.clone());
        }
        match type_of(&schema) {
            "object" => {
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let mut body = Map::new();
                for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                    let personal = about_a_patient && PERSONAL_FIELDS.contains(&name.as_str());
                    if personal || required.contains(&name.as_str()) {
                        let value = self.value_for(name, property, about_a_patient)?;
                        body.insert(name.clone(), value);
                    }
                }
                Ok(Value::Object(body))
            }
            "string" if about_a_patient && PERSONAL_FIELDS.contains(&field) => {
                Ok(self.marker(field).into())
            }
            "string" => Ok(match schema["format"].as_str() {
                Some("uuid") => self.id_for(field)?.into(),
                Some("date-time") => "2026-03-02T09:00:00Z".into(),
                Some("date") => "2026-03-02".into(),
                Some("email") => format!("walk-{}@example.org", self.next()).into(),
                _ => format!("walk-{}", self.next()).into(),
            }),
            "integer" | "number" => Ok(schema.get("minimum").cloned().unwrap_or(json!(1))),
            "boolean" => Ok(json!(false)),
            "array" => Ok(json!([])),
            other => Err(format!("no value for `{field}` of type `{other}`")),
        }
    }

    fn id_for(&self, field: &str) -> Result<String, String> {
        let collection = ID_FIELDS
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, collection)| *collection)
            .ok_or_else(|| format!("which collection `{field}` names: add it to ID_FIELDS"))?;
        self.records.get(collection).cloned().ok_or_else(|| {
            format!("no record of `{collection}` for `{field}`: make one in make_the_dataset")
        })
    }

    fn next(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                self.resolve(&self.doc["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// The schema resolved, an `allOf` merged into one object schema.
    fn merged(&self, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        let Some(parts) = schema["allOf"].as_array() else {
            return schema.clone();
        };
        let (mut properties, mut required) = (Map::new(), Vec::new());
        for part in parts.iter().map(|p| self.merged(p)) {
            properties.extend(part["properties"].as_object().cloned().unwrap_or_default());
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
        }
        json!({"type": "object", "properties": properties, "required": required})
    }

    /// Sends the request, learns whose the markers it planted are, and
    /// examines the response.
    async fn send(
        &mut self,
        caller: Option<Role>,
        method: Method,
        route: &str,
        uri: &str,
        body: Option<Value>,
    ) -> Reply {
        let reply = self
            .app
            .send(method.clone(), uri, caller, body.clone(), &[])
            .await;
        let patient = self.patient_of_request(uri, body.as_ref(), &reply);
        for (text, field) in std::mem::take(&mut self.pending) {
            let patient = patient.clone();
            self.markers.push(Marker {
                text,
                field,
                patient,
            });
        }
        // A record created about a patient is theirs.
        let created = (method == Method::POST && reply.status.is_success())
            .then(|| reply.body["id"].as_str())
            .flatten();
        if let (Some(id), Some(patient)) = (created, &patient) {
            self.patient_of.insert(id.to_owned(), patient.clone());
        }
        self.examine(caller, &method, route, &reply).await;
        reply
    }

    /// Whose data a request is about: the patient of a record in its path,
    /// the `patient_id` it names, the patient whose known marker it carries
    /// (a form with their email), or the patient its response names.
    fn patient_of_request(&self, uri: &str, body: Option<&Value>, reply: &Reply) -> Option<String> {
        let in_path = uri
            .split(['/', '?'])
            .find_map(|s| self.patient_of.get(s).cloned());
        let named = body
            .and_then(|b| b["patient_id"].as_str())
            .map(str::to_owned);
        let carried = body.and_then(|b| {
            let text = b.to_string().to_lowercase();
            let known = self.markers.iter().find(|m| text.contains(&m.text))?;
            known.patient.clone()
        });
        let created_patient = (uri == "/v1/patients").then(|| &reply.body["id"]);
        let answered = reply.body["patient_id"]
            .as_str()
            .or(created_patient.and_then(Value::as_str));
        let answered = answered
            .filter(|_| reply.status.is_success())
            .map(str::to_owned);
        in_path.or(named).or(carried).or(answered)
    }

    /// Looks for every marker in the response; records what a caller may
    /// not see, and what was shown without an access-log entry.
    async fn examine(&mut self, caller: Option<Role>, method: &Method, route: &str, reply: &Reply) {
        let who = caller.map_or("anonymous".to_owned(), |role| role.to_string());
        let when = if self.after_the_deletes {
            " (after the deletes)"
        } else {
            ""
        };
        let request = format!("{who} {method} {route}{when}");
        if reply.status.is_server_error() {
            self.violation(format!("{request}: answered {}", reply.status));
        }
        let mut text = reply.body.to_string();
        for value in reply.headers.values() {
            text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        let text = text.to_lowercase();
        let shown: Vec<Marker> = self
            .markers
            .iter()
            .filter(|m| text.contains(&m.text))
            .cloned()
            .collect();
        let patients: BTreeSet<Option<String>> = shown.iter().map(|m| m.patient.clone()).collect();
        for patient in patients {
            let fields: BTreeSet<&str> = shown
                .iter()
                .filter(|m| m.patient == patient)
                .map(|m| m.field.as_str())
                .collect();
            let whose = self.name_of(patient.as_deref());
            let what = format!(
                "{whose}'s {}",
                fields.into_iter().collect::<Vec<_>>().join(", ")
            );
            let audience = match caller {
                None => Some("an anonymous caller"),
                Some(Role::Viewer) => Some("a viewer"),
                Some(_) => None,
            };
            if let Some(audience) = audience {
                self.violation(format!("{request}: shows {what} to {audience}"));
            }
            let logged = match &patient {
                Some(id) => {
                    self.has_new_log_entry(id, caller, &format!("{method} {route}"))
                        .await
                }
                None => false,
            };
            if !logged {
                self.violation(format!(
                    "{request}: shows {what} without an access-log entry naming {whose}"
                ));
            }
        }
        self.shown.extend(shown.into_iter().map(|m| m.text));
    }

    fn name_of(&self, patient: Option<&str>) -> String {
        match patient {
            Some(id) => self
                .names
                .get(id)
                .map_or("a new patient", String::as_str)
                .to_owned(),
            None => "an unnamed person".to_owned(),
        }
    }

    /// Whether the patient's access log, read through the admin endpoint,
    /// gained an entry for this caller and route since the walk last looked.
    async fn has_new_log_entry(
        &mut self,
        patient: &str,
        caller: Option<Role>,
        route: &str,
    ) -> bool {
        let mut entries = Vec::new();
        let mut uri = format!("/v1/patients/{patient}/access-log?limit=200");
        loop {
            let page = self.app.get(&uri, Role::Admin).await.expect(200).body;
            entries.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    uri = format!("/v1/patients/{patient}/access-log?limit=200&cursor={cursor}")
                }
                None => break,
            }
        }
        let seen = self
            .log_seen
            .insert(patient.to_owned(), entries.len())
            .unwrap_or(0);
        // The test's tokens have the subject `{role}-user` (helpers.rs).
        let actor = caller.map(|role| format!("{role}-user"));
        entries.iter().skip(seen).any(|entry| {
            entry["route"] == route && actor.as_ref().is_none_or(|actor| entry["actor"] == *actor)
        })
    }

    fn violation(&mut self, violation: String) {
        if !self.violations.contains(&violation) {
            self.violations.push(violation);
        }
    }

    /// A marker no response showed proves nothing: the walk would pass
    /// over a leak of it.
    fn assert_every_marker_of_the_dataset_was_shown(&self) {
        let unseen: Vec<&Marker> = self.markers[..self.dataset_markers]
            .iter()
            .filter(|m| !self.shown.contains(&m.text))
            .collect();
        assert!(
            unseen.is_empty(),
            "no response of the walk showed these markers: {unseen:?}"
        );
    }

    fn assert_no_violations(&self) {
        assert!(
            self.violations.is_empty(),
            "{} violations:\n  {}",
            self.violations.len(),
            self.violations.join("\n  ")
        );
    }
}

/// The JSON body schema of an operation's request, if it takes one.
fn request_schema(operation: &Operation) -> Result<Option<Value>, String> {
    match operation.spec.get("requestBody") {
        None => Ok(None),
        Some(body) => match body["content"]["application/json"].get("schema") {
            Some(schema) => Ok(Some(schema.clone())),
            None => Err("its request body is not JSON".into()),
        },
    }
}

/// The first type a schema allows other than null.
fn type_of(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(kind) => kind,
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "unknown",
    }
}

/// All the values of a parameter that takes a comma-separated list of
/// names (an array of an enum, or a pattern `^(a|b)(,(a|b))*$`), joined.
fn every_value(schema: &Value) -> Option<String> {
    if let Some(names) = schema["items"]["enum"].as_array() {
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        return Some(names.join(","));
    }
    let pattern = schema["pattern"].as_str()?;
    let (names, _) = pattern.strip_prefix("^(")?.split_once(')')?;
    let is_a_list = pattern.ends_with(&format!("(,({names}))*$"));
    is_a_list.then(|| names.replace('|', ","))
}
