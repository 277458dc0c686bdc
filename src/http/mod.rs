//! The HTTP API: one router, [`app`], served alike by the local server, the
//! Lambda entry and the tests.
//!
//! A request passes the middleware (request id, tracing without personal
//! data, panic guard, body limit), is routed to a
//! handler in `resources/`, whose extractors parse it into domain types (or
//! fail with problem+json), and whose body calls the generic store in
//! `db::store`.

pub mod access_log;
pub mod auth;
pub mod console;
pub mod docs;
pub mod error;
pub mod extract;
pub mod health;
pub mod history;
pub mod idempotency;
pub mod intake_guard;
pub mod openapi;
pub mod pagination;
pub mod resources;
pub mod security;
pub mod server;
pub mod timestamp;
pub mod versioning;
pub mod writes;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method},
    response::Response,
};
use sea_orm::DatabaseConnection;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use tracing::{Level, Span};
use uuid::Uuid;

pub use crate::db::access_log::AccessLog;
pub use auth::{Authenticator, JwtKeys, Principal};
pub use error::{ApiError, ApiResult};
pub use intake_guard::{ClientIp, IntakeLimit, IntakeLimiter};

/// What every handler shares: the database and how to authenticate. One
/// allocation behind an `Arc`: axum clones the state for each extractor and
/// middleware of every request, and cloning the fields themselves (the
/// CORS list is a `Vec`) cost a few percent of a GET's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`], which dereferences to them.
#[derive(Clone)]
pub struct Shared {
    /// The connection pool (SQLite or PostgreSQL).
    pub db: DatabaseConnection,
    /// How callers are authenticated.
    pub auth: Authenticator,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    /// Never `*`: check configured ones with [`security::parse_origins`].
    pub cors_origins: Vec<HeaderValue>,
    /// The public intake's per-client rate limit.
    pub intake_limiter: IntakeLimiter,
    /// Where reads of patients' personal data are recorded.
    pub access_log: AccessLog,
    /// How the console at `/console` signs staff in.
    pub console: console::SignIn,
    /// The callers known to have a staff record.
    pub roster: crate::db::staff::Roster,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The state with the defaults for everything but the database and
    /// the authenticator: reads of personal data logged inline (no task
    /// started; `serve` gives the log a writer thread of its own); no
    /// browser origins allowed; public intake limited
    /// to a burst of 30 per client, then one per second.
    pub fn new(db: DatabaseConnection, auth: Authenticator) -> Self {
        Self(Arc::new(Shared {
            auth,
            cors_origins: Vec::new(),
            intake_limiter: IntakeLimiter::default(),
            access_log: AccessLog::inline(db.clone()),
            console: console::SignIn::default(),
            roster: Default::default(),
            db,
        }))
    }

    /// Records reads through `log` (e.g. [`AccessLog::inline`] on Lambda).
    pub fn with_access_log(mut self, log: AccessLog) -> Self {
        Arc::make_mut(&mut self.0).access_log = log;
        self
    }

    /// Limits public intake submissions per client to `limit` (fresh
    /// counters).
    pub fn with_intake_limit(mut self, limit: IntakeLimit) -> Self {
        Arc::make_mut(&mut self.0).intake_limiter = IntakeLimiter::new(limit);
        self
    }

    /// Signs the console's staff in this way.
    pub fn with_console_sign_in(mut self, sign_in: console::SignIn) -> Self {
        Arc::make_mut(&mut self.0).console = sign_in;
        self
    }

    /// Allows these origins to call the API from a browser.
    pub fn with_cors_origins(mut self, origins: Vec<HeaderValue>) -> Self {
        Arc::make_mut(&mut self.0).cors_origins = origins;
        self
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API as a router, with its middleware.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// [`app`] with `extra` routes behind the same middleware: how a test
/// serves a route the API does not have (one that panics, say) exactly as
/// the API's own routes are served, without shipping it.
pub fn app_with(state: AppState, extra: Router) -> Router {
    let cors_origins = state.cors_origins.clone();
    let intake_limiter = state.intake_limiter.clone();
    let access_log = state.access_log.clone();
    let console = console::router(&state.console);
    let router = openapi::served()
        .with_state(state)
        .merge(docs::router())
        .merge(extra)
        .merge(console)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    // Method, route template, status and latency only: never the URI,
    // whose query may hold an email address. At DEBUG: a line per request
    // costs more than the request at load (API Gateway's access logs record
    // every request on AWS). Only where DEBUG is on for this module when
    // the router is built (`RUST_LOG` is read at start): otherwise the
    // layer logged nothing yet timed and wrapped every response.
    let trace = tracing::enabled!(Level::DEBUG).then(|| {
        ServiceBuilder::new().map_response(boxed_body).layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(MatchedPath::as_str)
                        .unwrap_or("unmatched");
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::debug_span!("request", method = %req.method(), route, request_id = id)
                })
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
    });
    // A panicking handler answers 500 problem+json and the server goes on
    // (the release build unwinds, see Cargo.toml). The panic itself is
    // logged once, by the hook of `log_panics`, not again here.
    let catch_panic = CatchPanicLayer::custom(|_| error::internal_response());
    // One stack, outermost first, added with a single `layer` call: each
    // `Router::layer` call boxes every route once more, and axum clones the
    // whole chain of boxes for each request.
    let middleware = ServiceBuilder::new()
        .map_request(drop_unsafe_request_id::<Body>)
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(tower::util::option_layer(trace))
        .map_response(boxed_body)
        .layer(catch_panic)
        // With no portal origin configured (the default), no CORS layer:
        // browsers get no permission either way, and no request pays for
        // its `Vary` and `Access-Control-Expose-Headers`.
        .layer(tower::util::option_layer(
            (!cors_origins.is_empty()).then(|| cors(cors_origins)),
        ))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(writes::WritesLayer::new(intake_limiter))
        .layer(access_log::RecordLayer::new(access_log));
    security::headers(router.layer(middleware))
}

/// The response with its body as axum's own: an optional layer's
/// response must have the type of the stack without it.
fn boxed_body<B>(response: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    response.map(Body::new)
}

/// Removes a client's `x-request-id` unless it is a UUID (36 characters,
/// hyphenated), so that a fresh one is made: the id is echoed in the
/// response and logged, and free text there could carry anything, a
/// patient's name included. A UUID still lets a client correlate its
/// requests with the server's logs.
fn drop_unsafe_request_id<B>(mut request: Request<B>) -> Request<B> {
    let safe = request
        .headers()
        .get(REQUEST_ID)
        .is_none_or(|value| value.len() == 36 && Uuid::try_parse_ascii(value.as_bytes()).is_ok());
    if !safe {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// Makes every panic one `ERROR` event of the process's log (with its
/// message and location) instead of the standard library's plain text on
/// stderr: once per panic, in the log's format (JSON lines on Lambda). A
/// request's panic is then answered 500 by the router without a second
/// line. The entry points call it when they set up logging.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            tracing::error!(%location, %backtrace, "panicked: {message}");
        } else {
            tracing::error!(%location, "panicked: {message}");
        }
    }));
}

/// A random (v4) UUID for each request's `x-request-id`, written without
/// `core::fmt` (tower-http's `MakeRequestUuid` formats and re-parses it).
#[derive(Clone, Copy)]
struct RequestUuid;

impl MakeRequestId for RequestUuid {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut text = Uuid::encode_buffer();
        let id = Uuid::new_v4().hyphenated().encode_lower(&mut text);
        Some(RequestId::new(
            HeaderValue::from_str(id).expect("a UUID is a valid header value"),
        ))
    }
}

fn log_response<B>(res: &axum::http::Response<B>, latency: Duration, _: &Span) {
    tracing::debug!(
        status = res.status().as_u16(),
        latency_us = latency.as_micros() as u64,
        "response"
    );
}

/// Exactly the listed origins (never `*`), and never credentials: the API
/// takes bearer tokens, not cookies.
fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_credentials(false)
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::header::IF_MATCH,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            axum::http::header::ETAG,
            axum::http::header::LOCATION,
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(600))
}
