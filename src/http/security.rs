//! Headers every response carries, and the CORS allow-list.
//!
//! | header | value | why |
//! | --- | --- | --- |
//! | `X-Content-Type-Options` | `nosniff` | a browser never guesses a type other than the declared one |
//! | `Referrer-Policy` | `no-referrer` | no URL of the API (with a query that may hold an email) leaks to another site |
//! | `X-Frame-Options` | `DENY` | never framed (older browsers; `frame-ancestors` for newer ones) |
//! | `Content-Security-Policy` | [`API_CSP`], or [`DOCS_CSP`] on the docs page | nothing an API answer could load or run; the docs page loads only its own script, style and the document |
//! | `Cache-Control` | `no-store` unless a route set its own | answers with personal data are kept by no browser or proxy cache (the docs' static assets set their own) |
//! | `Strict-Transport-Security` | two years, subdomains | HTTPS only, once a browser has seen it over HTTPS (ignored over plain HTTP) |
//!
//! CORS allows exactly the configured portal origins, never `*`, and never
//! credentials (cookies): callers send bearer tokens in `Authorization`,
//! which needs no credentialed request.

use axum::{
    Router,
    http::{HeaderValue, Uri, header},
    response::Response,
};
use tower::util::MapResponseLayer;

/// The policy of every API response: nothing may be loaded, run or framed.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The policy of the docs page (Swagger UI from the binary's own assets):
/// its script and style from this origin, inline styles (Swagger UI sets
/// `style` attributes), `data:` images (its icons), requests to this origin
/// only (the document and "Try it out"); no inline script.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Two years, subdomains included.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Adds the headers of the table above to every response of `router`.
pub fn headers(router: Router) -> Router {
    // One layer for the six: a `SetResponseHeaderLayer` each wrapped every
    // response's future once more, about 1,000 instructions of a GET by id.
    router.layer(MapResponseLayer::new(add_headers))
}

fn add_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.reserve(6);
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(API_CSP));
    for (name, value) in [
        (header::STRICT_TRANSPORT_SECURITY, HSTS),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Why a configured CORS origin was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CorsError {
    /// `*`: any site could call the API from its visitors' browsers.
    #[error(
        "the CORS origin `*` (any site) is not allowed: list the portals' origins, e.g. https://portal.example.org"
    )]
    Wildcard,
    /// Not `scheme://host[:port]`.
    #[error(
        "`{0}` is not a CORS origin: expected http(s)://host[:port] with no path, e.g. https://portal.example.org"
    )]
    Invalid(String),
}

/// Checks the configured browser origins (blank entries ignored): each must
/// be exactly `http(s)://host[:port]`, as browsers send it in `Origin`.
pub fn parse_origins<'a>(
    origins: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<HeaderValue>, CorsError> {
    origins
        .into_iter()
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(parse_origin)
        .collect()
}

fn parse_origin(origin: &str) -> Result<HeaderValue, CorsError> {
    if origin.contains('*') {
        return Err(CorsError::Wildcard);
    }
    let invalid = || CorsError::Invalid(origin.to_owned());
    let uri: Uri = origin.parse().map_err(|_| invalid())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let bare = uri
        .authority()
        .is_some_and(|a| !a.as_str().contains('@') && origin.ends_with(a.as_str()));
    if !scheme_ok || !bare {
        return Err(invalid());
    }
    HeaderValue::from_str(origin).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_origins_are_accepted_as_browsers_send_them() {
        let parsed =
            parse_origins(["https://portal.example.org", " http://localhost:5173 ", ""]).unwrap();
        assert_eq!(
            parsed,
            ["https://portal.example.org", "http://localhost:5173"]
        );
    }

    #[test]
    fn a_wildcard_origin_is_refused() {
        assert_eq!(
            parse_origins(["https://portal.example.org", "*"]),
            Err(CorsError::Wildcard)
        );
        assert_eq!(
            parse_origins(["https://*.example.org"]),
            Err(CorsError::Wildcard)
        );
    }

    #[test]
    fn an_origin_with_a_path_or_another_scheme_is_refused() {
        for bad in [
            "https://portal.example.org/",
            "https://portal.example.org/app",
            "portal.example.org",
            "ftp://portal.example.org",
            "null",
            "https://user@portal.example.org",
        ] {
            assert_eq!(
                parse_origins([bad]),
                Err(CorsError::Invalid(bad.into())),
                "{bad}"
            );
        }
    }
}
