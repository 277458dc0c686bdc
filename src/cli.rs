//! The `navigator` command: `serve` (default), `migrate`, `token`,
//! `openapi`. It parses the command line and environment, then calls into
//! the library; it holds no logic of its own.

use std::{net::SocketAddr, num::NonZeroU32, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use sea_orm::ConnectionTrait;

use crate::{
    config::{self, SecretSource},
    db,
    domain::Role,
    http::{self, AppState, Authenticator, JwtKeys},
};

/// Navigator: the patient-navigation backend.
#[derive(Debug, Parser)]
#[command(name = "navigator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = config::DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database and serve the API (the default).
    Serve,
    /// Apply pending schema migrations, then exit.
    Migrate,
    /// Print a signed bearer token for local use (the token alone on stdout).
    Token(TokenArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Import a legacy CRM export (a folder of CSV files) into the database.
    ImportLegacy(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The export's folder (medical_condition.csv, hospital.csv, ...).
    export_dir: std::path::PathBuf,
    /// Validate and report; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the full report (every row's outcome) to this JSON file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "NAVIGATOR_ADDR",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    addr: SocketAddr,
    /// Most database connections in the pool.
    #[arg(
        long,
        env = "NAVIGATOR_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    max_connections: u32,
    /// Browser origins allowed to call the API (CORS), comma-separated.
    #[arg(
        long = "cors-origin",
        env = "NAVIGATOR_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    cors_origins: Vec<String>,
    /// Public intake submissions one client (IP address; IPv6 per /64) may
    /// send at once.
    #[arg(
        long,
        env = "NAVIGATOR_INTAKE_BURST",
        default_value = "30",
        global = true
    )]
    intake_burst: NonZeroU32,
    /// Public intake submissions per second one client may send after its
    /// burst.
    #[arg(
        long,
        env = "NAVIGATOR_INTAKE_PER_SECOND",
        default_value = "1",
        global = true
    )]
    intake_per_second: NonZeroU32,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The role the token grants: viewer, navigator or admin.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// The subject (who the token speaks for; the actor in history).
    #[arg(long)]
    sub: String,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::from_text(text).ok_or_else(|| "expected viewer, navigator or admin".to_owned())
}

/// Runs the command line; the process's exit code.
pub fn main() -> ExitCode {
    // Started by the Lambda runtime: its own entry, no command line.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return crate::lambda::main();
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            config::init_tracing(false);
            serve(&cli.database_url, &cli.serve).await
        }
        Command::Migrate => {
            config::init_tracing(false);
            let db = db::connect(&cli.database_url, db::PoolSettings::default())?;
            let applied = db::migrations::run(&db).await?;
            tracing::info!(applied = applied.len(), "database is up to date");
            Ok(())
        }
        Command::Token(args) => {
            let (secret, _) = config::jwt_secret(&cli.database_url)?;
            println!(
                "{}",
                JwtKeys::new(&secret).mint(&args.sub, args.role, args.ttl_hours * 3600)
            );
            Ok(())
        }
        Command::Openapi => {
            println!("{}", http::openapi::document().to_pretty_json()?);
            Ok(())
        }
        Command::ImportLegacy(args) => {
            config::init_tracing(false);
            // One connection: the import is sequential, and on SQLite a
            // large page cache on that connection keeps index look-ups in
            // memory as the tables grow.
            let db = db::connect(
                &cli.database_url,
                db::PoolSettings {
                    max_connections: 1,
                    ..Default::default()
                },
            )?;
            if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
                db.execute_unprepared("PRAGMA cache_size = -262144").await?;
            }
            if !args.dry_run {
                db::migrations::run(&db).await?;
            }
            let options = crate::legacy::Options {
                dry_run: args.dry_run,
            };
            let report = crate::legacy::import(&db, &args.export_dir, options).await?;
            if let Some(path) = &args.report {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
            }
            print!("{}", report.summary());
            Ok(())
        }
    }
}

async fn serve(database_url: &str, args: &ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    // Refused before anything starts: a wildcard or malformed origin.
    let cors_origins = http::security::parse_origins(args.cors_origins.iter().map(String::as_str))
        .map_err(|err| format!("--cors-origin / NAVIGATOR_CORS_ORIGINS: {err}"))?;
    let intake_limit = http::IntakeLimit {
        burst: args.intake_burst,
        per_second: args.intake_per_second,
    };
    // No secret, no start (PostgreSQL without NAVIGATOR_JWT_SECRET), before
    // the database is touched.
    let (secret, source) = config::jwt_secret(database_url)?;
    let settings = db::PoolSettings {
        max_connections: args.max_connections,
        checkpoints: db::Checkpoints::Background(Default::default()),
        ..Default::default()
    };
    let db = db::connect(database_url, settings)?;
    let applied = db::migrations::run(&db).await?;
    tracing::info!(applied = applied.len(), backend = ?db.get_database_backend(), "database ready");
    match source {
        SecretSource::Environment => tracing::info!("JWT secret from NAVIGATOR_JWT_SECRET"),
        SecretSource::File { path, created } => tracing::info!(
            path = %path.display(),
            created,
            "JWT secret kept beside the database; `navigator token` run from here signs with it"
        ),
    }
    let access_log = http::AccessLog::on_own_thread(database_url)?;
    let keys = std::sync::Arc::new(JwtKeys::new(&secret));
    let state = AppState::new(db, Authenticator::Jwt(keys.clone()))
        .with_access_log(access_log)
        .with_cors_origins(cors_origins)
        .with_intake_limit(intake_limit);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // Local SQLite mode only: a ready sign-in for whoever started the
    // server. On stdout, not in the log: the token is a credential.
    if database_url.starts_with("sqlite:") {
        let token = keys.mint("local-admin", Role::Admin, 12 * 3600);
        let link = http::console::sign_in_link(listener.local_addr()?, &token);
        println!("Console (signed in as local-admin, for 12 hours): {link}");
    }
    let (access_log, db) = (state.access_log.clone(), state.db.clone());
    // Slow clients held within a header-read timeout and a connection cap.
    let limits = http::server::Limits::default();
    http::server::serve(listener, http::app(state), limits, shutdown()).await?;
    // Reads answered before the shutdown are logged before the process ends.
    access_log.flush().await?;
    // And the next start finds no write-ahead log to replay. Should another
    // process keep the log busy, the next start replays it: nothing is lost,
    // and the shutdown itself went well.
    if let Err(err) = db::checkpoint_all(&db).await {
        tracing::warn!(error = %err, "write-ahead log left for the next start");
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
