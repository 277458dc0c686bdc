//! The `navigator` command: `serve` (default), `migrate`, `token`,
//! `openapi`. It parses the command line and environment, then calls into
//! the library; it holds no logic of its own.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sea_orm::ConnectionTrait;

use crate::{
    config::{self, Config, SecretSource},
    db,
    domain::Role,
    http::{self, AppState, Authenticator, JwtKeys},
    lambda,
};

/// Navigator: the patient-navigation backend.
#[derive(Debug, Parser)]
#[command(name = "navigator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: Flags,
}

/// The configuration variables that have a flag: a flag given is that
/// variable's value (see [`config::VARIABLES`]), read by the same parser,
/// with the same default.
#[derive(Debug, Args)]
struct Flags {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://...`
    /// [env: DATABASE_URL; default: sqlite://navigator.db]
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Address to listen on [env: NAVIGATOR_ADDR; default: 127.0.0.1:3000]
    #[arg(long, global = true)]
    addr: Option<String>,
    /// Most database connections in the pool [env:
    /// NAVIGATOR_DB_MAX_CONNECTIONS; default: 8]
    #[arg(long, global = true)]
    max_connections: Option<String>,
    /// Browser origins allowed to call the API (CORS), comma-separated [env:
    /// NAVIGATOR_CORS_ORIGINS]
    #[arg(long = "cors-origin", global = true)]
    cors_origins: Vec<String>,
    /// Public intake submissions one client (IP address; IPv6 per /64) may
    /// send at once [env: NAVIGATOR_INTAKE_BURST; default: 30]
    #[arg(long, global = true)]
    intake_burst: Option<String>,
    /// Public intake submissions per second one client may send after its
    /// burst [env: NAVIGATOR_INTAKE_PER_SECOND; default: 1]
    #[arg(long, global = true)]
    intake_per_second: Option<String>,
}

impl Flags {
    /// The configuration: the flags given, else the environment.
    fn config(&self) -> Result<Config, config::ConfigError> {
        let cors = (!self.cors_origins.is_empty()).then(|| self.cors_origins.join(","));
        let flags = [
            ("DATABASE_URL", self.database_url.clone()),
            ("NAVIGATOR_ADDR", self.addr.clone()),
            ("NAVIGATOR_DB_MAX_CONNECTIONS", self.max_connections.clone()),
            ("NAVIGATOR_CORS_ORIGINS", cors),
            ("NAVIGATOR_INTAKE_BURST", self.intake_burst.clone()),
            (
                "NAVIGATOR_INTAKE_PER_SECOND",
                self.intake_per_second.clone(),
            ),
        ];
        Config::from_env(|name| match flags.iter().find(|(flag, _)| *flag == name) {
            Some((_, Some(value))) => Some(value.clone()),
            _ => std::env::var(name).ok(),
        })
    }
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
    let config = cli.flags.config()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            config::init_tracing(false);
            serve(config).await
        }
        Command::Migrate => {
            config::init_tracing(false);
            let report = lambda::migrate(&config.database).await?;
            tracing::info!(%report, "database is up to date");
            Ok(())
        }
        Command::Token(args) => {
            let (secret, _) = config::jwt_secret(&config)?;
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
            // memory as the tables grow. SQLite's checkpoints run beside
            // it, on a connection of their own, as in the server: copying
            // the log back took a sixth of the import's time on its own
            // connection.
            let pool = db::PoolSettings {
                max_connections: 1,
                checkpoints: db::Checkpoints::Background(db::CheckpointPolicy {
                    gather: std::time::Duration::from_secs(2),
                    rewind_at: 65536,
                }),
                ..config.database.pool()
            };
            let db = lambda::connect(&config.database, pool).await?;
            // 64 MB of SQLite page cache: most of the import's memory
            // budget (256 MB) is left to the partition it holds.
            if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
                db.execute_unprepared("PRAGMA cache_size = -65536").await?;
            }
            if !args.dry_run {
                db::migrations::run(&db).await?;
            }
            // The entries go to the report file as they are decided, never
            // all held: an export of a million rows has a million of them.
            let options = crate::legacy::Options {
                dry_run: args.dry_run,
                entries: match args.report {
                    Some(path) => crate::legacy::Entries::File(path),
                    None => crate::legacy::Entries::Count,
                },
                partitions: None,
            };
            let report = crate::legacy::import(&db, &args.export_dir, options).await?;
            if let Err(err) = db::checkpoint_all(&db).await {
                tracing::warn!(error = %err, "write-ahead log left for the next start");
            }
            print!("{}", report.summary());
            Ok(())
        }
    }
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    // No secret, no start (PostgreSQL without NAVIGATOR_JWT_SECRET), before
    // the database is touched.
    let (secret, source) = config::jwt_secret(&config)?;
    let settings = db::PoolSettings {
        checkpoints: db::Checkpoints::Background(Default::default()),
        ..config.database.pool()
    };
    let db = lambda::connect(&config.database, settings).await?;
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
    let keys = std::sync::Arc::new(JwtKeys::new(&secret));
    let mut state = AppState::new(db, Authenticator::Jwt(keys.clone()));
    // The batched writer opens its own connection by URL; a database given
    // by host (credentials fetched or signed at connect time) keeps the
    // inline writer, as on Lambda.
    if let config::DatabaseLocation::Url(url) = &config.database.location {
        state = state.with_access_log(http::AccessLog::on_own_thread(url)?);
    }
    let state = state
        .with_console_sign_in(config.console)
        .with_cors_origins(config.cors_origins)
        .with_intake_limit(config.intake_limit);
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // Local SQLite mode only: a ready sign-in for whoever started the
    // server. On stdout, not in the log: the token is a credential.
    let local_sqlite = matches!(&config.database.location,
        config::DatabaseLocation::Url(url) if url.starts_with("sqlite:"));
    if local_sqlite {
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
