//! Extractors whose failures are the API's own problem+json errors: JSON
//! bodies (415/413/400/422 with the failing field), query strings and path
//! parameters (400).

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::{ApiError, FieldError};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body parsed into `T`, with its raw bytes and their SHA-256 (the
/// fingerprint `Idempotency-Key` compares). Field types are domain types, so
/// a body that parses is valid.
#[derive(Debug)]
pub struct ApiJson<T>(pub T, pub BodyDigest);

/// A request body as received, and its SHA-256 in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDigest {
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// The bytes.
    pub bytes: Bytes,
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(_) => ApiError::PayloadTooLarge,
                other => ApiError::BadRequest(other.body_text(), vec![]),
            })?;
        let value = parse_json(&bytes)?;
        Ok(ApiJson(
            value,
            BodyDigest {
                sha256: hex(&Sha256::digest(&bytes)),
                bytes,
            },
        ))
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses JSON bytes into `T`: syntax errors are 400, values that do not fit
/// (wrong type, unknown or read-only field, invalid email...) are 422 naming
/// the field as a JSON pointer. The whole body must be one JSON document
/// (anything but whitespace after it is a syntax error), checked before
/// its fields: the bytes are kept and read again as one document (an
/// intake's payload), and the answer to a malformed body does not depend
/// on what its fields hold.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|err| syntax_error(&err))?;
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(deserializer) {
        Ok(value) => Ok(value),
        Err(err) => {
            let pointer = pointer(err.path());
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => Err(ApiError::Unprocessable(
                    "The request body has invalid fields.".into(),
                    vec![FieldError::new(pointer, clean_message(&inner.to_string()))],
                )),
                _ => Err(syntax_error(&inner)),
            }
        }
    }
}

fn syntax_error(err: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(
        format!(
            "The request body is not valid JSON: {}.",
            clean_message(&err.to_string())
        ),
        vec![],
    )
}

/// A JSON pointer from serde's path (`.` is the root).
fn pointer(path: &serde_path_to_error::Path) -> String {
    let rendered = path.to_string();
    if rendered == "." {
        return String::new();
    }
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        out.push_str(&segment.to_string().replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// serde's message without the " at line 1 column 7" suffix, and without
/// echoing the rejected value (it may be personal data).
fn clean_message(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    // "invalid type: string \"x\", expected ..." -> "invalid type, expected ..."
    for kind in ["invalid type", "invalid value"] {
        if let Some(rest) = message
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix(": "))
            && let Some((_, expected)) = rest.split_once(", expected ")
        {
            return format!("{kind}, expected {expected}");
        }
    }
    message.to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A query string parsed into `T` (which denies unknown parameters); a
/// failure is a 400 naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|err| {
                let field = err.path().to_string();
                let message = clean_message(&err.into_inner().to_string());
                ApiError::BadRequest(
                    "The query string is invalid.".into(),
                    vec![FieldError::new(field, message)],
                )
            })
    }
}

/// A path parameter parsed into `T` (an id); a malformed one is a 400.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|_| {
                ApiError::BadRequest(
                    "The path is invalid.".into(),
                    vec![FieldError::new("id", "must be a UUID")],
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: crate::domain::Email,
    }

    #[test]
    fn an_invalid_field_is_named_by_a_json_pointer_without_its_value() {
        let Err(ApiError::Unprocessable(_, errors)) =
            parse_json::<Body>(br#"{"email": "secret-person"}"#)
        else {
            panic!("expected a 422");
        };
        assert_eq!(errors[0].field, "/email");
        assert!(
            !errors[0].message.contains("secret-person"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(matches!(
            parse_json::<Body>(br#"{"email": "a@b.co", "version": 3}"#),
            Err(ApiError::Unprocessable(..))
        ));
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Body>(br#"{"email": "#),
            Err(ApiError::BadRequest(..))
        ));
    }

    #[test]
    fn bytes_after_the_value_are_a_bad_request_but_whitespace_is_not() {
        for body in [
            &br#"{"email": "a@b.co"} x"#[..],
            br#"{"email": "a@b.co"}{"email": "c@d.co"}"#,
            br#"{"email": "a@b.co"}]"#,
            br#"{"email": 7} x"#,
            br#"{} x"#,
        ] {
            assert!(
                matches!(parse_json::<Body>(body), Err(ApiError::BadRequest(..))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse_json::<Body>(b"{\"email\": \"a@b.co\"} \r\n\t").is_ok());
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json(Some(&header::HeaderValue::from_static(
            "application/json; charset=utf-8"
        ))));
        assert!(is_json(Some(&header::HeaderValue::from_static(
            "application/merge-patch+json"
        ))));
        assert!(!is_json(Some(&header::HeaderValue::from_static(
            "text/plain"
        ))));
        assert!(!is_json(None));
    }
}
