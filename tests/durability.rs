//! The audit trail holds when the process dies: the `navigator` binary
//! answers reads of a patient, is killed with SIGKILL right after the last
//! answer, and once started again lists every one of those reads in the
//! patient's access log, on SQLite and on PostgreSQL.
//!
//! A test binary of its own: it runs the real server (its access log's
//! writer thread, as `serve` starts it), where the API suite drives the
//! router in process with the log written inline.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use helpers::{Backend, TestApp};
use navigator::{domain::Role, http::JwtKeys};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "jwt-secret-durability-5b0c7d1e9f2a4c6e8a0b";
const EMAIL: &str = "durable.reads@example.org";

/// A `navigator serve` on the test's database, and the port it listens on.
async fn start_server(app: &TestApp) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_navigator"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", &app.url)
        .env("NAVIGATOR_JWT_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .env_remove("NAVIGATOR_CORS_ORIGINS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    for stream in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut all = output.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let marker = "listening on http://127.0.0.1:";
    loop {
        let text = output.lock().unwrap().clone();
        if let Some(at) = text.find(marker) {
            let digits: String = text[at + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            return (child, digits.parse().unwrap());
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
    }
}

/// One HTTP/1.1 request, read to its end: the status and the JSON body.
async fn http(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

async fn reads_survive_a_kill(backend: Backend) {
    let app = TestApp::new(backend).await;
    let keys = JwtKeys::new(SECRET.as_bytes());
    let reader = keys.mint("durable-reader", Role::Navigator, 600);
    let admin = keys.mint("durable-admin", Role::Admin, 600);

    let (mut server, port) = start_server(&app).await;
    let (status, created) = http(
        port,
        "POST",
        "/v1/patients",
        &reader,
        Some(json!({"email": EMAIL})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    const READS: usize = 3;
    for _ in 0..READS {
        let (status, read) = http(port, "GET", &format!("/v1/patients/{id}"), &reader, None).await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["email"], EMAIL, "the answer carries personal data");
    }
    // Right after the last answer, with no chance to flush anything.
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, port) = start_server(&app).await;
    let (status, log) = http(
        port,
        "GET",
        &format!("/v1/patients/{id}/access-log?limit=100"),
        &admin,
        None,
    )
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(status, 200, "{log}");
    let reads = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"] == "durable-reader" && r["route"] == "GET /v1/patients/{id}")
        .count();
    assert_eq!(
        reads, READS,
        "every answered read is in the access log after the kill: {log}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_read_is_in_the_access_log_after_a_kill_on_sqlite() {
    reads_survive_a_kill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_read_is_in_the_access_log_after_a_kill_on_postgres() {
    reads_survive_a_kill(Backend::Postgres).await;
}
