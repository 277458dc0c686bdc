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
//! # Configuration
//!
//! [`crate::config::Config`], read on the first invocation from the same
//! variables with the same defaults as the local server (the README's
//! table). Lambda differs in one thing: it refuses the default database, as
//! its file system has no place for the SQLite file and a function that
//! silently ran on one would lose every write.
//!
//! On AWS the database is PostgreSQL through RDS Proxy (`NAVIGATOR_DB_HOST`),
//! TLS verified against the RDS certificate bundle shipped with the function
//! (`NAVIGATOR_DB_SSLMODE=verify-full`, `NAVIGATOR_DB_SSLROOTCERT`), and the
//! password an IAM authentication token the function signs with its own
//! role's credentials ([`iam`]): tokens admit new connections for 15
//! minutes, so the state is built again, with a new token, every
//! [`IAM_STATE_LIFETIME`]. With `NAVIGATOR_DB_SECRET_ARN` instead, the
//! credentials come from the AWS Parameters and Secrets Lambda Extension (a
//! layer; in a container image, `/opt/extensions`).
//!
//! # Start-up
//!
//! Nothing is read, fetched or connected before the first invocation: it
//! builds the state (configuration, credentials, a lazy pool) and the
//! router, and later invocations of the execution environment reuse them.
//! A failure (say `NAVIGATOR_JWT_SECRET` missing) fails that invocation
//! with a logged error, and the next invocation tries again. The API never
//! migrates.
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
//! With `NAVIGATOR_LAMBDA_MODE=migrate` the function takes any JSON event and
//! runs [`migrate`]: with `NAVIGATOR_DB_BOOTSTRAP_*` set, it first sets up
//! the roles as the instance's administrator (the schema's owner, which
//! migrates, and the API's user, with data rights only), then applies
//! pending migrations as the owner and answers `{"applied": [versions]}`;
//! the deploy template's custom resource invokes it at each deploy.

mod database;
pub mod iam;
mod secrets;

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use axum::Router;
use lambda_http::{
    Adapter, LambdaEvent, RequestExt,
    lambda_runtime::Diagnostic,
    request::{LambdaRequest, RequestContext},
    service_fn,
    tower::{ServiceBuilder, ServiceExt},
};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

pub use database::{
    StartError, bootstrap_roles, connect, connect_options, grant_data_rights, migrate,
    migration_report,
};
pub use secrets::{Credentials, FetchError, fetch_secret, parse_secret};

use crate::{
    config::{self, Auth, Config, ConfigError, CredentialSource, DatabaseLocation, LambdaMode},
    db,
    http::{AppState, Authenticator, ClientIp, JwtKeys, app, auth::VerifiedClaims},
};

/// How long a state whose database password is an IAM token serves before
/// it is built again: new connections need a token under 15 minutes old.
pub const IAM_STATE_LIFETIME: Duration = Duration::from_secs(600);

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
    let mode = match Config::from_process_env() {
        Ok(config) => config.lambda_mode,
        // Reported by each invocation, where Lambda records it.
        Err(_) => LambdaMode::Api,
    };
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
    let result = match mode {
        LambdaMode::Api => runtime.block_on(lambda_http::lambda_runtime::run(service_fn(api))),
        LambdaMode::Migrate => {
            runtime.block_on(lambda_http::lambda_runtime::run(service_fn(migrate_event)))
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

/// The router of this execution environment, built on first use, and when
/// it must be built again.
static APP: Mutex<Option<(Router, Option<Instant>)>> = Mutex::const_new(None);

/// An API invocation. A failure to build the state fails the invocation
/// (the runtime logs it once and reports it to Lambda); the next one tries
/// again.
async fn api(event: LambdaEvent<LambdaRequest>) -> Result<impl Serialize, Diagnostic> {
    let app = {
        let mut built = APP.lock().await;
        match &*built {
            Some((router, renew)) if renew.is_none_or(|at| Instant::now() < at) => router.clone(),
            _ => {
                let config = lambda_config(Config::from_process_env()?)?;
                let renew = config
                    .iam_token()
                    .then(|| Instant::now() + IAM_STATE_LIFETIME);
                let router = app(build_state(config).await?);
                *built = Some((router.clone(), renew));
                router
            }
        }
    };
    Ok(handle(app, event).await)
}

/// The configuration as Lambda may use it: its one difference from the
/// other entry points (see the module notes).
pub fn lambda_config(config: Config) -> Result<Config, StartError> {
    if config.database.is_default() {
        return Err(StartError::Missing("NAVIGATOR_DB_HOST (or DATABASE_URL)"));
    }
    Ok(config)
}

impl From<ConfigError> for Diagnostic {
    fn from(err: ConfigError) -> Self {
        StartError::from(err).into()
    }
}

impl Config {
    /// Whether the database password is an IAM token (which expires).
    fn iam_token(&self) -> bool {
        matches!(&self.database.location, DatabaseLocation::Host(host)
            if matches!(host.credentials, CredentialSource::IamToken { .. }))
    }
}

/// Builds the API's state: the database pool and the authenticator.
pub async fn build_state(config: Config) -> Result<AppState, StartError> {
    let auth = match &config.auth {
        Auth::ApiGateway {
            roles_claim,
            issuer,
        } => Authenticator::ApiGateway {
            roles_claim: roles_claim.clone(),
            issuer: issuer.clone(),
        },
        Auth::Jwt => {
            let (secret, _) = config::jwt_secret(&config)?;
            Authenticator::Jwt(JwtKeys::new(&secret).into())
        }
    };
    let pool = db::PoolSettings {
        // Connections idle through a frozen sandbox may be gone.
        test_before_acquire: true,
        ..config.database.pool()
    };
    let db = connect(&config.database, pool).await?;
    tracing::info!(backend = ?db.get_database_backend(), "API state built");
    Ok(state(db, auth)
        .with_console_sign_in(config.console)
        .with_cors_origins(config.cors_origins)
        .with_intake_limit(config.intake_limit))
}

/// A migration invocation: any event; connects, migrates, disconnects.
async fn migrate_event(_: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let config = lambda_config(Config::from_process_env()?)?;
    let report = migrate(&config.database).await?;
    tracing::info!(%report, "database is up to date");
    Ok(report)
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
