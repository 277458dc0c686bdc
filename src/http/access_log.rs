//! Recording reads of personal data. A handler that returns patients' data
//! wraps its response in [`Disclosed`]; the [`record`] middleware, which
//! knows the method and route, writes the access event. If it cannot, the
//! response is withheld (500): no personal data leaves unlogged.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sea_orm::prelude::Uuid;

use super::{ApiError, AppState, Principal};
use crate::db::access_log::AccessEvent;

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
        if response.status().is_success() {
            response.extensions_mut().insert(Disclosure {
                actor: self.actor,
                patients: self.patients,
            });
        }
        response
    }
}

/// Writes the access event of every marked response.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Kept (cheap clones) and formatted only for a response that discloses
    // data, not for every request.
    let method = request.method().clone();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    let Some(Disclosure { actor, patients }) = response.extensions_mut().remove::<Disclosure>()
    else {
        return response;
    };
    let event = AccessEvent {
        actor,
        route: format!(
            "{method} {}",
            matched.as_ref().map_or("unmatched", MatchedPath::as_str)
        ),
        patients,
    };
    match state.access_log.record(event).await {
        Ok(()) => response,
        Err(err) => ApiError::Internal(format!("access log: {err}")).into_response(),
    }
}
