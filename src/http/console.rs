//! The navigator console at `/console`: a staff web page built on the
//! public JSON API only (no route of its own under `/v1`). Its files are
//! plain JavaScript modules, CSS and HTML from `assets/console/`, compiled
//! into the binary: no toolchain, no build step, nothing fetched from
//! another host. The page runs under [`csp`]: scripts and styles from this
//! origin only, nothing inline.
//!
//! How the page signs in is the one thing it learns from the server, at
//! `/console/config.json` ([`SignIn`]): locally it takes a bearer token
//! (from `navigator token`, or the link `navigator serve` prints on a
//! local SQLite database); on AWS it can send staff to the Cognito hosted
//! UI (authorization code with PKCE) when the function is told the user
//! pool's domain and app client.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Serialize;

use super::ApiError;

/// The console's files: name under `/console/`, content type, content.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, include_bytes!("../../assets/console/app.js")),
    ("api.js", JS, include_bytes!("../../assets/console/api.js")),
    (
        "auth.js",
        JS,
        include_bytes!("../../assets/console/auth.js"),
    ),
    ("ui.js", JS, include_bytes!("../../assets/console/ui.js")),
    ("day.js", JS, include_bytes!("../../assets/console/day.js")),
    (
        "search.js",
        JS,
        include_bytes!("../../assets/console/search.js"),
    ),
    (
        "patient.js",
        JS,
        include_bytes!("../../assets/console/patient.js"),
    ),
    (
        "reference.js",
        JS,
        include_bytes!("../../assets/console/reference.js"),
    ),
    (
        "funnel.js",
        JS,
        include_bytes!("../../assets/console/funnel.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console/console.css"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

const INDEX: &str = include_str!("../../assets/console/index.html");

/// The files change only with the binary, but carry no version in their
/// names: a browser checks each time (the page is small).
const CACHE: &str = "no-cache";

/// How the console's staff sign in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SignIn {
    /// A bearer token pasted in, or handed over in the sign-in link's
    /// fragment (local use, and any deployment that has no hosted UI).
    #[default]
    Token,
    /// The Cognito hosted UI, authorization code with PKCE.
    Cognito {
        /// The user pool's hosted UI domain, `https://NAME.auth.REGION.amazoncognito.com`.
        domain: String,
        /// The app client (public: no secret) the console signs in as.
        client_id: String,
    },
}

/// The environment variables that turn on the Cognito sign-in.
pub const COGNITO_DOMAIN_VAR: &str = "NAVIGATOR_CONSOLE_COGNITO_DOMAIN";
/// See [`COGNITO_DOMAIN_VAR`].
pub const COGNITO_CLIENT_VAR: &str = "NAVIGATOR_CONSOLE_CLIENT_ID";

impl SignIn {
    /// Cognito when both its variables are set (the domain must be an
    /// `https://` origin), the token otherwise.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let domain = lookup(COGNITO_DOMAIN_VAR).filter(|v| !v.trim().is_empty());
        let client = lookup(COGNITO_CLIENT_VAR).filter(|v| !v.trim().is_empty());
        match (domain, client) {
            (None, None) => Ok(Self::Token),
            (Some(domain), Some(client_id)) => {
                let domain = domain.trim().trim_end_matches('/').to_owned();
                let origin = super::security::parse_origins([domain.as_str()])
                    .map_err(|err| format!("{COGNITO_DOMAIN_VAR}: {err}"))?;
                if origin.is_empty() || !domain.starts_with("https://") {
                    return Err(format!(
                        "{COGNITO_DOMAIN_VAR} must be the hosted UI's https:// origin"
                    ));
                }
                Ok(Self::Cognito {
                    domain,
                    client_id: client_id.trim().to_owned(),
                })
            }
            _ => Err(format!(
                "set both {COGNITO_DOMAIN_VAR} and {COGNITO_CLIENT_VAR}, or neither"
            )),
        }
    }

    /// The page's Content-Security-Policy: its own scripts and styles only,
    /// nothing inline, requests to this origin (and, with Cognito, to the
    /// hosted UI's token endpoint, where the page exchanges its code).
    pub fn csp(&self) -> String {
        let connect = match self {
            Self::Token => "'self'".to_owned(),
            Self::Cognito { domain, .. } => format!("'self' {domain}"),
        };
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    }

    fn config(&self) -> Config<'_> {
        match self {
            Self::Token => Config {
                sign_in: "token",
                authorize_endpoint: None,
                token_endpoint: None,
                logout_endpoint: None,
                client_id: None,
                scope: None,
            },
            Self::Cognito { domain, client_id } => Config {
                sign_in: "cognito",
                authorize_endpoint: Some(format!("{domain}/oauth2/authorize")),
                token_endpoint: Some(format!("{domain}/oauth2/token")),
                logout_endpoint: Some(format!("{domain}/logout")),
                client_id: Some(client_id),
                scope: Some("openid email"),
            },
        }
    }
}

/// `/console/config.json`: public (it holds no secret), what the page
/// needs before anyone signs in.
#[derive(Serialize)]
struct Config<'a> {
    sign_in: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorize_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint: Option<String>,
    /// Where signing out also ends the hosted UI's session (it then
    /// returns to the console: the app client's logout URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    logout_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'static str>,
}

/// `/console`, its files and its configuration.
pub fn router(sign_in: &SignIn) -> Router {
    let csp = HeaderValue::from_str(&sign_in.csp())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    let config = serde_json::to_vec(&sign_in.config()).unwrap_or_default();
    let page = move || {
        let csp = csp.clone();
        async move {
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    ),
                    (header::CONTENT_SECURITY_POLICY, csp),
                    (header::CACHE_CONTROL, HeaderValue::from_static(CACHE)),
                ],
                INDEX,
            )
        }
    };
    Router::new()
        .route(
            "/console",
            // Relative: behind API Gateway the address starts with the
            // stage (`/prod/console`), which the function does not see.
            get(|| async { Redirect::permanent("console/") }),
        )
        .route("/console/", get(page.clone()))
        .route("/console/index.html", get(page))
        .route(
            "/console/config.json",
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, CACHE),
                    ],
                    config,
                )
            }),
        )
        .route(
            "/console/{file}",
            get(
                |axum::extract::Path(name): axum::extract::Path<String>| async move { file(&name) },
            ),
        )
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(file, ..)| *file == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, CACHE),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::NotFound.into_response(),
    }
}

/// The link `navigator serve` prints on a local SQLite database: the
/// console, signed in with `token`. The token rides in the fragment, which
/// a browser never sends to a server; the page moves it to session storage
/// and clears the address bar.
pub fn sign_in_link(addr: std::net::SocketAddr, token: &str) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}/console/#token={token}", addr.port())
}

/// The total size of the console's files, in bytes (what it adds to the
/// binary).
pub fn size() -> usize {
    INDEX.len() + FILES.iter().map(|(_, _, body)| body.len()).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn cognito_sign_in_needs_both_settings_and_an_https_domain() {
        assert_eq!(SignIn::from_env(env(&[])), Ok(SignIn::Token));
        let domain = "https://nav.auth.eu-west-1.amazoncognito.com";
        assert_eq!(
            SignIn::from_env(env(&[
                (COGNITO_DOMAIN_VAR, &format!("{domain}/")),
                (COGNITO_CLIENT_VAR, "abc123"),
            ])),
            Ok(SignIn::Cognito {
                domain: domain.into(),
                client_id: "abc123".into()
            })
        );
        assert!(SignIn::from_env(env(&[(COGNITO_DOMAIN_VAR, domain)])).is_err());
        assert!(SignIn::from_env(env(&[(COGNITO_CLIENT_VAR, "abc")])).is_err());
        for bad in [
            "http://nav.auth.example",
            "https://nav.auth.example/path",
            "*",
        ] {
            assert!(
                SignIn::from_env(env(&[(COGNITO_DOMAIN_VAR, bad), (COGNITO_CLIENT_VAR, "a")]))
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_policy_allows_only_this_origin_and_the_token_endpoint() {
        let local = SignIn::Token.csp();
        assert!(local.contains("script-src 'self';"));
        assert!(local.contains("connect-src 'self';"));
        assert!(!local.contains("unsafe-inline"));
        let cognito = SignIn::Cognito {
            domain: "https://nav.auth.eu-west-1.amazoncognito.com".into(),
            client_id: "c".into(),
        }
        .csp();
        assert!(
            cognito.contains("connect-src 'self' https://nav.auth.eu-west-1.amazoncognito.com;")
        );
    }

    #[test]
    fn the_sign_in_link_carries_the_token_in_its_fragment() {
        assert_eq!(
            sign_in_link("0.0.0.0:3000".parse().unwrap(), "t.o.k"),
            "http://127.0.0.1:3000/console/#token=t.o.k"
        );
        assert_eq!(
            sign_in_link("[::1]:8080".parse().unwrap(), "t"),
            "http://[::1]:8080/console/#token=t"
        );
    }

    #[test]
    fn every_file_of_the_console_is_served_and_the_whole_stays_small() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/console");
        for entry in std::fs::read_dir(folder).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                name == "index.html" || FILES.iter().any(|(file, ..)| *file == name),
                "assets/console/{name} is not in FILES"
            );
        }
        // A budget, uncompressed: what the console adds to the binary.
        assert!(size() < 80 * 1024, "the console is {} bytes", size());
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = INDEX.to_lowercase();
        assert!(!page.contains("<style"));
        assert!(!page.contains(" style="));
        let handler = page.split_whitespace().any(|word| {
            word.strip_prefix("on").is_some_and(|rest| {
                rest.split_once('=')
                    .is_some_and(|(name, _)| name.chars().all(|c| c.is_ascii_alphabetic()))
            })
        });
        assert!(!handler, "no inline event handler");
        for script in page.split("<script").skip(1) {
            let (tag, rest) = script.split_once('>').unwrap();
            assert!(tag.contains("src="), "an inline script: {tag}");
            assert!(rest.trim_start().starts_with("</script>"));
        }
    }
}
