//! The interactive API docs at `/docs`: Swagger UI, its assets compiled
//! into the binary (`assets/swagger-ui/`), reading `/openapi.json`. Works
//! with no internet. The two large assets are kept gzip-compressed (1.2 MB
//! less binary, which is also the Lambda package) and sent as they are,
//! with `Content-Encoding: gzip`. The page runs no inline script (its set-up is
//! `/docs/swagger-initializer.js`), so that its Content-Security-Policy
//! ([`super::security::DOCS_CSP`]) can allow scripts from this origin only.

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use std::sync::OnceLock;

const INDEX: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Navigator API</title>
  <link rel="icon" type="image/png" href="favicon-32x32.png">
  <link rel="stylesheet" href="swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script src="swagger-initializer.js"></script>
</body>
</html>
"##;

const INITIALIZER: &str = r##"window.ui = SwaggerUIBundle({
  url: "../openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"##;

const BUNDLE_GZ: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.gz");
const CSS_GZ: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css.gz");
const FAVICON: &[u8] = include_bytes!("../../assets/swagger-ui/favicon-32x32.png");

/// The document, built and serialised on its first request: a server
/// that is never asked for it never spends the time or the memory.
fn document() -> Bytes {
    static JSON: OnceLock<Bytes> = OnceLock::new();
    JSON.get_or_init(|| Bytes::from(super::openapi::document().to_json().unwrap_or_default()))
        .clone()
}

/// Assets change only with the binary: let browsers keep them for a day.
const CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "public, max-age=86400");

/// `/openapi.json`, `/docs` and its assets.
pub fn router() -> Router {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], document()) }),
        )
        // Relative links throughout: behind a REST API the page is at /{stage}/docs/.
        .route("/docs", get(|| async { Redirect::permanent("docs/") }))
        .route("/docs/", get(|| async { page() }))
        .route("/docs/index.html", get(|| async { page() }))
        .route(
            "/docs/swagger-initializer.js",
            get(|| async { asset("text/javascript; charset=utf-8", INITIALIZER.as_bytes()) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|headers: HeaderMap| async move {
                gzipped(&headers, "text/javascript; charset=utf-8", BUNDLE_GZ)
            }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|headers: HeaderMap| async move {
                gzipped(&headers, "text/css; charset=utf-8", CSS_GZ)
            }),
        )
        .route(
            "/docs/favicon-32x32.png",
            get(|| async { asset("image/png", FAVICON) }),
        )
}

/// The page, with the policy that lets Swagger UI run (the API's own
/// policy allows nothing).
fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, super::security::DOCS_CSP),
        ],
        INDEX,
    )
}

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), CACHE], body)
}

/// A gzip-compressed asset, if the client takes gzip: every browser does,
/// and a request without `Accept-Encoding` takes any coding (RFC 9110,
/// 12.5.3). A client that rules gzip out gets 406.
fn gzipped(headers: &HeaderMap, content_type: &'static str, body: &'static [u8]) -> Response {
    if !accepts_gzip(headers) {
        return super::ApiError::NotAcceptable.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_ENCODING, "gzip"),
            (header::VARY, "Accept-Encoding"),
            CACHE,
        ],
        body,
    )
        .into_response()
}

/// Whether `Accept-Encoding` allows gzip: absent, or naming `gzip` or `*`
/// without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::ACCEPT_ENCODING) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    value.split(',').any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        headers
    }

    #[test]
    fn gzip_is_sent_unless_the_client_rules_it_out() {
        assert!(accepts_gzip(&HeaderMap::new()));
        assert!(accepts_gzip(&accept("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&accept("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&accept("*")));
        assert!(!accepts_gzip(&accept("identity")));
        assert!(!accepts_gzip(&accept("gzip;q=0, br")));
    }

    #[test]
    fn the_compressed_assets_are_gzip() {
        for asset in [BUNDLE_GZ, CSS_GZ] {
            assert_eq!(&asset[..2], &[0x1f, 0x8b]);
        }
    }
}
