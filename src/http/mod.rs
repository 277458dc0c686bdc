//! The HTTP API: one router, [`app`], served alike by the local server, the
//! Lambda entry and the tests.
//!
//! A request passes the middleware (request id, tracing without personal
//! data, body limit, panic guard in unwinding builds), is routed to a
//! handler in `resources/`, whose extractors parse it into domain types (or
//! fail with problem+json), and whose body calls the generic store in
//! `db::store`.

pub mod access_log;
pub mod auth;
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

    /// Allows these origins to call the API from a browser.
    pub fn with_cors_origins(mut self, origins: Vec<HeaderValue>) -> Self {
        Arc::make_mut(&mut self.0).cors_origins = origins;
        self
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API as a router, with its middleware.
pub fn app(state: AppState) -> Router {
    let cors_origins = state.cors_origins.clone();
    let intake_limiter = state.intake_limiter.clone();
    let access_log = state.access_log.clone();
    let (router, api) = openapi::router().with_state(state).split_for_parts();
    let router = router
        .merge(openapi::docs(api))
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
    // Where panics unwind (debug builds, the tests) a panicking handler
    // answers 500 problem+json. The release build aborts on panic (see
    // Cargo.toml: the 15 MB binary target): there a panic ends the process
    // and its in-flight requests, and the layer could catch nothing.
    let catch_panic = cfg!(panic = "unwind").then(|| {
        ServiceBuilder::new()
            .map_response(boxed_body)
            .layer(CatchPanicLayer::custom(|_| {
                axum::response::IntoResponse::into_response(ApiError::Internal(
                    "handler panicked".into(),
                ))
            }))
    });
    // One stack, outermost first, added with a single `layer` call: each
    // `Router::layer` call boxes every route once more, and axum clones the
    // whole chain of boxes for each request.
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(tower::util::option_layer(trace))
        .layer(tower::util::option_layer(catch_panic))
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
