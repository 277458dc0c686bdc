//! No personal data, and no secret, in the logs.
//!
//! This test binary owns the process's global tracing subscriber: every
//! event of every target (navigator, tower_http, axum, sqlx, sea_orm...) at
//! TRACE, the most the code can emit, is captured to memory while an
//! end-to-end flow runs through the router with distinctive values (names,
//! email, phone, condition, call notes): a public intake, a patient created
//! and patched, a duplicate email (409: PostgreSQL's error names the value),
//! a bad email (422), a call and its notes, a conversion, lists filtered by
//! email. None of the values may appear in the captured output, on SQLite
//! and on PostgreSQL. A second test runs the `navigator` binary itself on
//! PostgreSQL at TRACE and checks its output for the JWT secret, the
//! database password, a bearer token and the same personal data.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::http::Method;
use helpers::{Backend, SECRET, TestApp};
use navigator::{domain::Role, http::JwtKeys};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Values no code or other data contains: finding one in a log is a leak.
const FIRST: &str = "Quillonna";
const LAST: &str = "Vexmarrow";
const EMAIL: &str = "quillonna.vexmarrow@example.org";
const PHONE: &str = "+31 6 4781 9263";
const CONDITION: &str = "zentarial myelopathy";
const OTHER_FIRST: &str = "Brixabeth";
const OTHER_EMAIL: &str = "brixabeth.ondrayne@example.org";
const OTHER_PHONE: &str = "+44 7700 913572";
const BAD_EMAIL: &str = "quillonna-at-nowhere";
const NOTES: &str = "Wants the glorvane trial; daughter Yseltra calls back";
const OUTCOME: &str = "Agreed to MRI at Stellmoor clinic";

/// What must never be logged, and the forms it may take in a URI.
fn personal_values() -> Vec<String> {
    let mut values: Vec<String> = [
        FIRST,
        LAST,
        EMAIL,
        PHONE,
        CONDITION,
        OTHER_FIRST,
        OTHER_EMAIL,
        OTHER_PHONE,
        BAD_EMAIL,
        NOTES,
        OUTCOME,
        "quillonna.vexmarrow",
        "brixabeth.ondrayne",
        "4781 9263",
        "glorvane",
        "yseltra",
        "stellmoor",
        "zentarial",
    ]
    .iter()
    .map(|v| v.to_lowercase())
    .collect();
    values.push("quillonna.vexmarrow%40example.org".into());
    values.push("%2b31%206%204781%209263".into());
    values
}

/// Everything every target logged since the process started.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_lowercase()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once; before any `TestApp`, whose own
/// attempt then does nothing).
fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .try_init()
                .expect("this test binary installs the only subscriber");
            captured
        })
        .clone()
}

fn leaks(text: &str, values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter(|value| text.contains(value.as_str()))
        .map(|value| {
            let at = text.find(value.as_str()).unwrap();
            let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
            format!("{value:?} in: {}", &text[start..end])
        })
        .collect()
}

/// The flow: every kind of request that carries personal data.
async fn flow(app: &TestApp) {
    // A public form: a lead with a scheduled call.
    app.send(
        Method::POST,
        "/v1/intake-submissions",
        None,
        Some(json!({
            "email": EMAIL, "first_name": FIRST, "last_name": LAST, "phone": PHONE,
            "medical_condition": CONDITION, "requested_call_at": "2026-03-01T09:00:00Z"
        })),
        &[],
    )
    .await
    .expect(201);
    // The same person again, and a malformed public form.
    app.send(
        Method::POST,
        "/v1/intake-submissions",
        None,
        Some(json!({"email": EMAIL.to_uppercase(), "first_name": FIRST})),
        &[],
    )
    .await
    .expect(201);
    app.send(
        Method::POST,
        "/v1/intake-submissions",
        None,
        Some(json!({"email": BAD_EMAIL, "first_name": FIRST})),
        &[],
    )
    .await
    .expect_problem(422);

    // Found by email, raw and encoded.
    let found = app
        .get(&format!("/v1/patients?email={EMAIL}"), Role::Navigator)
        .await
        .expect(200);
    let lead = found.body["items"][0].clone();
    let id = lead["id"].as_str().unwrap().to_owned();
    app.get(
        "/v1/patients?email=quillonna.vexmarrow%40example.org&status=lead",
        Role::Navigator,
    )
    .await
    .expect(200);
    app.get(
        &format!("/v1/intake-submissions?patient_id={id}"),
        Role::Navigator,
    )
    .await
    .expect(200);

    // Another person created by a navigator; a duplicate email; bad values.
    let other = app
        .post(
            "/v1/patients",
            Role::Navigator,
            json!({"email": OTHER_EMAIL, "first_name": OTHER_FIRST, "phone": OTHER_PHONE}),
        )
        .await
        .expect(201);
    app.post(
        "/v1/patients",
        Role::Navigator,
        json!({"email": EMAIL, "first_name": FIRST}),
    )
    .await
    .expect_problem(409);
    app.patch(
        &format!("/v1/patients/{}", other.id()),
        Role::Navigator,
        json!({"email": EMAIL}),
    )
    .await
    .expect_problem(409);
    app.post(
        "/v1/patients",
        Role::Navigator,
        json!({"email": BAD_EMAIL, "last_name": LAST}),
    )
    .await
    .expect_problem(422);
    app.patch(
        &format!("/v1/patients/{id}"),
        Role::Navigator,
        json!({"last_name": LAST, "phone": OTHER_PHONE}),
    )
    .await
    .expect(200);

    // The call, its notes and outcome, then the conversion.
    let page = app
        .get(
            &format!("/v1/patients/{id}?include=calls,submissions"),
            Role::Navigator,
        )
        .await
        .expect(200);
    let call = page.body["calls"][0]["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("/v1/calls/{call}"),
        Role::Navigator,
        json!({"notes": NOTES}),
    )
    .await
    .expect(200);
    app.post(
        "/v1/calls",
        Role::Navigator,
        json!({"patient_id": id, "scheduled_at": "2026-03-02T09:00:00Z", "notes": NOTES}),
    )
    .await
    .expect(201);
    app.patch(
        &format!("/v1/calls/{call}"),
        Role::Navigator,
        json!({"status": "completed", "notes": OUTCOME}),
    )
    .await
    .expect(200);
    let converted = app
        .post(
            &format!("/v1/patients/{id}/convert"),
            Role::Navigator,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(converted.body["status"], "patient");
    app.get(&format!("/v1/patients/{id}/history"), Role::Navigator)
        .await
        .expect(200);
    app.get(&format!("/v1/calls?patient_id={id}"), Role::Navigator)
        .await
        .expect(200);
}

async fn no_personal_data_is_logged(backend: Backend) {
    let captured = capture();
    let app = TestApp::new(backend).await;
    flow(&app).await;
    let token = app.token(Role::Navigator);
    app.finish().await;

    let text = captured.text();
    // The capture works: the flow's requests, SQL and responses are in it.
    for expected in ["intake", "response", "select"] {
        assert!(
            text.contains(expected),
            "nothing like {expected:?} was captured"
        );
    }
    let mut values = personal_values();
    values.push(token.to_lowercase());
    values.push(String::from_utf8_lossy(SECRET).to_lowercase());
    let found = leaks(&text, &values);
    assert!(
        found.is_empty(),
        "personal data or secrets in the logs:\n{}",
        found.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_reaches_the_logs_at_trace_on_sqlite() {
    no_personal_data_is_logged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_reaches_the_logs_at_trace_on_postgres() {
    if !helpers::postgres_available() {
        return;
    }
    no_personal_data_is_logged(Backend::Postgres).await;
}

/// One HTTP/1.1 request to the server on `port`; the status line.
async fn http(port: u16, request: String) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn request(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> String {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_logs_no_secret_and_no_personal_data_at_trace() {
    if !helpers::postgres_available() {
        return;
    }
    let app = TestApp::new(Backend::Postgres).await;
    let password = "pw-Trellisqua-5517";
    let secret = "jwt-secret-Marblefinch-0c9f3a1d77e24b5b";
    // Trust authentication ignores the password; the URL still carries it.
    let url = app.url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{password}@"),
        1,
    );
    assert!(
        url.contains(password),
        "TEST_DATABASE_URL has the expected form"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_navigator"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("NAVIGATOR_JWT_SECRET", secret)
        .env("RUST_LOG", "trace")
        .env_remove("NAVIGATOR_CORS_ORIGINS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let output = output.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut all = output.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let port = loop {
        let text = output.lock().unwrap().clone();
        if let Some(at) = text.find("listening on http://127.0.0.1:") {
            let rest = &text[at + "listening on http://127.0.0.1:".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break digits.parse::<u16>().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start:\n{text}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let token = JwtKeys::new(secret.as_bytes()).mint("log-checker", Role::Navigator, 600);
    let form = json!({"email": EMAIL, "first_name": FIRST, "last_name": LAST, "phone": PHONE, "medical_condition": CONDITION});
    let statuses = [
        http(port, request("GET", "/ready", None, None)).await,
        http(
            port,
            request("POST", "/v1/intake-submissions", None, Some(form)),
        )
        .await,
        http(
            port,
            request(
                "GET",
                &format!("/v1/patients?email={EMAIL}"),
                Some(&token),
                None,
            ),
        )
        .await,
        http(
            port,
            request(
                "POST",
                "/v1/patients",
                Some(&token),
                Some(json!({"email": EMAIL})),
            ),
        )
        .await,
        http(
            port,
            request("GET", "/v1/patients", Some("not-a-token"), None),
        )
        .await,
    ];
    assert!(statuses[0].contains(" 200"), "{statuses:?}");
    assert!(statuses[1].contains(" 201"), "{statuses:?}");
    assert!(statuses[2].contains(" 200"), "{statuses:?}");
    assert!(statuses[3].contains(" 409"), "{statuses:?}");
    assert!(statuses[4].contains(" 401"), "{statuses:?}");
    // Let the last lines be written, then stop the server.
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    app.finish().await;

    let text = output.lock().unwrap().to_lowercase();
    assert!(
        text.contains("jwt secret from navigator_jwt_secret"),
        "{text}"
    );
    let mut values = personal_values();
    values.extend([secret, password, &token, "not-a-token"].map(str::to_lowercase));
    let found = leaks(&text, &values);
    assert!(
        found.is_empty(),
        "secrets or personal data in the server's output:\n{}",
        found.join("\n")
    );
}
