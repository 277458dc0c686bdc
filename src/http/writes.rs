//! What a write passes through; reads go straight on.
//!
//! - The public intake's guard ([`intake_guard::admit`]): its rate limit
//!   and body cap.
//! - Its own task, run to completion. When a client goes away, hyper drops
//!   the request's future; a write handler dropped between BEGIN and COMMIT
//!   could hand its pooled connection back inside the transaction, where
//!   the next request's statements would land. Reads need no such care.
//!
//! A tower layer, not an `axum::middleware::from_fn`: a function
//! middleware clones and boxes the rest of the stack, and boxes its own
//! future, for every request; here a read costs a check of its method.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::Method,
    response::{IntoResponse, Response},
};
use futures::future::{BoxFuture, Either};
use tower::{Layer, Service};

use super::{
    ApiError,
    intake_guard::{self, IntakeLimiter},
};

/// Wraps each route in [`Writes`].
#[derive(Clone)]
pub struct WritesLayer {
    intake_limiter: IntakeLimiter,
}

impl WritesLayer {
    /// Writes to the public intake are held to `intake_limiter`.
    pub fn new(intake_limiter: IntakeLimiter) -> Self {
        Self { intake_limiter }
    }
}

impl<S> Layer<S> for WritesLayer {
    type Service = Writes<S>;

    fn layer(&self, inner: S) -> Writes<S> {
        Writes {
            inner,
            intake_limiter: self.intake_limiter.clone(),
        }
    }
}

/// A route whose writes are guarded and run on their own task.
#[derive(Clone)]
pub struct Writes<S> {
    inner: S,
    intake_limiter: IntakeLimiter,
}

impl<S> Service<Request> for Writes<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        ) {
            return Either::Left(self.inner.call(request));
        }
        let request = match intake_guard::admit(&self.intake_limiter, request) {
            Ok(request) => request,
            Err(refused) => return Either::Right(Box::pin(async { Ok(refused.into_response()) })),
        };
        // Called now, while the service is ready; the future it returns
        // owns what it needs and runs on a task of its own.
        let write = self.inner.call(request);
        Either::Right(Box::pin(async {
            Ok(match tokio::spawn(write).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => ApiError::Internal("write task failed".into()).into_response(),
            })
        }))
    }
}
