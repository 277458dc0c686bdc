//! The connection pool, as patched in `vendor/sqlx-core`: a connection goes
//! back to the pool without a round trip to the server, yet never carries
//! what an abandoned query or transaction left on it to the next task that
//! borrows it, nor keeps an abandoned transaction open meanwhile.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use navigator::db::{self, PoolSettings};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{
    helpers::{Backend, TestApp},
    on_both_databases,
};

/// A pool of one connection on the test's database: whatever the last
/// borrower left on it, the next one gets.
fn one_connection(url: &str) -> DatabaseConnection {
    db::connect(
        url,
        PoolSettings {
            max_connections: 1,
            ..Default::default()
        },
    )
    .unwrap()
}

async fn number(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .expect("a row");
    row.try_get::<i64>("", "n").unwrap()
}

on_both_databases! {
    async fn a_connection_whose_query_was_abandoned_answers_the_next_query_with_its_own_result(app) {
        let db = one_connection(&app.url);
        let slow = match app.backend {
            Backend::Postgres => "SELECT 7::int8 AS n FROM pg_sleep(0.5)",
            Backend::Sqlite => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) \
                 SELECT count(*) AS n FROM c"
            }
        };
        // As when a client goes away mid-request: the query's future is
        // dropped before its result arrives, and its connection released.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            db.query_one_raw(Statement::from_string(db.get_database_backend(), slow)),
        )
        .await;
        assert!(abandoned.is_err(), "the slow query was not abandoned");

        assert_eq!(number(&db, "SELECT CAST(42 AS BIGINT) AS n").await, 42);
        assert_eq!(number(&db, "SELECT CAST(43 AS BIGINT) AS n").await, 43);
        db.close().await.ok();
    }
}

/// Forwards a local port to PostgreSQL, counting the `Sync` messages
/// clients send: one ends each extended-protocol query, and upstream sqlx's
/// release ping is one more. The client must not ask for TLS.
async fn sync_counting_proxy(postgres: String, syncs: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&postgres).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let syncs = syncs.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut started = false;
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                    pending.extend_from_slice(&buf[..n]);
                    // The startup message has no type byte; every later
                    // message is a type byte and a length that counts itself.
                    loop {
                        let header = if started { 5 } else { 4 };
                        if pending.len() < header {
                            break;
                        }
                        let at = header - 4;
                        let len = u32::from_be_bytes(pending[at..at + 4].try_into().unwrap());
                        let total = at + len as usize;
                        if pending.len() < total {
                            break;
                        }
                        if started && pending[0] == b'S' {
                            syncs.fetch_add(1, Ordering::SeqCst);
                        }
                        started = true;
                        pending.drain(..total);
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
        }
    });
    port
}

/// `host:port` of a PostgreSQL URL (`postgres://user@host:port/db?...`).
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, host)| host)
}

/// The test database's URL through a proxy at `port`, without TLS.
fn through(app: &TestApp, port: u16) -> String {
    let url = app
        .url
        .replacen(authority(&app.url), &format!("127.0.0.1:{port}"), 1);
    assert_ne!(url, app.url, "the test database's URL names no host");
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_costs_one_round_trip_and_its_connection_s_release_none() {
    if !crate::helpers::postgres_available() {
        return;
    }
    let app = TestApp::new(Backend::Postgres).await;
    let syncs = Arc::new(AtomicUsize::new(0));
    let proxy = sync_counting_proxy(authority(&app.url).to_owned(), syncs.clone()).await;
    let db = one_connection(&through(&app, proxy));
    // Connected, and the statement prepared and cached.
    assert_eq!(number(&db, "SELECT CAST(1 AS BIGINT) AS n").await, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let before = syncs.load(Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(number(&db, "SELECT CAST(1 AS BIGINT) AS n").await, 1);
    }
    // Each release runs in a task of its own, after the result arrived.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        syncs.load(Ordering::SeqCst) - before,
        5,
        "Sync messages for 5 queries"
    );
    db.close().await.ok();
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_without_commit_ends_on_the_server_when_its_connection_is_released() {
    if !crate::helpers::postgres_available() {
        return;
    }
    let app = TestApp::new(Backend::Postgres).await;
    let db = one_connection(&app.url);
    let tx = db.begin().await.unwrap();
    let pid = number(&tx, "SELECT CAST(pg_backend_pid() AS BIGINT) AS n").await;
    drop(tx);

    // Seen from another connection: not left "idle in transaction", holding
    // its locks until the connection is next borrowed.
    let state = || async {
        app.db
            .query_one_raw(Statement::from_sql_and_values(
                app.db.get_database_backend(),
                "SELECT state FROM pg_stat_activity WHERE pid = $1",
                [pid.into()],
            ))
            .await
            .unwrap()
            .and_then(|row| row.try_get::<String>("", "state").ok())
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while state().await.as_deref() != Some("idle") && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state().await.as_deref(), Some("idle"));
    db.close().await.ok();
    app.finish().await;
}
