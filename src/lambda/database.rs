//! Opening the configured database ([`crate::config::DatabaseConfig`]) for
//! every entry point, with credentials had at connect time (an IAM token or
//! a secret from the extension), and the least-privilege roles a migration
//! sets up: the schema's owner migrates, the API's user gets data rights
//! only.

use std::time::SystemTime;

use lambda_http::lambda_runtime::Diagnostic;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, sqlx::postgres::PgConnectOptions};
use serde_json::{Value, json};

use super::{
    iam::{AwsCredentials, auth_token},
    secrets::{Credentials, FetchError, fetch_secret},
};
use crate::{
    config::{
        self, ConfigError, CredentialSource, DatabaseConfig, DatabaseLocation, PostgresHost,
        SecretRef,
    },
    db::{self, PoolSettings},
};

/// Why an entry point could not serve (or migrate).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A credential the runtime provides is missing.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// The database credentials could not be had.
    #[error(transparent)]
    Secret(#[from] FetchError),
    /// The database URL was refused.
    #[error(transparent)]
    Connect(#[from] db::ConnectError),
    /// The JWT secret was refused.
    #[error(transparent)]
    JwtSecret(#[from] config::SecretError),
    /// A database error (while migrating).
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// The invocation error Lambda records (and the runtime logs, once):
/// `errorType` `Navigator.StartError`, `errorMessage` the readable cause.
impl From<StartError> for Diagnostic {
    fn from(err: StartError) -> Self {
        Diagnostic {
            error_type: "Navigator.StartError".into(),
            error_message: err.to_string(),
        }
    }
}

/// Opens the (lazy) pool on the configured database, first fetching or
/// signing the credentials when it is given by host.
pub async fn connect(
    database: &DatabaseConfig,
    pool: PoolSettings,
) -> Result<DatabaseConnection, StartError> {
    match &database.location {
        DatabaseLocation::Url(url) => Ok(db::connect(url, pool)?),
        DatabaseLocation::Host(host) => {
            let credentials = credentials(host, &host.host).await?;
            Ok(db::pool_postgres(
                connect_options(host, &host.host, &credentials),
                pool,
            ))
        }
    }
}

/// The credentials for `server` (the proxy's or the instance's endpoint).
async fn credentials(host: &PostgresHost, server: &str) -> Result<Credentials, StartError> {
    match &host.credentials {
        CredentialSource::IamToken { user, region } => {
            let aws = AwsCredentials::from_env().ok_or(StartError::Missing("AWS_ACCESS_KEY_ID"))?;
            Ok(Credentials {
                username: user.clone(),
                password: auth_token(server, host.port, user, region, &aws, SystemTime::now()),
            })
        }
        CredentialSource::Secret(secret) => fetched(secret).await,
    }
}

async fn fetched(secret: &SecretRef) -> Result<Credentials, StartError> {
    let token =
        std::env::var("AWS_SESSION_TOKEN").map_err(|_| StartError::Missing("AWS_SESSION_TOKEN"))?;
    Ok(fetch_secret(secret.extension, &secret.secret_id, &token).await?)
}

/// The driver's options for `server` with the configured TLS: with
/// `verify-full` the server's certificate must chain to
/// `NAVIGATOR_DB_SSLROOTCERT` (the RDS bundle) and name `server`.
pub fn connect_options(
    host: &PostgresHost,
    server: &str,
    credentials: &Credentials,
) -> PgConnectOptions {
    let options = PgConnectOptions::new()
        .host(server)
        .port(host.port)
        .database(&host.name)
        .username(&credentials.username)
        .password(&credentials.password)
        .ssl_mode(host.ssl_mode.mode());
    match &host.ssl_root_cert {
        Some(path) => options.ssl_root_cert(path),
        None => options,
    }
}

/// Applies pending migrations, then writes the search terms of records
/// that have none (`db::search_backfill`); what the migration function
/// and `navigator migrate` answer: `{"applied": [versions],
/// "search_terms_backfilled": records}`.
pub async fn migration_report(db: &DatabaseConnection) -> Result<Value, DbErr> {
    let applied = db::migrations::run(db).await?;
    let backfilled = db::search_backfill::backfill_search_terms(db).await?;
    Ok(json!({ "applied": applied, "search_terms_backfilled": backfilled }))
}

/// Migrates the configured database: with `NAVIGATOR_DB_BOOTSTRAP_*` set,
/// first sets up the roles as the instance's administrator, then migrates
/// as the owner and grants the API's user its data rights.
pub async fn migrate(database: &DatabaseConfig) -> Result<Value, StartError> {
    if let (Some(bootstrap), DatabaseLocation::Host(host)) =
        (&database.bootstrap, &database.location)
    {
        let owner = match &host.credentials {
            CredentialSource::IamToken { user, .. } => user.clone(),
            CredentialSource::Secret(_) => return Err(StartError::Missing("NAVIGATOR_DB_USER")),
        };
        let admin = fetched(&bootstrap.secret).await?;
        let admin = db::pool_postgres(
            connect_options(host, &bootstrap.host, &admin),
            single_connection(),
        );
        let result = bootstrap_roles(&admin, &owner, &bootstrap.app_user).await;
        admin.close().await.ok();
        result?;
    }
    let db = connect(database, single_connection()).await?;
    let report = migrate_and_grant(&db, database).await;
    db.close().await.ok();
    report
}

async fn migrate_and_grant(
    db: &DatabaseConnection,
    database: &DatabaseConfig,
) -> Result<Value, StartError> {
    let report = migration_report(db).await?;
    if let Some(bootstrap) = &database.bootstrap {
        grant_data_rights(db, &bootstrap.app_user).await?;
    }
    Ok(report)
}

fn single_connection() -> PoolSettings {
    PoolSettings {
        max_connections: 1,
        ..Default::default()
    }
}

/// As the database's administrator: creates the `owner` and `app` roles
/// if missing (both log in with IAM tokens where RDS's `rds_iam` role
/// exists), lets `owner` create objects in the schema `public` and `app`
/// use it. Role names are checked by the configuration (lower-case
/// letters, digits, underscores), so they are safe to put into SQL.
pub async fn bootstrap_roles(
    admin: &DatabaseConnection,
    owner: &str,
    app: &str,
) -> Result<(), DbErr> {
    admin
        .execute_unprepared(&format!(
            r#"DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') THEN CREATE ROLE "{owner}" LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app}') THEN CREATE ROLE "{app}" LOGIN; END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN GRANT rds_iam TO "{owner}", "{app}"; END IF;
END $$;
GRANT USAGE, CREATE ON SCHEMA public TO "{owner}";
GRANT USAGE ON SCHEMA public TO "{app}";"#
        ))
        .await
        .map(drop)
}

/// As the schema's owner, after migrating: `app` may read and write rows
/// of every table, now and later, and nothing else (no DDL, no TRUNCATE).
pub async fn grant_data_rights(owner: &DatabaseConnection, app: &str) -> Result<(), DbErr> {
    owner
        .execute_unprepared(&format!(
            r#"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{app}";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{app}";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{app}";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO "{app}";"#
        ))
        .await
        .map(drop)
}
