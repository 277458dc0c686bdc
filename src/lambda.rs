//! The AWS Lambda entry: the same [`crate::http::app`] router the local
//! server runs, served through `lambda_http`, plus the deploy-time migration
//! function. `cli::main` comes here instead of parsing a command line when
//! `AWS_LAMBDA_RUNTIME_API` is set (the Lambda runtime, or `cargo lambda
//! watch`, started the process). It owns the Lambda-specific configuration
//! and the request preparation below; it holds no API logic.
//!
//! # Events
//!
//! API Gateway HTTP API (payload 2.0), REST API (payload 1.0) and function
//! URLs (shaped like 2.0) are all accepted; `lambda_http` turns each into an
//! HTTP request and the router's response back into the matching event
//! response (JSON and `problem+json` bodies stay text, not base64).
//!
//! # Stages
//!
//! A REST API event carries the path without its stage (`/v1/patients` for
//! `https://…/prod/v1/patients`), and `lambda_http` puts the stage back in
//! front (`/prod/v1/patients`) unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`
//! is set (to anything; the template sets `true`). An HTTP API on a named
//! stage (not `$default`) has the stage in `rawPath` either way. So that the
//! router always sees `/v1/…` whatever that setting, [`handle`] removes a
//! leading `/{stage}` that the event's own path did not have (REST API) or
//! that names the stage (HTTP API); `$default` stages and function URLs have
//! no prefix. `Location` headers are written without a stage: behind a REST
//! API on a named stage a client resolves them against the stage itself.
//!
//! # Configuration (environment), read on the first invocation
//!
//! | variable | default | what |
//! | --- | --- | --- |
//! | `DATABASE_URL` | | if set, the database (local runs, the emulator); else the `NAVIGATOR_DB_*` below |
//! | `NAVIGATOR_DB_HOST` | required without `DATABASE_URL` | PostgreSQL (RDS Proxy) host |
//! | `NAVIGATOR_DB_PORT` | `5432` | its port |
//! | `NAVIGATOR_DB_NAME` | required without `DATABASE_URL` | database name |
//! | `NAVIGATOR_DB_SSLMODE` | `require` | `disable`, `prefer`, `require`, `verify-ca`, `verify-full` |
//! | `NAVIGATOR_DB_SECRET_ARN` | required without `DATABASE_URL` | Secrets Manager secret with JSON `username` and `password` |
//! | `NAVIGATOR_DB_MAX_CONNECTIONS` | `1` | pool size per execution environment |
//! | `NAVIGATOR_AUTH` | (bearer JWT) | `apigateway`: trust the claims API Gateway's authorizer verified |
//! | `NAVIGATOR_ROLES_CLAIM` | `cognito:groups` | the claim naming the caller's role(s), with `apigateway` |
//! | `NAVIGATOR_JWT_ISSUER` | required with `apigateway` | the `iss` the verified claims must carry (the Cognito user pool's issuer URL) |
//! | `NAVIGATOR_JWT_SECRET` | required without `apigateway` | HS256 secret for bearer tokens |
//! | `NAVIGATOR_CORS_ORIGINS` | none | origins allowed by CORS, comma-separated; `*` is refused |
//! | `NAVIGATOR_INTAKE_BURST` | `30` | public intake submissions per client at once (see [`crate::http::intake_guard`]) |
//! | `NAVIGATOR_INTAKE_PER_SECOND` | `1` | then per second, per client |
//! | `NAVIGATOR_CONSOLE_COGNITO_DOMAIN` | none | the Cognito hosted UI's origin: the console at `/console` signs in there (with the next; see [`crate::http::console`]) |
//! | `NAVIGATOR_CONSOLE_CLIENT_ID` | none | the app client the console signs in as |
//! | `NAVIGATOR_LAMBDA_MODE` | `api` | `migrate`: the migration function below |
//! | `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` | `2773` | the secrets extension's port (its own setting) |
//!
//! The database credentials come from the AWS Parameters and Secrets Lambda
//! Extension (a layer; a container image must carry it in
//! `/opt/extensions`), asked once per execution environment on
//! `127.0.0.1`, with the function's `AWS_SESSION_TOKEN`.
//!
//! # Start-up
//!
//! Nothing is read, fetched or connected before the first invocation: it
//! builds the state (settings, secret, a lazy pool) and the router once, and
//! later invocations of the execution environment reuse them. A failure
//! (say `NAVIGATOR_JWT_SECRET` missing) fails that invocation with a logged
//! error, and the next invocation tries again. The API never migrates.
//!
//! # Authentication
//!
//! With `NAVIGATOR_AUTH=apigateway`, the claims of the request context
//! (`authorizer.jwt.claims` of an HTTP API JWT authorizer; `authorizer.claims`
//! of a REST API Cognito user-pool authorizer) are put in the request as
//! [`VerifiedClaims`]; a request without them is anonymous, and a bearer
//! token in it is ignored. Claims whose `iss` is not `NAVIGATOR_JWT_ISSUER`
//! are refused (401). Otherwise callers present bearer tokens signed with
//! `NAVIGATOR_JWT_SECRET`, as with the local server.
//!
//! # The client's address
//!
//! The source IP API Gateway saw (`requestContext.http.sourceIp` of payload
//! 2.0 and function URLs, `requestContext.identity.sourceIp` of a REST API)
//! is put in the request as [`ClientIp`]: the client the public intake's
//! rate limit counts. No header (`X-Forwarded-For`...) is read.
//!
//! # Migration mode
//!
//! With `NAVIGATOR_LAMBDA_MODE=migrate` the function takes any JSON event,
//! applies pending migrations and answers `{"applied": [versions]}`; the
//! deploy template's custom resource invokes it at each deploy.

mod secrets;
mod settings;

use std::process::ExitCode;

use axum::Router;
use lambda_http::{
    Adapter, LambdaEvent, RequestExt,
    lambda_runtime::Diagnostic,
    request::{LambdaRequest, RequestContext},
    service_fn,
    tower::{ServiceBuilder, ServiceExt},
};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

pub use secrets::{Credentials, FetchError, fetch_secret, parse_secret};
pub use settings::{Auth, DatabaseLocation, DatabaseSettings, Settings, SslMode, StartError};

use crate::{
    config, db,
    http::{AppState, Authenticator, ClientIp, app, auth::VerifiedClaims},
};

/// The API's state as the function serves it: [`AppState::new`]'s, whose
/// access log is written inline, before each response returns, as a
/// sandbox frozen after an invocation may never run a background writer
/// again.
pub fn state(db: DatabaseConnection, auth: Authenticator) -> AppState {
    AppState::new(db, auth)
}

/// Runs the Lambda runtime's loop on a single-threaded tokio runtime (one
/// invocation at a time: smaller and quicker to start); the process's exit
/// code. Logs are JSON lines.
pub fn main() -> ExitCode {
    config::init_tracing(true);
    let mode = std::env::var("NAVIGATOR_LAMBDA_MODE").unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = match mode.as_str() {
        "" | "api" => runtime.block_on(lambda_http::lambda_runtime::run(service_fn(api))),
        "migrate" => runtime.block_on(lambda_http::lambda_runtime::run(service_fn(migrate))),
        _ => {
            tracing::error!("NAVIGATOR_LAMBDA_MODE must be api or migrate");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// The router of this execution environment, built on first use.
static APP: OnceCell<Router> = OnceCell::const_new();

/// An API invocation. A failure to build the state fails the invocation
/// (the runtime logs it once and reports it to Lambda); the next one tries
/// again.
async fn api(event: LambdaEvent<LambdaRequest>) -> Result<impl Serialize, Diagnostic> {
    let app = APP
        .get_or_try_init(|| async {
            let settings = Settings::from_env(|name| std::env::var(name).ok())?;
            settings::build_state(settings).await.map(app)
        })
        .await
        .map_err(|err: StartError| Diagnostic::from(err))?;
    Ok(handle(app.clone(), event).await)
}

/// A migration invocation: any event; connects, migrates, disconnects.
async fn migrate(_: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let database = DatabaseSettings::from_env(|name| std::env::var(name).ok())?;
    let db = database.connect().await?;
    let report = migration_report(&db).await;
    db.close().await.ok();
    let report = report.map_err(StartError::from)?;
    tracing::info!(%report, "database is up to date");
    Ok(report)
}

/// Applies pending migrations; what the migration function answers:
/// `{"applied": [versions]}`.
pub async fn migration_report(db: &DatabaseConnection) -> Result<Value, DbErr> {
    Ok(json!({ "applied": db::migrations::run(db).await? }))
}

/// Serves one event through `app`: the work of every API invocation, and
/// what the tests call. The answer is the event response `lambda_http`
/// makes for the event's origin (REST API, HTTP API or function URL), as
/// serialized back to Lambda.
pub async fn handle(app: Router, event: LambdaEvent<LambdaRequest>) -> impl Serialize {
    let service = ServiceBuilder::new().map_request(prepare).service(app);
    match Adapter::from(service).oneshot(event).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Removes the stage prefix and copies the authorizer's verified claims and
/// the source IP into the request (see the module notes).
fn prepare(mut request: lambda_http::Request) -> lambda_http::Request {
    let source_ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.as_deref(),
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref(),
        _ => None,
    }
    .and_then(|ip| ip.trim().parse().ok());
    if let Some(ip) = source_ip {
        request.extensions_mut().insert(ClientIp(ip));
    }
    let (prefix, claims) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => (
            stage_prefix(
                context.stage.as_deref(),
                request.uri().path(),
                Some(request.raw_http_path()),
            ),
            match context.authorizer.fields.get("claims") {
                Some(Value::Object(claims)) => Some(claims.clone()),
                _ => None,
            },
        ),
        Some(RequestContext::ApiGatewayV2(context)) => (
            stage_prefix(context.stage.as_deref(), request.uri().path(), None),
            context
                .authorizer
                .as_ref()
                .and_then(|authorizer| authorizer.jwt.as_ref())
                .filter(|jwt| !jwt.claims.is_empty())
                .map(|jwt| {
                    jwt.claims
                        .iter()
                        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                        .collect::<Map<_, _>>()
                }),
        ),
        _ => (None, None),
    };
    if let Some(prefix) = prefix {
        strip_path_prefix(&mut request, prefix);
    }
    if let Some(claims) = claims {
        request.extensions_mut().insert(VerifiedClaims(claims));
    }
    request
}

/// The length of the `/{stage}` prefix to remove from `path`, if any.
/// `event_path` is a REST API event's own `path`: when it already starts
/// with the stage, the stage is part of the resource path, not a prefix.
fn stage_prefix(stage: Option<&str>, path: &str, event_path: Option<&str>) -> Option<usize> {
    let stage = stage.filter(|s| !s.is_empty() && *s != "$default")?;
    let starts_with_stage = |p: &str| {
        p.strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(stage))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let added = starts_with_stage(path) && !event_path.is_some_and(starts_with_stage);
    added.then_some(1 + stage.len())
}

fn strip_path_prefix(request: &mut lambda_http::Request, prefix: usize) {
    let uri = request.uri();
    let rest = uri.path().get(prefix..).unwrap_or_default();
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_prefix_is_removed_only_where_it_is_one() {
        // REST API: lambda_http added the stage (the variable unset)...
        assert_eq!(
            stage_prefix(Some("prod"), "/prod/v1/patients", Some("/v1/patients")),
            Some(5)
        );
        // ...or did not (AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH set).
        assert_eq!(
            stage_prefix(Some("prod"), "/v1/patients", Some("/v1/patients")),
            None
        );
        // A stage named like the first segment of the resource path:
        // lambda_http adds no prefix then, and none is removed.
        assert_eq!(
            stage_prefix(Some("v1"), "/v1/patients", Some("/v1/patients")),
            None
        );
        // HTTP API: a named stage is in rawPath; $default never is.
        assert_eq!(
            stage_prefix(Some("Prod"), "/Prod/v1/patients", None),
            Some(5)
        );
        assert_eq!(stage_prefix(Some("Prod"), "/Production", None), None);
        assert_eq!(stage_prefix(Some("$default"), "/v1/patients", None), None);
        assert_eq!(stage_prefix(None, "/v1/patients", None), None);
    }
}
