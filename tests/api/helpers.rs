//! A fresh app per test, on its own database: a SQLite file in a temporary
//! directory, or a new schema in the PostgreSQL named by
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Requests go through `navigator::app`, the same router production serves.

use std::{str::FromStr, sync::Arc};

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

pub(crate) fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
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
                let app = $crate::helpers::TestApp::new($crate::helpers::Backend::Postgres).await;
                run(&app).await;
                app.finish().await;
            }
        }
    )*};
}
