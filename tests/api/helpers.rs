//! A fresh app per test, on its own database: a SQLite file in a temporary
//! directory, or a new schema in PostgreSQL. Requests go through
//! `navigator::app`, the same router production serves.
//!
//! # Which PostgreSQL
//!
//! `TEST_DATABASE_URL` if it is set (CI sets it; a server that does not
//! answer then fails the tests). Otherwise, where PostgreSQL's binaries are
//! installed (`/usr/lib/postgresql/*/bin`), a throwaway cluster of this
//! test binary's own: `initdb` in a temporary directory (as an unprivileged
//! user when the tests run as root, which `initdb` refuses), on a free
//! port, removed when the test binary exits. Otherwise the PostgreSQL half
//! of the tests is skipped, and a banner on stderr says so and why.

use std::{str::FromStr, sync::Arc, sync::OnceLock};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode},
};
use http_body_util::BodyExt;
use navigator::{
    AppState, app,
    db::{self, PoolSettings},
    domain::Role,
    http::{Authenticator, JwtKeys},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, sqlx::postgres::PgConnectOptions};
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running app on its own database.
pub struct TestApp {
    pub router: Router,
    /// A URL the `navigator` binary can use to reach this test's database.
    pub url: String,
    pub db: DatabaseConnection,
    #[allow(dead_code)]
    pub backend: Backend,
    keys: Arc<JwtKeys>,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Schema(String),
    /// Another `TestApp` owns the database (see [`TestApp::with_state`]).
    Borrowed,
}

/// A response, its body parsed as JSON (or `Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("the body has an id")
            .to_owned()
    }

    /// Asserts the status, printing the body on failure.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts a problem+json error with this status.
    #[track_caller]
    pub fn expect_problem(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.body["status"], status);
        self
    }
}

/// The URL of the PostgreSQL the tests use (see the module notes); only
/// for a test that checked [`postgres_available`].
pub(crate) fn postgres_admin_url() -> String {
    match postgres() {
        Ok(url) => url.clone(),
        Err(reason) => panic!("no PostgreSQL for the tests: {reason}"),
    }
}

/// Whether the PostgreSQL tests can run here. When not, a PostgreSQL test
/// returns at once, and this test binary has said why on stderr.
pub fn postgres_available() -> bool {
    postgres().is_ok()
}

fn postgres() -> &'static Result<String, String> {
    static POSTGRES: OnceLock<Result<String, String>> = OnceLock::new();
    POSTGRES.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            return Ok(url);
        }
        let started = throwaway_postgres::start();
        // Straight to the process's stderr: the test harness captures
        // `eprintln!` of passing tests, and this must be seen.
        let banner = match &started {
            Ok(cluster) => format!(
                "\nPostgreSQL tests: TEST_DATABASE_URL is unset; started a throwaway cluster \
                 ({}) at {} in {} for this test binary, removed when it exits.\n",
                cluster.version,
                cluster.url,
                cluster.dir.display()
            ),
            Err(reason) => format!(
                "\n{line}\nPostgreSQL half SKIPPED: TEST_DATABASE_URL is unset and {reason}.\n\
                 Only the SQLite half of the tests runs. Set TEST_DATABASE_URL, or install \
                 PostgreSQL's server binaries, to run both.\n{line}\n",
                line = "!".repeat(78)
            ),
        };
        use std::io::Write;
        let _ = std::io::stderr().write_all(banner.as_bytes());
        started.map(|cluster| cluster.url)
    })
}

/// A PostgreSQL cluster of this test binary's own.
mod throwaway_postgres {
    use std::{
        os::unix::{fs::MetadataExt, process::CommandExt},
        path::{Path, PathBuf},
        process::{Command, Stdio},
    };

    pub struct Cluster {
        pub url: String,
        pub dir: PathBuf,
        pub version: String,
    }

    /// Runs `initdb` and `pg_ctl start` from the newest
    /// `/usr/lib/postgresql/*/bin`, and a watcher that stops the server and
    /// removes its directory once this process has exited. `Err`: why no
    /// cluster could be started.
    pub fn start() -> Result<Cluster, String> {
        let bin = binaries()?;
        let version = bin
            .parent()
            .and_then(Path::file_name)
            .map(|v| format!("PostgreSQL {}", v.to_string_lossy()))
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("navigator-test-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let user = unprivileged_user()?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot hand {} to uid {uid}: {e}", dir.display()))?;
        }
        let as_user = |program: &str| {
            let mut command = Command::new(bin.join(program));
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some((uid, gid)) = user {
                command.uid(uid).gid(gid);
            }
            command
        };
        // Before anything else starts: a watcher that outlives this process,
        // waits for it to end, then stops the server (if it runs) and
        // removes everything.
        let mut watcher = Command::new("sh");
        watcher
            .arg("-c")
            .arg(r#"while [ -d "/proc/$1" ]; do sleep 1; done; "$2/pg_ctl" -D "$3/data" stop -m immediate; rm -rf "$3""#)
            .args(["watcher", &std::process::id().to_string()])
            .arg(&bin)
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = user {
            watcher.uid(uid).gid(gid);
        }
        watcher
            .spawn()
            .map_err(|e| format!("cannot start the clean-up watcher: {e}"))?;
        let data = dir.join("data");
        run(as_user("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]))?;
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -F",
                dir.display()
            );
            let started = run(as_user("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]));
            match started {
                Ok(()) => {
                    return Ok(Cluster {
                        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                        dir,
                        version,
                    });
                }
                Err(err) => last_error = err, // the port was taken meanwhile
            }
        }
        Err(last_error)
    }

    /// The newest installed version's binaries.
    fn binaries() -> Result<PathBuf, String> {
        let root = Path::new("/usr/lib/postgresql");
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
            .map_err(|_| {
                format!(
                    "no PostgreSQL binaries were found ({} is missing)",
                    root.display()
                )
            })?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
                    .then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin).ok_or_else(|| {
            format!(
                "no PostgreSQL binaries were found (no {}/*/bin/initdb)",
                root.display()
            )
        })
    }

    /// Who runs the cluster: this process's user, unless it is root
    /// (`initdb` refuses root), then `postgres` or `nobody`.
    fn unprivileged_user() -> Result<Option<(u32, u32)>, String> {
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if !root {
            return Ok(None);
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        ["postgres", "nobody"]
            .iter()
            .find_map(|name| {
                passwd.lines().find_map(|line| {
                    let fields: Vec<&str> = line.split(':').collect();
                    (fields.len() > 3 && fields[0] == *name)
                        .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                        .flatten()
                })
            })
            .map(Some)
            .ok_or_else(|| {
                "the tests run as root and there is no postgres or nobody user for initdb".into()
            })
    }

    fn free_port() -> Result<u16, String> {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
    }

    fn run(command: &mut Command) -> Result<(), String> {
        let output = command
            .output()
            .map_err(|e| format!("cannot run {command:?}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        // Server-side logs (warnings and errors) appear with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_test_writer()
            .try_init();
        let suffix = uuid::Uuid::now_v7().simple().to_string();
        let (db, cleanup, url) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("navigator-test-{suffix}"));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}/test.db", dir.display());
                (
                    // As the server opens it.
                    db::connect(
                        &url,
                        PoolSettings {
                            max_connections: 8,
                            checkpoints: db::Checkpoints::Background(Default::default()),
                            ..Default::default()
                        },
                    )
                    .unwrap(),
                    Cleanup::Dir(dir),
                    url,
                )
            }
            Backend::Postgres => {
                let schema = format!("t_{suffix}");
                let admin = db::connect(
                    &postgres_admin_url(),
                    PoolSettings {
                        max_connections: 1,
                        ..Default::default()
                    },
                )
                .unwrap();
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL at {} is required for the postgres tests: {e}",
                            postgres_admin_url()
                        )
                    });
                admin.close().await.ok();
                let options = PgConnectOptions::from_str(&postgres_admin_url())
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                (
                    db::pool_postgres(
                        options,
                        PoolSettings {
                            max_connections: 8,
                            ..Default::default()
                        },
                    ),
                    Cleanup::Schema(schema.clone()),
                    format!(
                        "{}{}options=-c%20search_path%3D{schema}",
                        postgres_admin_url(),
                        if postgres_admin_url().contains('?') {
                            '&'
                        } else {
                            '?'
                        }
                    ),
                )
            }
        };
        db::migrations::run(&db).await.expect("migrations apply");
        let keys = Arc::new(JwtKeys::new(SECRET));
        let state = AppState::new(db.clone(), Authenticator::Jwt(keys.clone()));
        Self {
            router: app(state),
            url,
            db,
            backend,
            keys,
            cleanup,
        }
    }

    /// The same database behind a router whose state `configure` changed
    /// (say `with_intake_limit`); `self` still owns the database.
    #[allow(dead_code)]
    pub fn with_state(&self, configure: impl FnOnce(AppState) -> AppState) -> TestApp {
        let state = AppState::new(self.db.clone(), Authenticator::Jwt(self.keys.clone()));
        TestApp {
            router: app(configure(state)),
            url: self.url.clone(),
            db: self.db.clone(),
            backend: self.backend,
            keys: self.keys.clone(),
            cleanup: Cleanup::Borrowed,
        }
    }

    /// Drops the test's database.
    pub async fn finish(self) {
        if matches!(self.cleanup, Cleanup::Borrowed) {
            return;
        }
        self.db.close().await.ok();
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema(schema) => {
                let admin = db::connect(
                    &postgres_admin_url(),
                    PoolSettings {
                        max_connections: 1,
                        ..Default::default()
                    },
                )
                .unwrap();
                let _ = admin
                    .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                    .await;
                admin.close().await.ok();
            }
            Cleanup::Borrowed => {}
        }
    }

    pub fn token(&self, role: Role) -> String {
        self.keys.mint(&format!("{role}-user"), role, 3600)
    }

    /// Sends a request as `role` (or anonymously) with optional JSON body
    /// and extra headers.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        role: Option<Role>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(role) = role {
            request = request.header("authorization", format!("Bearer {}", self.token(role)));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.raw(request.body(body).unwrap()).await
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str, role: Role) -> Reply {
        self.send(Method::GET, uri, Some(role), None, &[]).await
    }

    pub async fn post(&self, uri: &str, role: Role, body: Value) -> Reply {
        self.send(Method::POST, uri, Some(role), Some(body), &[])
            .await
    }

    pub async fn patch(&self, uri: &str, role: Role, body: Value) -> Reply {
        self.send(Method::PATCH, uri, Some(role), Some(body), &[])
            .await
    }

    pub async fn delete(&self, uri: &str, role: Role) -> Reply {
        self.send(Method::DELETE, uri, Some(role), None, &[]).await
    }

    /// Another writer's transaction that has applied `changes` to record
    /// `id` (one version up) and is kept open: pass it to [`Self::racing`].
    #[allow(dead_code)]
    pub async fn another_writer_changes<E>(
        &self,
        id: &str,
        changes: E::ActiveModel,
    ) -> navigator::db::WriteTransaction
    where
        E: navigator::db::store::Mutable,
        E::Model: serde::Serialize,
        E::ActiveModel: sea_orm::ActiveModelTrait<Entity = E> + Send,
    {
        use navigator::db::{begin_write, store};
        let other = begin_write(&self.db).await.unwrap();
        let before = store::find_for_update::<E>(&other, id.parse().unwrap())
            .await
            .unwrap();
        store::update::<E>(&other, "other-writer", &before, changes)
            .await
            .unwrap();
        other
    }

    /// Runs `request` while `other`, a write transaction that has changed
    /// a row the request will change, stays open, and commits `other` only
    /// once the request waits for it: on PostgreSQL, when the request is
    /// blocked by `other`'s row lock; on SQLite, where the request waits in
    /// the write queue before its read, after a pause.
    #[allow(dead_code)]
    pub async fn racing(
        &self,
        other: navigator::db::WriteTransaction,
        request: impl std::future::Future<Output = Reply>,
    ) -> Reply {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let other_pid = match self.backend {
            Backend::Postgres => {
                let sql = "SELECT pg_backend_pid() AS pid";
                let row = other
                    .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .unwrap()
                    .unwrap();
                Some(row.try_get::<i32>("", "pid").unwrap())
            }
            Backend::Sqlite => None,
        };
        let release = async {
            match other_pid {
                Some(pid) => {
                    let waiting = format!(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE {pid} = ANY(pg_blocking_pids(pid))"
                    );
                    let mut blocked = false;
                    for _ in 0..500 {
                        let row = self
                            .db
                            .query_one_raw(Statement::from_string(
                                DbBackend::Postgres,
                                waiting.clone(),
                            ))
                            .await
                            .unwrap()
                            .unwrap();
                        if row.try_get::<i64>("", "n").unwrap() > 0 {
                            blocked = true;
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    assert!(
                        blocked,
                        "the request never waited for the other writer; the test proves nothing"
                    );
                }
                None => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
            other.commit().await.unwrap();
        };
        let (reply, ()) = tokio::join!(request, release);
        reply
    }

    /// Creates a record as admin and returns its id.
    pub async fn create(&self, collection: &str, body: Value) -> String {
        self.post(&format!("/v1/{collection}"), Role::Admin, body)
            .await
            .expect(201)
            .id()
    }
}

/// Declares each test twice, as `name::sqlite` and `name::postgres`, each
/// on a fresh database.
#[macro_export]
macro_rules! on_both_databases {
    ($(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: &$crate::helpers::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::new($crate::helpers::Backend::Sqlite).await;
                run(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_available() {
                    return;
                }
                let app = $crate::helpers::TestApp::new($crate::helpers::Backend::Postgres).await;
                run(&app).await;
                app.finish().await;
            }
        }
    )*};
}

/// A converted patient as the CRM import writes one, straight into the
/// table (converted now, no physician): set what a test needs, then insert.
#[allow(dead_code)]
pub fn converted_patient(email: &str) -> navigator::db::entities::patient::ActiveModel {
    use navigator::domain::{PatientStatus, PractitionerKind};
    use sea_orm::{ActiveValue::Set, prelude::Uuid};
    let now = chrono::Utc::now();
    navigator::db::entities::patient::ActiveModel {
        id: Set(Uuid::now_v7()),
        status: Set(PatientStatus::Patient),
        email: Set(Some(email.to_owned())),
        physician_kind: Set(PractitionerKind::Physician),
        converted_at: Set(Some(now)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

impl TestApp {
    /// The plan the database chooses for `query`, as text. On PostgreSQL,
    /// `postgres_settings` (`SET LOCAL ...`) hold for it: on the tests'
    /// small tables its planner would read them whole, and turning that off
    /// shows which index would serve.
    pub async fn query_plan(&self, query: &str, postgres_settings: &str) -> String {
        use sea_orm::{Statement, TransactionTrait};
        let (explain, column) = match self.backend {
            Backend::Sqlite => ("EXPLAIN QUERY PLAN", 3),
            Backend::Postgres => ("EXPLAIN", 0),
        };
        // One connection: settings are per connection.
        let tx = self.db.begin().await.unwrap();
        if self.backend == Backend::Postgres && !postgres_settings.is_empty() {
            tx.execute_unprepared(postgres_settings).await.unwrap();
        }
        let sql = format!("{explain} {query}");
        let rows = tx
            .query_all_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap();
        let lines: Vec<String> = (rows.iter())
            .map(|row| row.try_get_by_index::<String>(column).unwrap())
            .collect();
        lines.join("\n")
    }
}
