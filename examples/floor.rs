//! The least an HTTP server on this stack can do for a GET by id: the
//! benchmark's floor (`bench/run.sh`), set beside pgbench and Navigator.
//!
//! `GET /v1/patients/{id}` reads the patient's row (every column, the select
//! pgbench runs) with one prepared statement on a pool of PostgreSQL
//! connections, and answers `{"id": ...}`, or 404. Nothing else: no token,
//! no access log, no middleware, no JSON of the row. The same runtime,
//! HTTP server (axum on hyper) and driver (sqlx, with rustls) as Navigator.
//! Whatever rate this reaches, no server built on them serving the same read
//! over HTTP on the same machine can exceed it by much; Navigator's rate is
//! reported as a share of both.
//!
//! ```sh
//! cargo run --release --example floor -- --database-url postgres://postgres@127.0.0.1:5432/navigator_bench --addr 127.0.0.1:3918
//! ```

use std::net::SocketAddr;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use clap::Parser;
use sea_orm::{prelude::Uuid, sqlx};
use serde_json::{Value, json};
use sqlx::{Row, postgres::PgPoolOptions};

/// Serve the floor: one route, one prepared select.
#[derive(Debug, Parser)]
struct Args {
    /// A migrated and seeded Navigator database on PostgreSQL.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:3918")]
    addr: SocketAddr,
    /// Connections in the pool (Navigator's default).
    #[arg(long, default_value_t = 8)]
    max_connections: u32,
}

#[derive(Clone)]
struct Floor {
    pool: sqlx::PgPool,
    select: &'static str,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let pool = PgPoolOptions::new()
        .max_connections(args.max_connections)
        // As Navigator's pool: a connection is not pinged before each use.
        .test_before_acquire(false)
        .connect(&args.database_url)
        .await?;
    // Every column, named, as pgbench's script and Navigator's entity do.
    let columns: String = sqlx::query_scalar(
        "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_name = 'patients'",
    )
    .fetch_one(&pool)
    .await?;
    let select = format!("SELECT {columns} FROM patients WHERE id = $1").leak();
    let app = Router::new()
        .route("/v1/patients/{id}", get(patient))
        .with_state(Floor { pool, select });
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    eprintln!("floor listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn patient(
    State(floor): State<Floor>,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>, StatusCode> {
    let row = sqlx::query(floor.select)
        .bind(id)
        .fetch_optional(&floor.pool)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::NOT_FOUND)?;
    let id: Uuid = row
        .try_get("id")
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(json!({ "id": id })))
}
