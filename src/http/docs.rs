//! The interactive API docs at `/docs`: Swagger UI, its assets compiled
//! into the binary (`assets/swagger-ui/`), reading `/openapi.json`. Works
//! with no internet. The page runs no inline script (its set-up is
//! `/docs/swagger-initializer.js`), so that its Content-Security-Policy
//! ([`super::security::DOCS_CSP`]) can allow scripts from this origin only.

use axum::{
    Router,
    body::Bytes,
    http::header,
    response::{IntoResponse, Redirect},
    routing::get,
};
use utoipa::openapi::OpenApi;

const INDEX: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Navigator API</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-initializer.js"></script>
</body>
</html>
"##;

const INITIALIZER: &str = r##"window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"##;

const BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../../assets/swagger-ui/favicon-32x32.png");

/// Assets change only with the binary: let browsers keep them for a day.
const CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "public, max-age=86400");

/// `/openapi.json`, `/docs` and its assets.
pub fn router(doc: OpenApi) -> Router {
    // Serialised once: the document is the same for the life of the router.
    let json = Bytes::from(doc.to_json().unwrap_or_default());
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) }),
        )
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route("/docs/", get(|| async { page() }))
        .route("/docs/index.html", get(|| async { page() }))
        .route(
            "/docs/swagger-initializer.js",
            get(|| async { asset("text/javascript; charset=utf-8", INITIALIZER.as_bytes()) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset("text/javascript; charset=utf-8", BUNDLE) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
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
