//! The Lambda entry, driven with real API Gateway and function-URL events.
//!
//! The events in `tests/fixtures/` are verbatim copies of captures shipped
//! with the `aws_lambda_events` crate (`src/fixtures/example-apigw-*.json`)
//! and the `lambda_http` crate (`tests/data/*.json`). Each test adapts a
//! copy only where it must: the method, path, query string, headers and
//! body (and says so where it changes anything else: the authorizer's
//! claims, the REST API's stage, or the source IP). The events go through
//! `navigator::lambda::handle`, the function every API invocation runs, on
//! a fresh SQLite database in a temporary directory, and the assertions
//! read the event response exactly as it is serialized back to Lambda.

use std::{collections::HashMap, num::NonZeroU32, sync::Arc};

use axum::Router;
use base64::Engine;
use lambda_http::{Context, LambdaEvent, request::LambdaRequest};
use navigator::{
    AppState, app,
    db::{self, PoolSettings},
    domain::Role,
    http::{Authenticator, IntakeLimit, JwtKeys},
    lambda,
};
use serde_json::{Value, json};

const SECRET: &[u8] = b"lambda-test-secret-lambda-test-secret";

/// The user pool the authorizer trusts (`NAVIGATOR_JWT_ISSUER`).
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_navigator";

/// The API behind the Lambda handler, on its own SQLite database.
struct Function {
    router: Router,
    db: sea_orm::DatabaseConnection,
    keys: Arc<JwtKeys>,
    dir: std::path::PathBuf,
}

impl Function {
    /// Bearer tokens signed with the test secret, as without NAVIGATOR_AUTH.
    async fn with_bearer_tokens() -> Self {
        Self::new(Authenticator::Jwt(Arc::new(JwtKeys::new(SECRET)))).await
    }

    /// NAVIGATOR_AUTH=apigateway with the template's roles claim and issuer.
    async fn behind_an_api_gateway_authorizer() -> Self {
        Self::new(Authenticator::ApiGateway {
            roles_claim: "cognito:groups".into(),
            issuer: ISSUER.into(),
        })
        .await
    }

    /// Bearer tokens, and a public intake limit of one submission per
    /// client (then one per second).
    async fn with_an_intake_limit_of_one() -> Self {
        let auth = Authenticator::Jwt(Arc::new(JwtKeys::new(SECRET)));
        Self::configured(auth, |state| {
            state.with_intake_limit(IntakeLimit {
                burst: NonZeroU32::MIN,
                per_second: NonZeroU32::MIN,
            })
        })
        .await
    }

    async fn new(auth: Authenticator) -> Self {
        Self::configured(auth, |state| state).await
    }

    async fn configured(auth: Authenticator, configure: impl FnOnce(AppState) -> AppState) -> Self {
        let dir = std::env::temp_dir().join(format!("navigator-lambda-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/test.db", dir.display());
        let db = db::connect(&url, PoolSettings::default()).unwrap();
        db::migrations::run(&db).await.unwrap();
        Self {
            router: app(configure(lambda::state(db.clone(), auth))),
            db,
            keys: Arc::new(JwtKeys::new(SECRET)),
            dir,
        }
    }

    fn bearer(&self, role: Role) -> String {
        format!("Bearer {}", self.keys.mint("lambda-user", role, 600))
    }

    /// Invokes the handler with an event, as the Lambda runtime would.
    async fn invoke(&self, event: Value) -> Reply {
        let request: LambdaRequest = serde_json::from_value(event).expect("a Lambda HTTP event");
        let event = LambdaEvent::new(request, Context::default());
        let response = lambda::handle(self.router.clone(), event).await;
        Reply::new(serde_json::to_value(response).unwrap())
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An event response: `statusCode`, `headers` (HTTP API) or
/// `multiValueHeaders` (REST API), `body`, `isBase64Encoded`.
#[derive(Debug)]
struct Reply {
    raw: Value,
    status: u16,
    body: Value,
}

impl Reply {
    fn new(raw: Value) -> Self {
        let status = raw["statusCode"].as_u64().expect("a statusCode") as u16;
        let text = raw["body"].as_str().unwrap_or("");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
        };
        Self { raw, status, body }
    }

    /// A response header, from either shape of event response.
    fn header(&self, name: &str) -> Option<&str> {
        self.raw["headers"][name]
            .as_str()
            .or_else(|| self.raw["multiValueHeaders"][name][0].as_str())
    }

    #[track_caller]
    fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; response: {}",
            self.raw
        );
        self
    }

    fn id(&self) -> &str {
        self.body["id"].as_str().expect("the body has an id")
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A request to put into an event.
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, String)>,
    body: Option<String>,
    base64: bool,
}

impl<'a> Call<'a> {
    fn get(path: &'a str) -> Self {
        Self {
            method: "GET",
            path,
            query: "",
            headers: vec![],
            body: None,
            base64: false,
        }
    }

    fn post(path: &'a str, body: Value) -> Self {
        Self {
            method: "POST",
            body: Some(body.to_string()),
            headers: vec![("content-type", "application/json".into())],
            ..Self::get(path)
        }
    }

    fn query(self, query: &'a str) -> Self {
        Self { query, ..self }
    }

    fn header(mut self, name: &'a str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sends the body base64-encoded with `isBase64Encoded: true`, as API
    /// Gateway does for media types it treats as binary.
    fn base64(self) -> Self {
        let body = self
            .body
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b));
        Self {
            body,
            base64: true,
            ..self
        }
    }

    /// Into a payload 2.0 event (HTTP API or function URL): `rawPath`,
    /// `rawQueryString`, `requestContext.http`, `headers` (the capture's
    /// own kept), `body`, `isBase64Encoded`; its cookies dropped.
    fn into_v2(self, mut event: Value) -> Value {
        event["rawPath"] = json!(self.path);
        event["requestContext"]["http"]["path"] = json!(self.path);
        event["requestContext"]["http"]["method"] = json!(self.method);
        event["rawQueryString"] = json!(self.query);
        event["queryStringParameters"] = query_map(self.query, |v| json!(v.join(",")));
        for (name, value) in self.headers {
            event["headers"][name] = json!(value);
        }
        event.as_object_mut().unwrap().remove("cookies");
        event["body"] = json!(self.body);
        event["isBase64Encoded"] = json!(self.base64);
        event
    }

    /// Into a payload 1.0 event (REST API): `path`, `httpMethod` (also in
    /// the request context), `headers` and `multiValueHeaders`, the query
    /// parameter maps, `body`, `isBase64Encoded`.
    fn into_v1(self, mut event: Value) -> Value {
        event["path"] = json!(self.path);
        event["httpMethod"] = json!(self.method);
        event["requestContext"]["httpMethod"] = json!(self.method);
        for (name, value) in self.headers {
            event["headers"][name] = json!(value);
            event["multiValueHeaders"][name] = json!([value]);
        }
        event["queryStringParameters"] = query_map(self.query, |v| json!(v.last()));
        event["multiValueQueryStringParameters"] = query_map(self.query, |v| json!(v));
        event["body"] = json!(self.body);
        event["isBase64Encoded"] = json!(self.base64);
        event
    }
}

fn query_map(query: &str, value: impl Fn(&[String]) -> Value) -> Value {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    if map.is_empty() {
        return Value::Null;
    }
    map.iter().map(|(k, v)| (k.clone(), value(v))).collect()
}

/// An HTTP API event without an authorizer.
fn http_api(call: Call) -> Value {
    call.into_v2(fixture("example-apigw-v2-request-no-authorizer.json"))
}

/// An HTTP API event whose JWT authorizer verified these claims (the
/// capture's placeholder claims replaced).
fn http_api_with_claims(call: Call, claims: Value) -> Value {
    let mut event = call.into_v2(fixture("example-apigw-v2-request-jwt-authorizer.json"));
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
    event
}

/// A REST API event on stage `prod` (the capture's `testStage` renamed;
/// its `requestContext.path` made `/prod{path}` as API Gateway sends it).
fn rest_api(call: Call) -> Value {
    let path = call.path.to_owned();
    let mut event = call.into_v1(fixture("example-apigw-request.json"));
    event["requestContext"]["stage"] = json!("prod");
    event["requestContext"]["path"] = json!(format!("/prod{path}"));
    event
}

fn ann() -> Value {
    json!({"first_name": "Ann", "last_name": "Lee", "email": "Ann.Lee@Example.org"})
}

#[tokio::test]
async fn an_http_api_post_creates_a_patient_with_its_location_and_etag() {
    let function = Function::with_bearer_tokens().await;
    let token = function.bearer(Role::Navigator);
    let created = function
        .invoke(http_api(
            Call::post("/v1/patients", ann()).header("authorization", token.clone()),
        ))
        .await
        .expect(201);
    assert_eq!(created.raw["isBase64Encoded"], false);
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.header("etag"), Some("\"1\""));
    let location = format!("/v1/patients/{}", created.id());
    assert_eq!(created.header("location"), Some(location.as_str()));
    assert_eq!(created.body["email"], "ann.lee@example.org");

    let read = function
        .invoke(http_api(
            Call::get(&location).header("authorization", token),
        ))
        .await
        .expect(200);
    assert_eq!(read.body["id"], created.body["id"]);
    assert_eq!(read.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded_before_the_api_reads_it() {
    let function = Function::with_bearer_tokens().await;
    let created = function
        .invoke(http_api(
            Call::post("/v1/patients", ann())
                .header("authorization", function.bearer(Role::Navigator))
                .base64(),
        ))
        .await
        .expect(201);
    assert_eq!(created.body["email"], "ann.lee@example.org");
}

#[tokio::test]
async fn the_query_string_reaches_the_list_filters() {
    let function = Function::with_bearer_tokens().await;
    let token = function.bearer(Role::Navigator);
    for email in ["ann@example.org", "bob@example.org"] {
        function
            .invoke(http_api(
                Call::post("/v1/patients", json!({ "email": email }))
                    .header("authorization", token.clone()),
            ))
            .await
            .expect(201);
    }
    let list = |query: &'static str| {
        let event = http_api(
            Call::get("/v1/patients")
                .query(query)
                .header("authorization", token.clone()),
        );
        let function = &function;
        async move { function.invoke(event).await.expect(200).body }
    };
    let page = list("status=lead&limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
    let found = list("email=bob%40example.org").await;
    assert_eq!(found["items"][0]["email"], "bob@example.org");
    assert_eq!(list("status=patient").await["items"], json!([]));
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_problem_sent_as_text() {
    let function = Function::with_bearer_tokens().await;
    let reply = function
        .invoke(http_api(
            Call::get("/v1/patients")
                .query("colour=blue")
                .header("authorization", function.bearer(Role::Viewer)),
        ))
        .await
        .expect(400);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(reply.raw["isBase64Encoded"], false);
    assert_eq!(reply.body["status"], 400);
}

#[tokio::test]
async fn a_rest_api_event_is_routed_without_its_stage() {
    // lambda_http makes the path /prod/v1/patients here (this test leaves
    // AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH unset); the entry removes the
    // stage, as the variable the template sets would have.
    let function = Function::with_bearer_tokens().await;
    let token = function.bearer(Role::Navigator);
    let created = function
        .invoke(rest_api(
            Call::post("/v1/patients", ann()).header("Authorization", token.clone()),
        ))
        .await
        .expect(201);
    // A REST API response carries its headers as multiValueHeaders only.
    assert_eq!(created.raw["headers"], json!({}));
    assert_eq!(
        created.raw["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        created.header("location").unwrap(),
        format!("/v1/patients/{}", created.id())
    );

    let page = function
        .invoke(rest_api(
            Call::get("/v1/patients")
                .query("status=lead&limit=1")
                .header("Authorization", token),
        ))
        .await
        .expect(200);
    assert_eq!(page.body["items"][0]["email"], "ann.lee@example.org");
}

#[tokio::test]
async fn a_named_http_api_stage_in_the_raw_path_is_removed() {
    let function = Function::with_bearer_tokens().await;
    // The capture's stage is Prod and its rawPath /Prod/my/path.
    let event = Call::post("/Prod/v1/patients", ann())
        .header("authorization", function.bearer(Role::Navigator))
        .into_v2(fixture("apigw_v2_proxy_request_with_stage_in_path.json"));
    let created = function.invoke(event).await.expect(201);
    assert_eq!(created.body["email"], "ann.lee@example.org");
}

#[tokio::test]
async fn a_function_url_event_is_served_like_an_http_api_event() {
    let function = Function::with_bearer_tokens().await;
    let url_event = |call: Call| call.into_v2(fixture("lambda_function_url_request.json"));
    let health = function
        .invoke(url_event(Call::get("/health")))
        .await
        .expect(200);
    assert_eq!(health.header("content-type"), Some("application/json"));
    let created = function
        .invoke(url_event(
            Call::post("/v1/patients", ann())
                .header("authorization", function.bearer(Role::Navigator)),
        ))
        .await
        .expect(201);
    assert!(created.header("x-request-id").is_some());
}

#[tokio::test]
async fn a_route_that_does_not_exist_is_a_404_problem() {
    let function = Function::with_bearer_tokens().await;
    let reply = function
        .invoke(http_api(Call::get("/v2/nothing")))
        .await
        .expect(404);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn jwt_authorizer_claims_give_the_caller_and_role() {
    let function = Function::behind_an_api_gateway_authorizer().await;
    let claims = json!({"sub": "cognito-user-7", "cognito:groups": "[navigator]", "iss": ISSUER});
    let created = function
        .invoke(http_api_with_claims(
            Call::post("/v1/patients", ann()),
            claims.clone(),
        ))
        .await
        .expect(201);
    let history = function
        .invoke(http_api_with_claims(
            Call::get(&format!("/v1/patients/{}/history", created.id())),
            claims,
        ))
        .await
        .expect(200);
    assert_eq!(history.body["items"][0]["actor"], "cognito-user-7");
}

#[tokio::test]
async fn a_caller_in_no_known_group_is_forbidden() {
    let function = Function::behind_an_api_gateway_authorizer().await;
    let reply = function
        .invoke(http_api_with_claims(
            Call::get("/v1/patients"),
            json!({"sub": "cognito-user-8", "cognito:groups": "[marketing]", "iss": ISSUER}),
        ))
        .await
        .expect(403);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    let viewer_writes = function
        .invoke(http_api_with_claims(
            Call::post("/v1/patients", ann()),
            json!({"sub": "cognito-user-9", "cognito:groups": "[viewer]", "iss": ISSUER}),
        ))
        .await;
    viewer_writes.expect(403);
}

#[tokio::test]
async fn an_anonymous_call_is_unauthorized_but_health_is_public() {
    let function = Function::behind_an_api_gateway_authorizer().await;
    function
        .invoke(http_api(Call::get("/v1/patients")))
        .await
        .expect(401);
    function
        .invoke(http_api(Call::get("/health")))
        .await
        .expect(200);
}

#[tokio::test]
async fn the_console_loads_without_a_token_under_a_rest_api_stage() {
    // What API Gateway sends for https://ID.execute-api.../prod/console/:
    // the page, whose addresses are relative so that the browser keeps the
    // stage; /console moves there by a relative redirect.
    let function = Function::behind_an_api_gateway_authorizer().await;
    let page = function
        .invoke(rest_api(Call::get("/console/")))
        .await
        .expect(200);
    let html = page.body.as_str().unwrap();
    assert!(html.contains(r#"src="app.js""#), "{html}");
    assert!(!html.contains(r#"="/"#), "no address from the root: {html}");
    let moved = function
        .invoke(rest_api(Call::get("/console")))
        .await
        .expect(308);
    assert_eq!(moved.header("location"), Some("console/"));
    for file in ["/console/config.json", "/console/funnel.js"] {
        function.invoke(rest_api(Call::get(file))).await.expect(200);
    }
}

#[tokio::test]
async fn a_bearer_token_is_not_trusted_when_api_gateway_verifies_callers() {
    let function = Function::behind_an_api_gateway_authorizer().await;
    let token = function.bearer(Role::Admin);
    function
        .invoke(http_api(
            Call::get("/v1/patients").header("authorization", token),
        ))
        .await
        .expect(401);
}

#[tokio::test]
async fn cognito_user_pool_claims_of_a_rest_api_give_the_role() {
    let function = Function::behind_an_api_gateway_authorizer().await;
    // A Cognito user-pool authorizer puts the token's claims under
    // requestContext.authorizer.claims (the capture's custom-authorizer
    // fields replaced).
    let mut event = rest_api(Call::post("/v1/patients", ann()));
    event["requestContext"]["authorizer"] = json!({
        "claims": {"sub": "cognito-user-10", "cognito:groups": "navigator", "email": "n@example.org", "iss": ISSUER}
    });
    function.invoke(event).await.expect(201);
    let anonymous = rest_api(Call::get("/v1/patients"));
    function.invoke(anonymous).await.expect(401);
}

#[tokio::test]
async fn verified_claims_from_another_issuer_are_unauthorized() {
    let function = Function::behind_an_api_gateway_authorizer().await;
    for iss in [
        Some("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_someoneelse"),
        None,
    ] {
        let mut claims = json!({"sub": "cognito-user-11", "cognito:groups": "[admin]"});
        if let Some(iss) = iss {
            claims["iss"] = json!(iss);
        }
        let reply = function
            .invoke(http_api_with_claims(Call::get("/v1/patients"), claims))
            .await
            .expect(401);
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
    }
}

/// An anonymous intake submission, in an event from `source_ip`.
fn intake_event(kind: &str, source_ip: &str, n: usize) -> Value {
    let call = Call::post(
        "/v1/intake-submissions",
        json!({"email": format!("visitor{n}@example.org")}),
    )
    // What a client may write, and must not be believed.
    .header("x-forwarded-for", format!("198.51.100.{n}"));
    match kind {
        "http api" => {
            let mut event = http_api(call);
            event["requestContext"]["http"]["sourceIp"] = json!(source_ip);
            event
        }
        "function url" => {
            let mut event = call.into_v2(fixture("lambda_function_url_request.json"));
            event["requestContext"]["http"]["sourceIp"] = json!(source_ip);
            event
        }
        _ => {
            let mut event = rest_api(call);
            event["requestContext"]["identity"]["sourceIp"] = json!(source_ip);
            event
        }
    }
}

#[tokio::test]
async fn the_intake_limit_counts_the_source_ip_api_gateway_saw() {
    for kind in ["http api", "function url", "rest api"] {
        let function = Function::with_an_intake_limit_of_one().await;
        function
            .invoke(intake_event(kind, "203.0.113.5", 1))
            .await
            .expect(201);
        // The same source IP, whatever X-Forwarded-For says: over the limit.
        let refused = function
            .invoke(intake_event(kind, "203.0.113.5", 2))
            .await
            .expect(429);
        assert_eq!(refused.header("retry-after"), Some("1"), "{kind}");
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json"),
            "{kind}"
        );
        // Another source IP has its own allowance.
        function
            .invoke(intake_event(kind, "203.0.113.6", 3))
            .await
            .expect(201);
    }
}

#[tokio::test]
async fn the_fixtures_own_source_ips_are_read() {
    // The captures as they are: v2 `requestContext.http.sourceIp`
    // (1.2.3.4), v1 `requestContext.identity.sourceIp` (192.168.196.186).
    let function = Function::with_an_intake_limit_of_one().await;
    let form = || Call::post("/v1/intake-submissions", json!({"email": "a@example.org"}));
    function.invoke(http_api(form())).await.expect(201);
    function.invoke(http_api(form())).await.expect(429);
    function.invoke(rest_api(form())).await.expect(201);
    function.invoke(rest_api(form())).await.expect(429);
}

#[tokio::test]
async fn the_migration_function_reports_what_it_applied() {
    let dir = std::env::temp_dir().join(format!("navigator-lambda-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = db::connect(
        &format!("sqlite://{}/m.db", dir.display()),
        PoolSettings::default(),
    )
    .unwrap();
    let first = lambda::migration_report(&db).await.unwrap();
    let versions: Vec<i64> = db::migrations::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(
        first,
        json!({ "applied": versions, "search_terms_backfilled": 0 })
    );
    assert_eq!(
        lambda::migration_report(&db).await.unwrap(),
        json!({"applied": [], "search_terms_backfilled": 0})
    );
    db.close().await.ok();
    let _ = std::fs::remove_dir_all(dir);
}

/// Creates Ann through an HTTP API event; her record's path.
async fn created_patient(function: &Function, token: &str) -> String {
    let created = function
        .invoke(http_api(
            Call::post("/v1/patients", ann()).header("authorization", token.to_owned()),
        ))
        .await
        .expect(201);
    format!("/v1/patients/{}", created.body["id"].as_str().unwrap())
}

/// The patients in the access log, read straight from the database.
async fn logged_reads(function: &Function) -> usize {
    use sea_orm::{EntityTrait, PaginatorTrait};
    navigator::db::entities::access_event_patient::Entity::find()
        .count(&function.db)
        .await
        .unwrap() as usize
}

#[tokio::test]
async fn a_read_is_in_the_access_log_before_its_response_returns() {
    let function = Function::with_bearer_tokens().await;
    let token = function.bearer(Role::Navigator);
    let path = created_patient(&function, &token).await;
    let before = logged_reads(&function).await;
    function
        .invoke(http_api(Call::get(&path).header("authorization", token)))
        .await
        .expect(200);
    // No flush, no waiting: a frozen sandbox would run nothing after this.
    assert_eq!(logged_reads(&function).await, before + 1);
}

#[tokio::test]
async fn a_read_that_cannot_be_logged_is_not_answered() {
    use sea_orm::ConnectionTrait;
    let function = Function::with_bearer_tokens().await;
    let token = function.bearer(Role::Navigator);
    let path = created_patient(&function, &token).await;
    function
        .db
        .execute_unprepared("DROP TABLE access_event_patients")
        .await
        .unwrap();
    let refused = function
        .invoke(http_api(Call::get(&path).header("authorization", token)))
        .await
        .expect(500);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert!(
        !refused.raw["body"].as_str().unwrap().contains("Ann"),
        "the withheld response's data does not leak: {}",
        refused.raw["body"]
    );
}

#[tokio::test]
async fn a_gzip_compressed_docs_asset_goes_back_base64_encoded() {
    let function = Function::with_bearer_tokens().await;
    let asset = function
        .invoke(http_api(Call::get("/docs/swagger-ui.css")))
        .await
        .expect(200);
    assert_eq!(asset.raw["isBase64Encoded"], true);
    assert_eq!(asset.header("content-encoding"), Some("gzip"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(asset.raw["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "the gzip stream itself");
}

// ---------------------------------------------------------------------------
// Configuration as deployed, least privilege, TLS.
// ---------------------------------------------------------------------------

/// The `ENV` of the Dockerfile's image and the environment the deploy
/// template gives `function` (intrinsic values become their resource
/// names), as the image function's process would see them, the template's
/// winning.
fn image_function_environment(function: &str) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let dockerfile = include_str!("../Dockerfile");
    let mut lines = dockerfile.lines();
    while let Some(line) = lines.next() {
        let Some(first) = line.strip_prefix("ENV ") else {
            continue;
        };
        let mut statement = first.trim_end_matches('\\').to_owned();
        let mut continued = line.ends_with('\\');
        while continued {
            let next = lines.next().unwrap_or_default();
            continued = next.ends_with('\\');
            statement.push(' ');
            statement.push_str(next.trim_end_matches('\\'));
        }
        for pair in statement.split_whitespace() {
            let (name, value) = pair.split_once('=').expect("ENV name=value");
            env.insert(name.to_owned(), value.to_owned());
        }
    }
    let template = include_str!("../deploy/template.yaml");
    let start = template
        .find(&format!("\n  {function}:\n"))
        .unwrap_or_else(|| panic!("{function} in the template"));
    let resource = &template[start + 1..];
    // Up to the next resource (the next line indented by exactly two).
    let end = resource
        .match_indices("\n  ")
        .map(|(at, _)| at)
        .find(|&at| resource[at + 3..].starts_with(|c: char| c.is_ascii_alphanumeric()))
        .unwrap_or(resource.len());
    let resource = &resource[..end];
    let variables = resource
        .split("        Variables:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{function}'s environment"));
    for line in variables.lines() {
        let Some(entry) = line.strip_prefix("          ") else {
            break;
        };
        if entry.starts_with(' ') || entry.starts_with('#') || entry.starts_with('-') {
            continue;
        }
        let (name, value) = entry.split_once(':').expect("NAME: value");
        let value = value.trim().trim_matches('"');
        let value = match value.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["!Ref", name] if parameter_default(template, name).is_some() => {
                parameter_default(template, name).unwrap()
            }
            ["!GetAtt", attribute] | ["!Ref", attribute] => attribute.trim_matches('"').to_owned(),
            ["!Sub", text] => substituted(text.trim_matches('"')),
            [] => "(value on the next lines)".to_owned(),
            _ => value.to_owned(),
        };
        env.insert(name.to_owned(), value);
    }
    // What Lambda itself sets in every function's environment.
    env.insert("AWS_REGION".into(), "eu-central-1".into());
    env
}

/// A `!Sub` string with its `${...}` filled in as CloudFormation would,
/// in shape: the Region, and a resource's name (lowercase, as in a host
/// name) for any other reference.
fn substituted(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("${ closed");
        out.push_str(&rest[..start]);
        out.push_str(&match &rest[start + 2..end] {
            "AWS::Region" => "eu-central-1".to_owned(),
            name => name.to_lowercase(),
        });
        rest = &rest[end + 1..];
    }
    out + rest
}

/// The default of the template's parameter `name`, if it is one.
fn parameter_default(template: &str, name: &str) -> Option<String> {
    let parameters = template
        .split("\nParameters:\n")
        .nth(1)?
        .split("\n\n")
        .next()?;
    let start = parameters.find(&format!("\n  {name}:\n"))?;
    let default = parameters[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with("    "))
        .find_map(|line| line.trim().strip_prefix("Default:"))?;
    Some(default.trim().trim_matches('"').to_owned())
}

#[test]
fn an_image_function_is_configured_for_postgres_through_the_proxy_never_sqlite() {
    use navigator::config::{Config, CredentialSource, DatabaseLocation, LambdaMode};
    for (function, mode, user) in [
        ("ApiImageFunction", LambdaMode::Api, "navigator_app"),
        (
            "MigrateImageFunction",
            LambdaMode::Migrate,
            "navigator_owner",
        ),
        ("ApiFunction", LambdaMode::Api, "navigator_app"),
        ("MigrateFunction", LambdaMode::Migrate, "navigator_owner"),
    ] {
        let env = image_function_environment(function);
        let config = Config::from_env(|name| env.get(name).cloned())
            .unwrap_or_else(|err| panic!("{function}: {err}"));
        let config = lambda::lambda_config(config).unwrap();
        assert_eq!(config.lambda_mode, mode, "{function}");
        let DatabaseLocation::Host(host) = &config.database.location else {
            panic!("{function} resolves {:?}", config.database.location)
        };
        assert_eq!(host.host, "DatabaseProxy.Endpoint", "{function}");
        assert!(
            matches!(
                host.ssl_mode.mode(),
                sea_orm::sqlx::postgres::PgSslMode::VerifyFull
            ),
            "{function}"
        );
        assert!(host.ssl_root_cert.is_some(), "{function}");
        assert_eq!(
            host.credentials,
            CredentialSource::IamToken {
                user: user.into(),
                region: "eu-central-1".into()
            },
            "{function}"
        );
        assert_eq!(
            config.database.bootstrap.is_some(),
            mode == LambdaMode::Migrate,
            "{function}"
        );
        // The API's console signs in through the template's hosted UI and
        // its own app client.
        if mode == LambdaMode::Api {
            assert_eq!(
                config.console,
                navigator::http::console::SignIn::Cognito {
                    domain: "https://userpooldomain.auth.eu-central-1.amazoncognito.com".into(),
                    client_id: "ConsoleClient".into(),
                },
                "{function}"
            );
        }
    }
}

#[test]
fn lambda_refuses_the_default_database() {
    let config = navigator::config::Config::from_env(|_| None).unwrap();
    let err = lambda::lambda_config(config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "NAVIGATOR_DB_HOST (or DATABASE_URL) is not set"
    );
}

/// A database and two roles of their own on the test PostgreSQL server
/// (roles are global to the server: their names are unique to the test).
#[tokio::test]
async fn the_api_role_has_data_rights_only_and_the_owner_migrates() {
    use sea_orm::ConnectionTrait;
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = db::connect(&admin_url, PoolSettings::default()).unwrap();
    if let Err(err) = admin.execute_unprepared("SELECT 1").await {
        assert!(
            std::env::var_os("TEST_DATABASE_URL").is_none(),
            "TEST_DATABASE_URL is set but does not answer: {err}"
        );
        eprintln!("SKIPPED on PostgreSQL: no server at {admin_url} ({err})");
        return;
    }
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let tag = &tag[tag.len() - 12..];
    let (name, owner, app_user) = (
        format!("nav_roles_{tag}"),
        format!("nav_owner_{tag}"),
        format!("nav_app_{tag}"),
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    // The same server (trust authentication, as in CI) as another user.
    let server = admin_url
        .rsplit_once('@')
        .map_or(admin_url.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let url_as = |user: &str| format!("postgres://{user}@{server}/{name}");
    let on_database = db::connect(&url_as("postgres"), PoolSettings::default()).unwrap();
    lambda::bootstrap_roles(&on_database, &owner, &app_user)
        .await
        .unwrap();
    // Twice: every deploy runs it.
    lambda::bootstrap_roles(&on_database, &owner, &app_user)
        .await
        .unwrap();
    on_database.close().await.ok();

    let as_owner = db::connect(&url_as(&owner), PoolSettings::default()).unwrap();
    assert!(
        !lambda::migration_report(&as_owner).await.unwrap()["applied"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    lambda::grant_data_rights(&as_owner, &app_user)
        .await
        .unwrap();
    as_owner.close().await.ok();

    let as_app = db::connect(&url_as(&app_user), PoolSettings::default()).unwrap();
    let function = Function {
        router: app(lambda::state(
            as_app.clone(),
            Authenticator::Jwt(Arc::new(JwtKeys::new(SECRET))),
        )),
        db: as_app.clone(),
        keys: Arc::new(JwtKeys::new(SECRET)),
        dir: std::env::temp_dir().join(format!("navigator-roles-{tag}")),
    };
    let token = function.bearer(Role::Navigator);
    let path = created_patient(&function, &token).await;
    function
        .invoke(http_api(Call::get(&path).header("authorization", token)))
        .await
        .expect(200);
    for ddl in [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE patients",
        "ALTER TABLE patients ADD COLUMN x int",
        "TRUNCATE access_event_patients",
    ] {
        let err = as_app.execute_unprepared(ddl).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied")
                || err.to_string().contains("must be owner"),
            "{ddl}: {err}"
        );
    }
    as_app.close().await.ok();
    drop(function);

    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("DROP ROLE {app_user}; DROP ROLE {owner}"))
        .await
        .unwrap();
}

/// A PostgreSQL server's first steps on 127.0.0.1:`port`: it answers the
/// client's SSLRequest with `S` and completes a TLS handshake with the
/// certificate in `tests/fixtures/tls/` (self-signed, for 127.0.0.1), then
/// hangs up. Whether the handshake completed.
fn tls_server(port: u16) -> std::thread::JoinHandle<bool> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        let cert =
            CertificateDer::from_pem_slice(include_bytes!("fixtures/tls/server-cert.pem")).unwrap();
        let key =
            PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/tls/server-key.pem")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        let (mut socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut ssl_request = [0u8; 8];
        socket.read_exact(&mut ssl_request).unwrap();
        assert_eq!(ssl_request, [0, 0, 0, 8, 4, 210, 22, 47], "an SSLRequest");
        socket.write_all(b"S").unwrap();
        let mut tls = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        while tls.is_handshaking() {
            if tls.complete_io(&mut socket).is_err() {
                return false;
            }
        }
        true
    })
}

/// Connects with the options the function builds (`verify-full`, the root
/// bundle at `bundle`) to the TLS server on `port`; the error.
async fn connect_verified(port: u16, bundle: &str) -> sea_orm::sqlx::Error {
    use navigator::config::{CredentialSource, PostgresHost};
    use sea_orm::sqlx::{ConnectOptions, postgres::PgConnectOptions};
    let vars = [
        ("NAVIGATOR_DB_HOST", "127.0.0.1".to_owned()),
        ("NAVIGATOR_DB_PORT", port.to_string()),
        ("NAVIGATOR_DB_USER", "navigator_app".to_owned()),
        ("AWS_REGION", "eu-central-1".to_owned()),
        (
            "NAVIGATOR_DB_SSLROOTCERT",
            format!("{}/tests/fixtures/tls/{bundle}", env!("CARGO_MANIFEST_DIR")),
        ),
    ];
    let config = navigator::config::DatabaseConfig::from_env(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let navigator::config::DatabaseLocation::Host(host) = &config.location else {
        panic!("by host")
    };
    let host: &PostgresHost = host;
    assert!(matches!(
        host.credentials,
        CredentialSource::IamToken { .. }
    ));
    let credentials = lambda::Credentials {
        username: "navigator_app".into(),
        password: "token".into(),
    };
    let options: PgConnectOptions = lambda::connect_options(host, "127.0.0.1", &credentials);
    tokio::time::timeout(std::time::Duration::from_secs(20), options.connect())
        .await
        .expect("the connection attempt ends")
        .expect_err("the fake server never completes a PostgreSQL start-up")
}

#[tokio::test]
async fn a_database_certificate_the_bundle_does_not_trust_is_refused() {
    let server = tls_server(4161);
    let err = connect_verified(4161, "other-ca.pem").await;
    assert!(
        format!("{err:?}").contains("InvalidCertificate(UnknownIssuer)"),
        "refused for its issuer: {err:?}"
    );
    assert!(!server.join().unwrap(), "the handshake did not complete");

    // The control: the same server, its certificate in the bundle.
    let server = tls_server(4162);
    let err = connect_verified(4162, "server-cert.pem").await;
    assert!(server.join().unwrap(), "the handshake completed");
    assert!(
        !format!("{err:?}").contains("InvalidCertificate"),
        "not a certificate error: {err:?}"
    );
}

/// A REST API event without the capture's Cognito claims: what API Gateway
/// sends for a route with no authorizer, such as the preflight route.
fn rest_api_anonymous(call: Call) -> Value {
    let mut event = rest_api(call);
    event["requestContext"]["authorizer"] = json!({});
    event
}

#[tokio::test]
async fn a_preflight_without_a_token_is_answered_for_a_configured_origin() {
    let function = Function::configured(
        Authenticator::ApiGateway {
            roles_claim: "cognito:groups".into(),
            issuer: ISSUER.into(),
        },
        |state| {
            let origins =
                navigator::http::security::parse_origins(["https://portal.example.org"]).unwrap();
            state.with_cors_origins(origins)
        },
    )
    .await;
    let preflight = |origin: &'static str| Call {
        method: "OPTIONS",
        ..Call::get("/v1/patients")
            .header("origin", origin.to_owned())
            .header("access-control-request-method", "PATCH".to_owned())
            .header(
                "access-control-request-headers",
                "authorization,if-match".to_owned(),
            )
    };
    let allowed = function
        .invoke(rest_api_anonymous(preflight("https://portal.example.org")))
        .await;
    assert!(
        (200..300).contains(&allowed.status),
        "a preflight is not a 401: {}",
        allowed.status
    );
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://portal.example.org")
    );
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(methods.contains("PATCH"), "{methods}");
    let other = function
        .invoke(rest_api_anonymous(preflight("https://elsewhere.example")))
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}
