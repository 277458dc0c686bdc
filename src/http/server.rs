//! The local server's accept loop: the router over hyper's HTTP/1.1, as
//! `axum::serve` runs it, with two limits it lacks.
//!
//! - **Header-read timeout.** A connection that has not sent a whole
//!   request head within [`Limits::header_read_timeout`] of being ready for
//!   one (accepted, or done with its previous request) is closed. Without
//!   it, a client that sends half its headers, or nothing, holds its
//!   connection open for ever.
//! - **Connection cap.** At most [`Limits::max_connections`] connections are
//!   served at once; the next one waits in the listen backlog, in arrival
//!   order, until one closes. Without it, enough slow connections exhaust
//!   the process's file descriptors and nothing else is accepted.
//!
//! Together they bound what slow clients can do: they hold a slot for at
//! most the timeout, so a request behind them (`/health`) is served within
//! about one timeout per full round of slow clients ahead of it in the
//! backlog.

use std::{future::Future, io, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed for a request's line and headers to arrive.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    /// 10 seconds for the headers (a person's browser sends them in one
    /// packet); 512 connections, well under the usual 1,024 file
    /// descriptors of a process, with room for the database's.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then stops accepting and waits for the connections in progress to
/// finish their requests. The router sees each client's address as
/// `ConnectInfo<SocketAddr>` (the public intake's rate limit counts it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away, or timed out: nothing to report.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
