//! The edges an adversarial client probes: bytes after a JSON body,
//! another client's Idempotency-Key, a request id of its choosing, weak
//! ETags, the auth scheme's case, and connections that never finish their
//! headers (through the local server's own accept loop).

use std::{net::SocketAddr, time::Duration};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Method, Request},
};
use navigator::{domain::Role, http::server::Limits};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    time::Instant,
};

use crate::{
    helpers::{Reply, TestApp},
    on_both_databases,
};

/// A request with this raw body (sent as JSON) as `role`, or anonymously.
async fn raw_json(app: &TestApp, method: &str, uri: &str, role: Option<Role>, body: &str) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(role) = role {
        request = request.header("authorization", format!("Bearer {}", app.token(role)));
    }
    app.raw(request.body(Body::from(body.to_owned())).unwrap())
        .await
}

/// An anonymous intake submission from the TCP peer `peer`.
async fn intake_from(app: &TestApp, peer: &str, body: &Value, key: &str) -> Reply {
    let peer: SocketAddr = peer.parse().unwrap();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/intake-submissions")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .extension(ConnectInfo(peer))
        .body(Body::from(body.to_string()))
        .unwrap();
    app.raw(request).await
}

#[track_caller]
fn assert_not_json(reply: &Reply, what: &str) {
    assert_eq!(reply.status.as_u16(), 400, "{what}: {}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    let detail = reply.body["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with("The request body is not valid JSON"),
        "{what}: {detail}"
    );
}

/// The local server's loop on a port of its own, serving `app`; stopped
/// when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    async fn start(app: &TestApp, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(navigator::http::server::serve(
            listener,
            app.router.clone(),
            limits,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            stop: Some(stop),
        }
    }

    /// A connection that sends the first half of a request's head and
    /// nothing more.
    async fn slow_client(&self) -> TcpStream {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        stream
    }

    /// `GET path` on a new connection: the response's status line.
    async fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8_lossy(&response)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Reads until the server closes `stream` (or 10 s pass): how long it took.
async fn closed_after(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut sink = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink))
        .await
        .expect("the server did not close the connection within 10 s")
        .ok();
    started.elapsed()
}

on_both_databases! {
    async fn bytes_after_a_json_body_are_a_bad_request_on_every_route_that_takes_a_body(app) {
        let document = serde_json::to_value(navigator::http::openapi::document()).unwrap();
        let mut checked = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if operation.get("requestBody").is_none() {
                    continue;
                }
                let uri: String = path
                    .split('/')
                    .map(|segment| if segment.starts_with('{') { uuid::Uuid::now_v7().to_string() } else { segment.to_owned() })
                    .collect::<Vec<_>>()
                    .join("/");
                let what = format!("{method} {path}");
                // Whatever the fields: `{}` would be a 422 on most routes.
                let reply = raw_json(app, &method.to_uppercase(), &uri, Some(Role::Admin), "{} x").await;
                assert_not_json(&reply, &what);
                checked.push(what);
            }
        }
        assert!(checked.len() >= 20, "{checked:?}");

        // A body that is valid but for what follows it creates nothing.
        let patient = r#"{"first_name": "Ann", "email": "ann@example.org"} x"#;
        assert_not_json(&raw_json(app, "POST", "/v1/patients", Some(Role::Navigator), patient).await, "patient");
        let form = r#"{"email": "ann@example.org"}{"email": "bob@example.org"}"#;
        assert_not_json(&raw_json(app, "POST", "/v1/intake-submissions", None, form).await, "intake");
        assert_eq!(app.get("/v1/patients?count=true", Role::Viewer).await.body["total"], 0);
        // Whitespace after the document is still fine.
        raw_json(app, "POST", "/v1/intake-submissions", None, "{\"email\": \"ann@example.org\"} \r\n").await.expect(201);
    }

    async fn an_anonymous_idempotency_key_is_scoped_to_the_client_address(app) {
        let ann = json!({"email": "ann@example.org", "first_name": "Ann"});
        let bob = json!({"email": "bob@example.org", "first_name": "Bob"});
        let first = intake_from(app, "203.0.113.1:5000", &ann, "form-1").await.expect(201);
        // Another client with the same key and another body is not blocked...
        let other = intake_from(app, "203.0.113.2:6000", &bob, "form-1").await.expect(201);
        assert_ne!(other.id(), first.id());
        // ...and with the same body does not get the first client's receipt.
        let copy = intake_from(app, "198.51.100.9:7000", &ann, "form-1").await.expect(201);
        assert_ne!(copy.id(), first.id());
        assert_eq!(copy.header("idempotent-replayed"), None);
        let copy6 = intake_from(app, "[2001:db8::1]:7000", &ann, "form-1").await.expect(201);
        assert_ne!(copy6.id(), first.id());
        // The client itself, retrying from another port, gets its response.
        let retry = intake_from(app, "203.0.113.1:5001", &ann, "form-1").await.expect(201);
        assert_eq!(retry.id(), first.id());
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        // An IPv4-mapped IPv6 peer is the same client as its IPv4 address.
        let mapped = intake_from(app, "[::ffff:203.0.113.1]:5002", &ann, "form-1").await.expect(201);
        assert_eq!(mapped.id(), first.id());
        intake_from(app, "203.0.113.1:5003", &bob, "form-1").await.expect_problem(422);
    }

    async fn a_clients_request_id_is_kept_only_if_it_is_a_uuid(app) {
        let request_id = |value: &str| {
            let value = value.to_owned();
            async move {
                let reply = app.send(Method::GET, "/health", None, None, &[("x-request-id", &value)]).await.expect(200);
                reply.header("x-request-id").unwrap().to_owned()
            }
        };
        let uuid = "0190b6a2-3c4d-7e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(request_id(uuid).await, uuid);
        for unsafe_id in [
            "Ann Lee, born 1970-01-01",
            &"a".repeat(2000),
            "{0190b6a2-3c4d-7e5f-8a9b-0c1d2e3f4a5b}",
            "urn:uuid:0190b6a2-3c4d-7e5f-8a9b-0c1d2e3f4a5b",
            "0190b6a23c4d7e5f8a9b0c1d2e3f4a5b",
        ] {
            let given = request_id(unsafe_id).await;
            assert_ne!(given, unsafe_id);
            assert_eq!(uuid::Uuid::parse_str(&given).unwrap().get_version_num(), 4, "{given}");
        }
    }

    async fn a_weak_etag_does_not_satisfy_if_match(app) {
        let id = app.create("hospitals", json!({"name": "AMC", "city": "Amsterdam"})).await;
        let uri = format!("/v1/hospitals/{id}");
        let patch = async |if_match: &str, city: &str| app.send(Method::PATCH, &uri, Some(Role::Admin), Some(json!({"city": city})), &[("if-match", if_match)]).await;
        patch("W/\"1\"", "Utrecht").await.expect_problem(412);
        patch("W/\"1\", \"7\"", "Utrecht").await.expect_problem(412);
        patch("W/\"1\", \"1\"", "Utrecht").await.expect(200);
        patch("w/\"2\"", "Leiden").await.expect_problem(400);
        patch("\"2\"", "Leiden").await.expect(200);
        assert_eq!(app.get(&uri, Role::Viewer).await.body["city"], "Leiden");
    }

    async fn the_bearer_scheme_is_accepted_in_any_case(app) {
        let token = app.token(Role::Viewer);
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let authorization = format!("{scheme} {token}");
            app.send(Method::GET, "/v1/hospitals", None, None, &[("authorization", &authorization)]).await.expect(200);
        }
        let basic = format!("Basic {token}");
        app.send(Method::GET, "/v1/hospitals", None, None, &[("authorization", &basic)]).await.expect_problem(401);
    }

    async fn a_connection_that_never_finishes_its_headers_is_closed_after_the_timeout(app) {
        let timeout = Duration::from_millis(300);
        let server = Server::start(app, Limits { header_read_timeout: timeout, max_connections: 16 }).await;
        let mut half = server.slow_client().await;
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        for (what, stream) in [("half a head", &mut half), ("nothing", &mut silent)] {
            let after = closed_after(stream).await;
            assert!(after < Duration::from_secs(5), "{what}: closed after {after:?}");
        }
        assert!(server.get("/health").await.contains(" 200 "));
    }

    async fn slow_clients_beyond_the_connection_cap_cannot_starve_health(app) {
        let timeout = Duration::from_millis(400);
        let server = Server::start(app, Limits { header_read_timeout: timeout, max_connections: 4 }).await;
        // Three times the cap: the first four hold every slot, the others
        // wait in the backlog ahead of /health.
        let mut slow = Vec::new();
        for _ in 0..12 {
            slow.push(server.slow_client().await);
        }
        let started = Instant::now();
        let status = tokio::time::timeout(Duration::from_secs(10), server.get("/health"))
            .await
            .expect("/health was not answered within 10 s");
        let waited = started.elapsed();
        assert!(status.contains(" 200 "), "{status}");
        // It waited for slots: the cap held the slow clients to four at a time.
        assert!(waited >= timeout, "answered after {waited:?}, before any slow client timed out");
        drop(slow);
    }
}
