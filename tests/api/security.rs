//! Security controls at the HTTP edge: the public intake's rate limit and
//! body cap, what its receipt reveals, the headers every response carries,
//! CORS, and the start-up refusals of the binary (wildcard CORS origin,
//! PostgreSQL without a JWT secret).

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{HeaderValue, Method, Request},
};
use navigator::{domain::Role, http::IntakeLimit};
use serde_json::{Value, json};

use crate::{
    helpers::{Reply, TestApp},
    on_both_databases,
};

const INTAKE: &str = "/v1/intake-submissions";

/// An anonymous intake submission from the TCP peer `peer`, as the local
/// server sees it, with extra headers.
async fn intake_from(app: &TestApp, peer: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
    let peer: SocketAddr = peer.parse().unwrap();
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(INTAKE)
        .header("content-type", "application/json")
        .extension(ConnectInfo(peer));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.raw(request.body(Body::from(body.to_string())).unwrap())
        .await
}

fn form(n: usize) -> Value {
    json!({"email": format!("visitor{n}@example.org"), "first_name": "Vi"})
}

fn limit(burst: u32, per_second: u32) -> IntakeLimit {
    IntakeLimit {
        burst: NonZeroU32::new(burst).unwrap(),
        per_second: NonZeroU32::new(per_second).unwrap(),
    }
}

/// A JSON body of about `bytes` bytes: one long unknown field.
fn padded(bytes: usize) -> String {
    json!({"email": "big@example.org", "padding": "x".repeat(bytes)}).to_string()
}

/// The server's binary, with no setting inherited from the environment.
pub(crate) fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_navigator"));
    command
        .env_remove("NAVIGATOR_JWT_SECRET")
        .env_remove("NAVIGATOR_CORS_ORIGINS")
        .env_remove("NAVIGATOR_ADDR")
        .env("RUST_LOG", "warn");
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must exit by itself (a refusal at start-up): one
/// still running after 30 s started instead, and is stopped.
fn run_to_refusal(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("it started instead of refusing to:\n{}", stderr(&output));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

on_both_databases! {
    async fn a_client_over_the_intake_limit_gets_a_429_problem_with_retry_after(app) {
        let app = app.with_state(|state| state.with_intake_limit(limit(3, 1)));
        for n in 0..3 {
            intake_from(&app, "203.0.113.10:50000", form(n), &[]).await.expect(201);
        }
        let refused = intake_from(&app, "203.0.113.10:50001", form(3), &[]).await.expect_problem(429);
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert_eq!(refused.body["type"], "https://navigator.example/problems/too-many-requests");
        // Nothing of the refused submission was stored.
        let stored = app.get("/v1/intake-submissions?count=true", Role::Viewer).await.expect(200);
        assert_eq!(stored.body["total"], 3);
        // A header naming another client changes nothing: only the peer counts.
        intake_from(&app, "203.0.113.10:50002", form(4), &[("x-forwarded-for", "198.51.100.99"), ("x-real-ip", "198.51.100.99"), ("forwarded", "for=198.51.100.99")])
            .await
            .expect_problem(429);
        // Another client has its own allowance, and other routes are not limited.
        intake_from(&app, "203.0.113.11:50000", form(5), &[]).await.expect(201);
        app.post("/v1/patients", Role::Navigator, json!({"email": "walk-in@example.org"})).await.expect(201);
    }

    async fn by_default_a_client_may_send_a_burst_of_30_intakes_then_must_wait(app) {
        for n in 0..30 {
            intake_from(app, "198.51.100.20:40000", form(n), &[]).await.expect(201);
        }
        let refused = intake_from(app, "198.51.100.20:40000", form(30), &[]).await.expect_problem(429);
        let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert_eq!(wait, 1, "about one submission per second after the burst");
    }

    async fn an_intake_body_over_16_kib_is_refused_while_other_routes_take_up_to_64_kib(app) {
        let big = padded(20 * 1024);
        // With a Content-Length, refused before it is read...
        let declared = Request::builder().method(Method::POST).uri(INTAKE)
            .header("content-type", "application/json")
            .header("content-length", big.len().to_string())
            .body(Body::from(big.clone())).unwrap();
        app.raw(declared).await.expect_problem(413);
        // ...and without one, cut off while it is read.
        let chunks = futures::stream::iter(big.clone().into_bytes().chunks(4096).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
        let streamed = Request::builder().method(Method::POST).uri(INTAKE)
            .header("content-type", "application/json")
            .body(Body::from_stream(chunks)).unwrap();
        app.raw(streamed).await.expect_problem(413);
        // The same body elsewhere is read whole, and refused for its unknown field.
        let patients = Request::builder().method(Method::POST).uri("/v1/patients")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", app.token(Role::Navigator)))
            .body(Body::from(big)).unwrap();
        app.raw(patients).await.expect_problem(422);
        // A form of ordinary size still goes through.
        intake_from(app, "192.0.2.1:1", form(1), &[]).await.expect(201);
    }

    async fn the_public_receipt_is_identical_whether_or_not_the_email_is_known(app) {
        // Known as a lead from an earlier form, as a patient a navigator
        // created, under another case: the answer must not tell them apart
        // from a stranger's.
        intake_from(app, "192.0.2.2:1", json!({"email": "lead@example.org"}), &[]).await.expect(201);
        let patient = app.post("/v1/patients", Role::Navigator, json!({"email": "Patient@Example.org", "first_name": "Pat", "phone": "+31 6 1234 5678"})).await.expect(201);
        let answers = [
            intake_from(app, "192.0.2.2:1", json!({"email": "stranger@example.org", "first_name": "Sam"}), &[]).await,
            intake_from(app, "192.0.2.2:1", json!({"email": "lead@example.org", "first_name": "Sam"}), &[]).await,
            intake_from(app, "192.0.2.2:1", json!({"email": "PATIENT@example.org", "first_name": "Sam"}), &[]).await,
        ];
        let patient_id = patient.id();
        let shape = |reply: &Reply| {
            let mut headers: Vec<(String, String)> = reply.headers.iter()
                .map(|(name, value)| {
                    let value = match name.as_str() {
                        // Unique per answer by nature.
                        "x-request-id" | "location" | "content-length" => "*".to_owned(),
                        _ => value.to_str().unwrap().to_owned(),
                    };
                    (name.as_str().to_owned(), value)
                })
                .collect();
            headers.sort();
            let mut keys: Vec<String> = reply.body.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            (reply.status.as_u16(), headers, keys)
        };
        let stranger = shape(&answers[0]);
        assert_eq!(stranger.0, 201);
        assert_eq!(stranger.2, ["id", "submitted_at"]);
        for reply in &answers {
            assert_eq!(shape(reply), stranger);
            assert_eq!(reply.header("location").unwrap(), format!("/v1/intake-submissions/{}", reply.id()));
            assert!(!reply.body.to_string().contains(&patient_id));
            let text = reply.body.to_string().to_lowercase();
            assert!(!text.contains("example.org") && !text.contains("pat"), "{text}");
        }
    }

    async fn every_response_carries_the_security_headers(app) {
        let patient = app.post("/v1/patients", Role::Navigator, json!({"email": "ann@example.org"})).await.expect(201);
        let replies = [
            ("GET /health", app.send(Method::GET, "/health", None, None, &[]).await),
            ("GET a patient", app.get(&format!("/v1/patients/{}", patient.id()), Role::Viewer).await),
            ("GET a list by email", app.get("/v1/patients?email=ann@example.org", Role::Viewer).await),
            ("POST a patient", patient),
            ("a 401", app.send(Method::GET, "/v1/patients", None, None, &[]).await),
            ("a 404", app.send(Method::GET, "/nowhere", None, None, &[]).await),
            ("a 422", app.post("/v1/patients", Role::Navigator, json!({"email": "nope"})).await),
            ("GET /openapi.json", app.send(Method::GET, "/openapi.json", None, None, &[]).await),
        ];
        for (what, reply) in &replies {
            assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{what}");
            assert_eq!(reply.header("referrer-policy"), Some("no-referrer"), "{what}");
            assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{what}");
            assert_eq!(reply.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"), "{what}");
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{what}");
            assert!(reply.header("strict-transport-security").is_some_and(|v| v.starts_with("max-age=")), "{what}");
        }
        // The docs page may run its own script and style, nothing else.
        let page = app.send(Method::GET, "/docs/", None, None, &[]).await.expect(200);
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        assert!(!page.body.as_str().unwrap().contains("<script>"), "no inline script");
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        let script = app.send(Method::GET, "/docs/swagger-initializer.js", None, None, &[]).await.expect(200);
        assert!(script.body.as_str().unwrap().contains("/openapi.json"));
        // Static assets, with no personal data, may be cached.
        let asset = app.send(Method::GET, "/docs/swagger-ui.css", None, None, &[]).await.expect(200);
        assert_eq!(asset.header("cache-control"), Some("public, max-age=86400"));
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
    }

    async fn an_allowed_origin_gets_cors_headers_and_another_does_not(app) {
        let portal = "https://portal.example.org";
        let app = app.with_state(|state| state.with_cors_origins(vec![HeaderValue::from_static(portal)]));
        let token = format!("Bearer {}", app.token(Role::Viewer));
        let from = |origin: &'static str| [("origin", origin), ("authorization", token.as_str())];
        let allowed = app.send(Method::GET, "/v1/patients", None, None, &from(portal)).await.expect(200);
        assert_eq!(allowed.header("access-control-allow-origin"), Some(portal));
        assert_eq!(allowed.header("access-control-allow-credentials"), None);
        let other = app.send(Method::GET, "/v1/patients", None, None, &from("https://evil.example.net")).await;
        assert_eq!(other.header("access-control-allow-origin"), None);
        // Preflights alike.
        let preflight = |origin: &'static str| {
            let app = &app;
            async move {
                app.send(Method::OPTIONS, "/v1/patients", None, None, &[("origin", origin), ("access-control-request-method", "POST"), ("access-control-request-headers", "authorization,content-type")]).await
            }
        };
        let ok = preflight(portal).await;
        assert_eq!(ok.header("access-control-allow-origin"), Some(portal));
        assert!(ok.header("access-control-allow-methods").unwrap().contains("POST"));
        assert_eq!(ok.header("access-control-allow-credentials"), None);
        let refused = preflight("https://portal.example.org.evil.example.net").await;
        assert_eq!(refused.header("access-control-allow-origin"), None);
    }

    async fn with_no_origin_configured_no_browser_gets_cors_permission(app) {
        // The default state: no portal origin.
        let portal = "https://portal.example.org";
        let token = format!("Bearer {}", app.token(Role::Viewer));
        let read = app.send(Method::GET, "/v1/patients", None, None, &[("origin", portal), ("authorization", token.as_str())]).await.expect(200);
        assert_eq!(read.header("access-control-allow-origin"), None);
        assert_eq!(read.header("access-control-expose-headers"), None);
        let preflight = app.send(Method::OPTIONS, "/v1/patients", None, None, &[("origin", portal), ("access-control-request-method", "POST")]).await;
        assert_eq!(preflight.header("access-control-allow-origin"), None);
        assert_eq!(preflight.header("access-control-allow-methods"), None);
        assert!(preflight.status.is_client_error(), "{}", preflight.status);
    }

    async fn without_a_jwt_secret_serve_and_token_refuse_postgresql_and_sqlite_uses_a_generated_file(app) {
        if app.backend != crate::helpers::Backend::Postgres {
            // SQLite is the zero-setup local mode: a generated secret file
            // beside the database is allowed there.
            let dir = std::env::temp_dir().join(format!("nav-secret-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}/local.db", dir.display());
            let token = binary().args(["token", "--role", "viewer", "--sub", "me"]).env("DATABASE_URL", &url).output().unwrap();
            assert!(token.status.success(), "{}", stderr(&token));
            assert!(dir.join("local.db.jwt-secret").exists());
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let cwd = std::env::temp_dir().join(format!("nav-secret-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&cwd).unwrap();
        let token = run_to_refusal(binary().current_dir(&cwd).args(["token", "--role", "admin", "--sub", "me"]).env("DATABASE_URL", &app.url));
        assert!(!token.status.success());
        assert!(token.stdout.is_empty(), "no token printed");
        assert!(stderr(&token).contains("NAVIGATOR_JWT_SECRET is not set"), "{}", stderr(&token));
        let serve = run_to_refusal(binary().current_dir(&cwd).args(["serve", "--addr", "127.0.0.1:0"]).env("DATABASE_URL", &app.url));
        assert!(!serve.status.success());
        assert!(stderr(&serve).contains("NAVIGATOR_JWT_SECRET is not set"), "{}", stderr(&serve));
        assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "no secret file was written");
        // With the secret, the same command works.
        let token = binary().current_dir(&cwd).args(["token", "--role", "admin", "--sub", "me"]).env("DATABASE_URL", &app.url)
            .env("NAVIGATOR_JWT_SECRET", "a-configured-secret-of-32-characters-or-more").output().unwrap();
        assert!(token.status.success(), "{}", stderr(&token));
        let _ = std::fs::remove_dir_all(cwd);
    }
}

#[test]
fn serve_refuses_a_wildcard_cors_origin_at_start_up() {
    let dir = std::env::temp_dir().join(format!("nav-cors-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/cors.db", dir.display());
    for origins in ["*", "https://portal.example.org,*"] {
        let serve = run_to_refusal(
            binary()
                .args(["serve", "--addr", "127.0.0.1:0", "--cors-origin", origins])
                .env("DATABASE_URL", &url),
        );
        assert!(!serve.status.success(), "{origins}");
        let text = stderr(&serve);
        assert!(
            text.contains("--cors-origin") && text.contains("`*`"),
            "{text}"
        );
    }
    // Refused before the database is created or migrated.
    assert!(!dir.join("cors.db").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_public_intake_documents_its_429_with_retry_after_and_its_16_kib_cap() {
    let doc = serde_json::to_value(navigator::http::openapi::document()).unwrap();
    let responses = &doc["paths"]["/v1/intake-submissions"]["post"]["responses"];
    let too_many = &responses["429"];
    assert_eq!(
        too_many["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert_eq!(
        too_many["headers"]["Retry-After"]["schema"]["type"],
        "integer"
    );
    assert!(
        responses["413"]["description"]
            .as_str()
            .unwrap()
            .contains("16 KiB")
    );
}

/// Starts `serve` (given `--addr 127.0.0.1:0`); the process and the port
/// it printed. The rest of its log is read to the end on a thread of its
/// own, so that the server never writes into a full or closed pipe.
pub(crate) fn serving(command: &mut Command) -> (std::process::Child, u16) {
    let mut server = command
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(server.stderr.take().unwrap()));
    let port = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some((_, rest)) = line.split_once("listening on http://127.0.0.1:") {
            break rest.trim().parse().unwrap();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (server, port)
}

/// One HTTP/1.1 POST of an intake form to the server on `port`, sent from
/// the loopback address `from`; the status code.
pub(crate) async fn post_intake_from(from: &str, port: u16, n: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut stream = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    let body = json!({"email": format!("tcp{n}@example.org")}).to_string();
    let request = format!(
        "POST /v1/intake-submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         X-Forwarded-For: 127.0.0.9\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_server_counts_each_tcp_peer_against_its_configured_intake_limit() {
    let dir = std::env::temp_dir().join(format!("nav-limit-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut server, port) = serving(
        binary()
            .args(["serve", "--addr", "127.0.0.1:0", "--intake-burst", "2"])
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/limit.db", dir.display()),
            ),
    );
    // 127.0.0.1 spends its burst of 2; 127.0.0.2, another peer, has its own.
    let from_one = [
        post_intake_from("127.0.0.1", port, 1).await,
        post_intake_from("127.0.0.1", port, 2).await,
        post_intake_from("127.0.0.1", port, 3).await,
    ];
    let from_two = post_intake_from("127.0.0.2", port, 4).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(from_one, [201, 201, 429]);
    assert_eq!(from_two, 201);
}
