//! The one error type of the API and its RFC 9457 `application/problem+json`
//! rendering. Handlers return `Result<_, ApiError>` and use `?`; internal
//! details are logged once here and never sent.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{self, Conflict};

/// A problem detail (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For validation problems: which field, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a JSON pointer into the body (`/email`) or the name of
    /// a query parameter or header.
    pub field: String,
    /// Why it was refused.
    pub message: String,
}

impl FieldError {
    /// An error on one field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (syntax, query string, header, path).
    #[error("bad request: {0}")]
    BadRequest(String, Vec<FieldError>),
    /// 401: no valid credentials.
    #[error("unauthorized")]
    Unauthorized(&'static str),
    /// 403: valid credentials, insufficient role.
    #[error("forbidden")]
    Forbidden,
    /// 404: no such resource.
    #[error("not found")]
    NotFound,
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 406: no representation the client accepts (a docs asset to a
    /// client that refuses gzip).
    #[error("not acceptable")]
    NotAcceptable,
    /// 409: the request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412: `If-Match` names a version that is no longer current.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 413: the body is larger than allowed.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: well-formed, but invalid values.
    #[error("unprocessable: {0}")]
    Unprocessable(String, Vec<FieldError>),
    /// 429: too many requests from this client; retry after this many seconds.
    #[error("too many requests")]
    TooManyRequests(u64),
    /// 503: a dependency (the database) is unavailable.
    #[error("service unavailable")]
    Unavailable,
    /// 500: a bug or an unexpected failure; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A 422 on a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::Unprocessable("The request has invalid fields.".into(), vec![error])
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(..) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let (slug, detail, errors) = match self {
            Self::BadRequest(detail, errors) => {
                ("bad-request", Some(detail.clone()), errors.clone())
            }
            Self::Unauthorized(why) => ("unauthorized", Some((*why).to_owned()), vec![]),
            Self::Forbidden => (
                "forbidden",
                Some("Your role does not allow this operation.".into()),
                vec![],
            ),
            Self::NotFound => (
                "not-found",
                Some("No resource exists at this address.".into()),
                vec![],
            ),
            Self::MethodNotAllowed => ("method-not-allowed", None, vec![]),
            Self::NotAcceptable => (
                "not-acceptable",
                Some("This resource is available gzip-compressed only.".into()),
                vec![],
            ),
            Self::Conflict(detail) => ("conflict", Some(detail.clone()), vec![]),
            Self::PreconditionFailed => (
                "precondition-failed",
                Some(
                    "The record has changed since the version named in If-Match; fetch it again."
                        .into(),
                ),
                vec![],
            ),
            Self::PayloadTooLarge => (
                "payload-too-large",
                Some("The request body is too large.".into()),
                vec![],
            ),
            Self::UnsupportedMediaType => (
                "unsupported-media-type",
                Some("The request body must be JSON (Content-Type: application/json).".into()),
                vec![],
            ),
            Self::Unprocessable(detail, errors) => {
                ("validation", Some(detail.clone()), errors.clone())
            }
            Self::TooManyRequests(seconds) => (
                "too-many-requests",
                Some(format!(
                    "Too many requests from your address; retry in {seconds} s."
                )),
                vec![],
            ),
            Self::Unavailable => (
                "unavailable",
                Some("The database is unavailable; retry later.".into()),
                vec![],
            ),
            Self::Internal(_) => ("internal", None, vec![]),
        };
        Problem {
            kind: format!("https://navigator.example/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

/// The bare 500 problem, for a failure already logged where it happened
/// (a panic: see `http::log_panics`).
pub fn internal_response() -> Response {
    ApiError::Internal(String::new()).unlogged_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            // The one place an internal failure is logged; the client gets a bare 500.
            tracing::error!(error = %detail, "internal error");
        }
        self.unlogged_response()
    }
}

impl ApiError {
    fn unlogged_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Self::TooManyRequests(seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match db::conflict(&err) {
            Some(conflict) => conflict.into(),
            None if is_unavailable(&err) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::Unavailable
            }
            None => Self::Internal(err.to_string()),
        }
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_))
}

impl From<Conflict> for ApiError {
    /// The schema's guarantees surfacing: mapped to 409 with a reason a
    /// person can act on, without echoing SQL.
    fn from(conflict: Conflict) -> Self {
        match conflict {
            Conflict::Unique(constraint) => {
                Self::Conflict(format!("A record with the same {} already exists.", unique_subject(&constraint)))
            }
            Conflict::ForeignKey(_) => Self::Conflict(
                "The record refers to a record that does not exist or does not qualify, or is still referred to by other records.".into(),
            ),
            Conflict::Check(_) => Self::Conflict("The change would break a rule of the data model.".into()),
        }
    }
}

/// Names the field(s) of a unique constraint from either backend's wording
/// (`uq_patients_email` on PostgreSQL, `patients.email` on SQLite).
fn unique_subject(constraint: &str) -> String {
    const SUBJECTS: &[(&str, &str)] = &[
        ("name_city", "name and city"),
        ("hospitals.name, hospitals.city", "name and city"),
        ("patient_trial", "patient and trial"),
        (
            "trial_referrals.patient_id, trial_referrals.trial_id",
            "patient and trial",
        ),
        (
            "eap_enrollments_open",
            "open enrollment for this patient and program",
        ),
        (
            "eap_enrollments.patient_id, eap_enrollments.program_id",
            "open enrollment for this patient and program",
        ),
        ("registry_id", "registry id"),
        ("eap_number", "EAP number"),
        ("abbreviation", "abbreviation"),
        ("email", "email"),
        ("name", "name"),
    ];
    SUBJECTS
        .iter()
        .find(|(needle, _)| constraint.contains(needle))
        .map(|(_, subject)| (*subject).to_owned())
        .unwrap_or_else(|| "unique values".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_constraints_are_named_the_same_on_both_backends() {
        assert_eq!(unique_subject("uq_patients_email"), "email");
        assert_eq!(
            unique_subject("UNIQUE constraint failed: patients.email"),
            "email"
        );
        assert_eq!(unique_subject("uq_hospitals_name_city"), "name and city");
        assert_eq!(
            unique_subject("UNIQUE constraint failed: hospitals.name, hospitals.city"),
            "name and city"
        );
    }
}
