//! The Lambda function's settings, read from its environment on the first
//! invocation, and the state built from them. The migration function reads
//! only the database part.

use std::{net::SocketAddr, str::FromStr};

use axum::http::HeaderValue;
use lambda_http::lambda_runtime::Diagnostic;
use sea_orm::{
    DatabaseConnection, DbErr,
    sqlx::postgres::{PgConnectOptions, PgSslMode},
};

use super::secrets::{FetchError, fetch_secret};
use crate::{
    config,
    db::{self, PoolSettings},
    http::{
        AppState, Authenticator, IntakeLimit, JwtKeys,
        security::{CorsError, parse_origins},
    },
};

/// The API function's settings.
#[derive(Debug)]
pub struct Settings {
    /// The database and the pool's size.
    pub database: DatabaseSettings,
    /// How callers are authenticated.
    pub auth: Auth,
    /// Origins allowed by CORS (`NAVIGATOR_CORS_ORIGINS`).
    pub cors_origins: Vec<HeaderValue>,
    /// The public intake's per-client limit (`NAVIGATOR_INTAKE_BURST`,
    /// `NAVIGATOR_INTAKE_PER_SECOND`).
    pub intake_limit: IntakeLimit,
}

/// The database and the pool's size.
#[derive(Debug)]
pub struct DatabaseSettings {
    /// Where the database is.
    pub location: DatabaseLocation,
    /// The pool (`NAVIGATOR_DB_MAX_CONNECTIONS`, default 1).
    pub pool: PoolSettings,
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// `DATABASE_URL`.
    Url(String),
    /// PostgreSQL whose credentials are in Secrets Manager.
    Postgres {
        /// `NAVIGATOR_DB_HOST`.
        host: String,
        /// `NAVIGATOR_DB_PORT`.
        port: u16,
        /// `NAVIGATOR_DB_NAME`.
        name: String,
        /// `NAVIGATOR_DB_SSLMODE`.
        ssl_mode: SslMode,
        /// `NAVIGATOR_DB_SECRET_ARN`.
        secret_id: String,
        /// Where the Parameters and Secrets extension listens.
        extension: SocketAddr,
    },
}

/// A checked `NAVIGATOR_DB_SSLMODE`, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslMode(String);

impl SslMode {
    fn parse(text: &str) -> Option<Self> {
        PgSslMode::from_str(text)
            .ok()
            .map(|_| Self(text.to_owned()))
    }

    fn mode(&self) -> PgSslMode {
        PgSslMode::from_str(&self.0).unwrap_or(PgSslMode::Require)
    }
}

/// How the API function authenticates callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Claims verified by API Gateway, roles in this claim.
    ApiGateway {
        /// `NAVIGATOR_ROLES_CLAIM`.
        roles_claim: String,
        /// `NAVIGATOR_JWT_ISSUER`: the `iss` the claims must carry.
        issuer: String,
    },
    /// Bearer tokens signed with `NAVIGATOR_JWT_SECRET`.
    Jwt,
}

/// Why the function could not serve (or migrate).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A required variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable's value is not one the function understands.
    #[error("{0} is not valid: expected {1}")]
    Invalid(&'static str, &'static str),
    /// The database credentials could not be had.
    #[error(transparent)]
    Secret(#[from] FetchError),
    /// The database URL was refused.
    #[error(transparent)]
    Connect(#[from] db::ConnectError),
    /// The JWT secret was refused.
    #[error(transparent)]
    JwtSecret(#[from] config::SecretError),
    /// A CORS origin was refused (`*`, or not an origin).
    #[error("NAVIGATOR_CORS_ORIGINS: {0}")]
    Cors(#[from] CorsError),
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

/// The environment, through a lookup function (the process's in
/// production, a map in tests); blank values count as unset.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn var(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, StartError> {
        self.var(name).ok_or(StartError::Missing(name))
    }

    fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &'static str,
    ) -> Result<T, StartError> {
        match self.var(name) {
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| StartError::Invalid(name, expected)),
            None => Ok(default),
        }
    }
}

impl Settings {
    /// Reads the API function's settings through `env`.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, StartError> {
        let database = DatabaseSettings::from_env(&env)?;
        let env = Env(env);
        let auth = match env.var("NAVIGATOR_AUTH").as_deref() {
            Some("apigateway") => Auth::ApiGateway {
                roles_claim: env
                    .var("NAVIGATOR_ROLES_CLAIM")
                    .unwrap_or_else(|| "cognito:groups".into()),
                issuer: env.required("NAVIGATOR_JWT_ISSUER")?.trim().to_owned(),
            },
            None | Some("jwt") => {
                env.required("NAVIGATOR_JWT_SECRET")?;
                Auth::Jwt
            }
            Some(_) => return Err(StartError::Invalid("NAVIGATOR_AUTH", "apigateway or jwt")),
        };
        let cors_origins = parse_origins(
            env.var("NAVIGATOR_CORS_ORIGINS")
                .unwrap_or_default()
                .split(','),
        )?;
        let defaults = IntakeLimit::default();
        let intake_limit = IntakeLimit {
            burst: env.parsed(
                "NAVIGATOR_INTAKE_BURST",
                defaults.burst,
                "a positive number",
            )?,
            per_second: env.parsed(
                "NAVIGATOR_INTAKE_PER_SECOND",
                defaults.per_second,
                "a positive number",
            )?,
        };
        Ok(Self {
            database,
            auth,
            cors_origins,
            intake_limit,
        })
    }
}

impl DatabaseSettings {
    /// Reads the database settings through `env`.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, StartError> {
        let env = Env(env);
        let location = match env.var("DATABASE_URL") {
            Some(url) => DatabaseLocation::Url(url),
            None => DatabaseLocation::Postgres {
                host: env.required("NAVIGATOR_DB_HOST")?,
                port: env.parsed("NAVIGATOR_DB_PORT", 5432, "a port number")?,
                name: env.required("NAVIGATOR_DB_NAME")?,
                ssl_mode: SslMode::parse(
                    &env.var("NAVIGATOR_DB_SSLMODE")
                        .unwrap_or_else(|| "require".into()),
                )
                .ok_or(StartError::Invalid(
                    "NAVIGATOR_DB_SSLMODE",
                    "disable, allow, prefer, require, verify-ca or verify-full",
                ))?,
                secret_id: env.required("NAVIGATOR_DB_SECRET_ARN")?,
                extension: SocketAddr::from((
                    [127, 0, 0, 1],
                    env.parsed(
                        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                        2773,
                        "a port number",
                    )?,
                )),
            },
        };
        let max_connections: u32 =
            env.parsed("NAVIGATOR_DB_MAX_CONNECTIONS", 1, "a positive number")?;
        if max_connections == 0 {
            return Err(StartError::Invalid(
                "NAVIGATOR_DB_MAX_CONNECTIONS",
                "a positive number",
            ));
        }
        Ok(Self {
            location,
            pool: PoolSettings {
                max_connections,
                // Connections idle through a frozen sandbox may be gone.
                test_before_acquire: true,
                ..Default::default()
            },
        })
    }

    /// Opens the (lazy) pool, first fetching the credentials from the
    /// secrets extension when the database is not given by URL.
    pub async fn connect(&self) -> Result<DatabaseConnection, StartError> {
        match &self.location {
            DatabaseLocation::Url(url) => Ok(db::connect(url, self.pool)?),
            DatabaseLocation::Postgres {
                host,
                port,
                name,
                ssl_mode,
                secret_id,
                extension,
            } => {
                let token = std::env::var("AWS_SESSION_TOKEN")
                    .map_err(|_| StartError::Missing("AWS_SESSION_TOKEN"))?;
                let credentials = fetch_secret(*extension, secret_id, &token).await?;
                let options = PgConnectOptions::new()
                    .host(host)
                    .port(*port)
                    .database(name)
                    .username(&credentials.username)
                    .password(&credentials.password)
                    .ssl_mode(ssl_mode.mode());
                Ok(db::pool_postgres(options, self.pool))
            }
        }
    }
}

/// Builds the API's state: the database pool and the authenticator.
pub(super) async fn build_state(settings: Settings) -> Result<AppState, StartError> {
    let db = settings.database.connect().await?;
    let auth = match settings.auth {
        Auth::ApiGateway {
            roles_claim,
            issuer,
        } => Authenticator::ApiGateway {
            roles_claim,
            issuer,
        },
        Auth::Jwt => {
            // NAVIGATOR_JWT_SECRET is set (checked above), so this reads
            // and checks it, and never falls back to a secret file.
            let (secret, _) = config::jwt_secret("")?;
            Authenticator::Jwt(JwtKeys::new(&secret).into())
        }
    };
    tracing::info!(backend = ?db.get_database_backend(), "API state built");
    let console =
        crate::http::console::SignIn::from_env(|name| std::env::var(name).ok()).map_err(|_| {
            StartError::Invalid(
                crate::http::console::COGNITO_DOMAIN_VAR,
                "the hosted UI's https:// origin, set together with NAVIGATOR_CONSOLE_CLIENT_ID",
            )
        })?;
    Ok(super::state(db, auth)
        .with_console_sign_in(console)
        .with_cors_origins(settings.cors_origins)
        .with_intake_limit(settings.intake_limit))
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, num::NonZeroU32};

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, StartError> {
        Settings::from_env(lookup(vars))
    }

    /// What the deploy template sets.
    const TEMPLATE: &[(&str, &str)] = &[
        ("NAVIGATOR_DB_HOST", "proxy.example"),
        ("NAVIGATOR_DB_NAME", "navigator"),
        (
            "NAVIGATOR_DB_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:1:secret:db",
        ),
        ("NAVIGATOR_AUTH", "apigateway"),
        (
            "NAVIGATOR_JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool",
        ),
    ];

    #[test]
    fn the_rds_settings_default_to_port_5432_tls_required_and_one_connection() {
        let s = settings(TEMPLATE).unwrap();
        assert_eq!(
            s.database.location,
            DatabaseLocation::Postgres {
                host: "proxy.example".into(),
                port: 5432,
                name: "navigator".into(),
                ssl_mode: SslMode("require".into()),
                secret_id: "arn:aws:secretsmanager:eu-west-1:1:secret:db".into(),
                extension: "127.0.0.1:2773".parse().unwrap(),
            }
        );
        assert_eq!(s.database.pool.max_connections, 1);
        assert_eq!(
            s.auth,
            Auth::ApiGateway {
                roles_claim: "cognito:groups".into(),
                issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool".into(),
            }
        );
        assert_eq!(s.intake_limit, IntakeLimit::default());
    }

    #[test]
    fn api_gateway_mode_needs_the_issuer_it_trusts() {
        let vars: Vec<_> = TEMPLATE
            .iter()
            .filter(|(name, _)| *name != "NAVIGATOR_JWT_ISSUER")
            .copied()
            .collect();
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.to_string(), "NAVIGATOR_JWT_ISSUER is not set");
    }

    #[test]
    fn a_wildcard_cors_origin_is_refused_at_start() {
        let mut vars = TEMPLATE.to_vec();
        vars.push(("NAVIGATOR_CORS_ORIGINS", "https://portal.example.org,*"));
        let err = settings(&vars).unwrap_err();
        assert!(
            matches!(err, StartError::Cors(CorsError::Wildcard)),
            "{err}"
        );
        assert!(err.to_string().contains("`*`"), "{err}");
    }

    #[test]
    fn the_intake_limit_is_configurable() {
        let mut vars = TEMPLATE.to_vec();
        vars.push(("NAVIGATOR_INTAKE_BURST", "5"));
        vars.push(("NAVIGATOR_INTAKE_PER_SECOND", "2"));
        let s = settings(&vars).unwrap();
        assert_eq!(
            s.intake_limit,
            IntakeLimit {
                burst: NonZeroU32::new(5).unwrap(),
                per_second: NonZeroU32::new(2).unwrap(),
            }
        );
    }

    #[test]
    fn a_database_url_wins_over_the_rds_settings() {
        let mut vars = TEMPLATE.to_vec();
        vars.push(("DATABASE_URL", "sqlite://x.db"));
        vars.push(("NAVIGATOR_DB_MAX_CONNECTIONS", "3"));
        let s = settings(&vars).unwrap();
        assert_eq!(
            s.database.location,
            DatabaseLocation::Url("sqlite://x.db".into())
        );
        assert_eq!(s.database.pool.max_connections, 3);
    }

    #[test]
    fn the_migration_function_needs_no_auth_settings() {
        let vars = [("DATABASE_URL", "sqlite://x.db")];
        assert!(DatabaseSettings::from_env(lookup(&vars)).is_ok());
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.to_string(), "NAVIGATOR_JWT_SECRET is not set");
    }

    #[test]
    fn missing_or_invalid_settings_are_named() {
        let err = settings(&[("NAVIGATOR_AUTH", "apigateway")]).unwrap_err();
        assert_eq!(err.to_string(), "NAVIGATOR_DB_HOST is not set");
        for (name, value) in [
            ("NAVIGATOR_DB_SSLMODE", "sometimes"),
            ("NAVIGATOR_DB_PORT", "http"),
            ("NAVIGATOR_DB_MAX_CONNECTIONS", "0"),
            ("NAVIGATOR_AUTH", "iam"),
            ("NAVIGATOR_INTAKE_BURST", "0"),
            ("NAVIGATOR_INTAKE_PER_SECOND", "fast"),
        ] {
            let mut vars = TEMPLATE.to_vec();
            vars.push((name, value));
            match settings(&vars) {
                Err(StartError::Invalid(named, _)) => assert_eq!(named, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }
}
