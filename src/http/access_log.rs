//! Recording reads of personal data. A handler that returns patients' data
//! wraps its response in [`Disclosed`]; the [`Record`] middleware, which
//! knows the method and route, writes the access event. If it cannot, the
//! response is withheld (500): no personal data leaves unlogged.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use axum::{
    extract::{MatchedPath, Request},
    response::{IntoResponse, Response},
};
use futures::future::BoxFuture;
use sea_orm::prelude::Uuid;
use tower::{Layer, Service};

use super::{ApiError, Principal};
use crate::db::access_log::{AccessEvent, AccessLog};

/// The patients whose data a response carries, and who asked.
#[derive(Debug, Clone)]
struct Disclosure {
    actor: String,
    patients: Vec<Uuid>,
}

/// A response carrying these patients' personal data, for a handler's
/// return type: `Disclosed::new(&who, ids, Json(page))`.
pub struct Disclosed<T> {
    actor: String,
    patients: Vec<Uuid>,
    body: T,
}

impl<T> Disclosed<T> {
    /// `body` carries the data of `patients`, read by `who`.
    pub fn new(who: &Principal, patients: impl IntoIterator<Item = Uuid>, body: T) -> Self {
        Self {
            actor: who.subject.clone(),
            patients: patients.into_iter().collect(),
            body,
        }
    }
}

impl<T: IntoResponse> IntoResponse for Disclosed<T> {
    fn into_response(self) -> Response {
        let mut response = self.body.into_response();
        if response.status().is_success() && !self.patients.is_empty() {
            response.extensions_mut().insert(Disclosure {
                actor: self.actor,
                patients: self.patients,
            });
        }
        response
    }
}

/// Wraps each route in [`Record`].
#[derive(Clone)]
pub struct RecordLayer {
    log: AccessLog,
}

impl RecordLayer {
    /// Access events go to `log`.
    pub fn new(log: AccessLog) -> Self {
        Self { log }
    }
}

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record {
            inner,
            log: self.log.clone(),
        }
    }
}

/// A route whose marked responses are logged before they are sent. A
/// tower service, not an `axum::middleware::from_fn`, which also clones
/// and boxes the rest of the stack for every request.
#[derive(Clone)]
pub struct Record<S> {
    inner: S,
    log: AccessLog,
}

impl<S> Service<Request> for Record<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Kept (cheap clones) and formatted only for a response that
        // discloses data, not for every request.
        let method = request.method().clone();
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let response = self.inner.call(request);
        let log = self.log.clone();
        Box::pin(async move {
            let Ok(mut response) = response.await;
            let Some(Disclosure { actor, patients }) =
                response.extensions_mut().remove::<Disclosure>()
            else {
                return Ok(response);
            };
            let event = AccessEvent {
                actor,
                route: [
                    method.as_str(),
                    " ",
                    matched.as_ref().map_or("unmatched", MatchedPath::as_str),
                ]
                .concat(),
                patients,
            };
            Ok(match log.record(event).await {
                Ok(()) => response,
                Err(err) => ApiError::Internal(format!("access log: {err}")).into_response(),
            })
        })
    }
}
