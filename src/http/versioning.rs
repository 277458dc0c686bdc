//! Optimistic concurrency: each record's `version` is its ETag (`"3"`), and
//! a write carrying `If-Match` with another version is refused with 412.
//! `If-Match` is optional: without it the write applies to whatever is
//! current.

use axum::{
    body::Body,
    extract::FromRequestParts,
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::IntoParams;

use super::error::{ApiError, FieldError};

/// The parsed `If-Match` header.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Vec<i32>>);

/// The `If-Match` header, for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IfMatchHeader {
    /// The ETag of the version this change is based on (`"3"`), `*`, or a
    /// comma-separated list of ETags; 412 if it is no longer current.
    #[param(
        rename = "If-Match",
        nullable = false,
        example = r#""1""#,
        pattern = r#"^(\*|(W/)?"[0-9]{1,9}"(, ?(W/)?"[0-9]{1,9}")*)$"#
    )]
    if_match: Option<String>,
}

impl IfMatch {
    /// Fails with 412 unless the header is absent, `*`, or names `current`
    /// in a strong tag (`"3"`; `W/"3"` does not match).
    pub fn check(&self, current: i32) -> Result<(), ApiError> {
        match &self.0 {
            Some(versions) if !versions.contains(&current) => Err(ApiError::PreconditionFailed),
            _ => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let invalid = || {
            ApiError::BadRequest(
                "The If-Match header is invalid.".into(),
                vec![FieldError::new(
                    "If-Match",
                    "must be * or a list of ETags such as \"3\"",
                )],
            )
        };
        let text = value.to_str().map_err(|_| invalid())?.trim();
        if text == "*" {
            return Ok(Self(None));
        }
        let tags = text
            .split(',')
            .map(|tag| parse_tag(tag.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(invalid)?;
        // RFC 9110 13.1.1: `If-Match` uses the strong comparison, which a
        // weak tag never passes; it stays in the list only as valid syntax.
        Ok(Self(Some(tags.into_iter().flatten().collect())))
    }
}

/// An entity tag of the list: `Some(version)` for a strong `"n"`, `None`
/// for a weak `W/"n"`; not a tag at all (`Option` outside) is invalid.
fn parse_tag(tag: &str) -> Option<Option<i32>> {
    let (weak, quoted) = match tag.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    let version = quoted
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i32>().ok())?;
    Some((!weak).then_some(version))
}

/// The ETag of a version.
pub fn etag(version: i32) -> HeaderValue {
    // itoa, not `format!`: every read of a record sends one.
    let mut digits = itoa::Buffer::new();
    let tag = [b"\"", digits.format(version).as_bytes(), b"\""].concat();
    HeaderValue::from_maybe_shared(axum::body::Bytes::from(tag))
        .expect("digits and quotes are a valid header value")
}

/// A record that has a version.
pub trait Versioned {
    /// The record's current version.
    fn version(&self) -> i32;
}

/// 200 with the record as JSON and its ETag.
pub struct Tagged<T>(pub T);

impl<T: Serialize + Versioned> IntoResponse for Tagged<T> {
    fn into_response(self) -> Response {
        // A record's JSON is a few hundred bytes: its buffer is sized once,
        // where axum's `Json` starts at 128 bytes and doubles (three copies
        // for a patient).
        let mut body = Vec::with_capacity(1024);
        if let Err(err) = serde_json::to_writer(&mut body, &self.0) {
            return ApiError::Internal(format!("response JSON: {err}")).into_response();
        }
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ETAG, etag(self.0.version()));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_version_fails_the_precondition() {
        let if_match = IfMatch(Some(vec![2]));
        assert!(if_match.check(2).is_ok());
        assert!(matches!(
            if_match.check(3),
            Err(ApiError::PreconditionFailed)
        ));
        assert!(IfMatch::default().check(7).is_ok());
    }

    #[test]
    fn a_weak_tag_never_matches_but_is_valid_syntax() {
        assert_eq!(parse_tag("\"3\""), Some(Some(3)));
        assert_eq!(parse_tag("W/\"3\""), Some(None));
        assert_eq!(parse_tag("w/\"3\""), None);
        assert_eq!(parse_tag("3"), None);
    }

    #[test]
    fn an_etag_is_the_version_in_quotes() {
        assert_eq!(etag(1), "\"1\"");
        assert_eq!(etag(0), "\"0\"");
        assert_eq!(etag(i32::MAX), "\"2147483647\"");
    }
}
