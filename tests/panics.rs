//! A handler that panics: the request is answered 500 problem+json, the
//! panic is logged once, and the next request is served, on the local
//! server (its own accept loop, over TCP) and through the Lambda adapter
//! (real API Gateway events), on both databases.
//!
//! The panicking route exists only here: `http::app_with` puts it behind
//! the API's own middleware. A test binary of its own, as it installs the
//! process's panic hook (`http::log_panics`) and collects the log.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
};

use axum::{Router, routing};
use lambda_http::{Context, LambdaEvent, request::LambdaRequest};
use navigator::{
    AppState,
    http::{Authenticator, JwtKeys, app_with, server},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use helpers::TestApp;

/// Everything logged by this test binary.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// The lines logged so far that contain `marker`.
    fn lines_with(&self, marker: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(marker))
            .count()
    }
}

/// The log, with the panic hook the entry points install.
fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Log::default();
        let writer = log.clone();
        tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        navigator::http::log_panics();
        log
    })
}

/// The test's app with a route that panics with `marker` at `/boom`.
fn panicking_app(app: &TestApp, marker: &'static str) -> Router {
    let keys = Arc::new(JwtKeys::new(helpers::SECRET));
    let state = AppState::new(app.db.clone(), Authenticator::Jwt(keys));
    let extra = Router::new().route("/boom", routing::get(move || boom(marker)));
    app_with(state, extra)
}

async fn boom(marker: &'static str) -> &'static str {
    panic!("{marker}")
}

/// Sends `GET path` on `stream` (kept alive): the status and the body.
async fn get(stream: &mut TcpStream, path: &str) -> (u16, Value) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .expect("a content-length")
            .trim()
            .parse()
            .unwrap();
        if body.len() >= length {
            let status = head[9..12].parse().unwrap();
            return (status, serde_json::from_str(&body[..length]).unwrap());
        }
    }
}

async fn the_local_server_answers_a_panic_with_a_500_and_serves_on(backend: helpers::Backend) {
    let log = log();
    let app = TestApp::new(backend).await;
    let marker: &'static str = match backend {
        helpers::Backend::Sqlite => "boom-on-the-server-sqlite",
        helpers::Backend::Postgres => "boom-on-the-server-postgres",
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(
        listener,
        panicking_app(&app, marker),
        server::Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (status, problem) = get(&mut stream, "/boom").await;
    assert_eq!(status, 500);
    assert_eq!(problem["status"], 500);
    assert_eq!(
        problem["type"],
        "https://navigator.example/problems/internal"
    );
    assert!(!problem.to_string().contains(marker), "{problem}");
    // The same connection, and a new one, are served.
    assert_eq!(get(&mut stream, "/ready").await.0, 200);
    let mut another = TcpStream::connect(addr).await.unwrap();
    assert_eq!(get(&mut another, "/ready").await.0, 200);
    assert_eq!(log.lines_with(marker), 1, "the panic is logged once");
    assert_eq!(log.lines_with("internal error"), 0);

    stop.send(()).unwrap();
    drop((stream, another));
    serving.await.unwrap().unwrap();
    app.finish().await;
}

/// A payload 2.0 event (HTTP API, `$default` stage) for `GET path`.
fn http_api_get(path: &str) -> LambdaEvent<LambdaRequest> {
    let file = format!(
        "{}/tests/fixtures/example-apigw-v2-request-no-authorizer.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!("GET");
    event["rawQueryString"] = json!("");
    event["queryStringParameters"] = Value::Null;
    event["body"] = Value::Null;
    event.as_object_mut().unwrap().remove("cookies");
    LambdaEvent::new(serde_json::from_value(event).unwrap(), Context::default())
}

async fn the_lambda_adapter_answers_a_panic_with_a_500_and_serves_on(backend: helpers::Backend) {
    let log = log();
    let app = TestApp::new(backend).await;
    let marker: &'static str = match backend {
        helpers::Backend::Sqlite => "boom-on-lambda-sqlite",
        helpers::Backend::Postgres => "boom-on-lambda-postgres",
    };
    let router = panicking_app(&app, marker);
    let invoke = |path: &'static str| {
        let router = router.clone();
        async move {
            let response = navigator::lambda::handle(router, http_api_get(path)).await;
            serde_json::to_value(response).unwrap()
        }
    };
    let panicked = invoke("/boom").await;
    assert_eq!(panicked["statusCode"], 500, "{panicked}");
    let problem: Value = serde_json::from_str(panicked["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["status"], 500);
    assert_eq!(
        panicked["headers"]["content-type"],
        "application/problem+json"
    );
    assert_eq!(invoke("/ready").await["statusCode"], 200);
    assert_eq!(log.lines_with(marker), 1, "the panic is logged once");
    assert_eq!(log.lines_with("internal error"), 0);
    app.finish().await;
}

macro_rules! on_both {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !super::helpers::postgres_available() {
                    return;
                }
                super::$name(super::helpers::Backend::Postgres).await;
            }
        }
    )*};
}

on_both!(
    the_local_server_answers_a_panic_with_a_500_and_serves_on,
    the_lambda_adapter_answers_a_panic_with_a_500_and_serves_on
);
