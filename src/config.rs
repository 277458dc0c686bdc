//! The one configuration of every entry point (the server, `migrate`,
//! `import-legacy`, `token`, and the Lambda function): [`Config`], read from
//! the environment by [`Config::from_env`] with one set of names and
//! defaults, [`VARIABLES`], which the README's configuration table lists (a
//! test compares the two). A command-line flag is the same variable given
//! another way (`--addr` is `NAVIGATOR_ADDR`). Also here: the JWT secret's
//! origin, and logging.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    str::FromStr,
};

use axum::http::HeaderValue;
use rand::RngCore;
use sea_orm::sqlx::postgres::PgSslMode;

use crate::{
    db::PoolSettings,
    http::{
        IntakeLimit,
        security::{CorsError, parse_origins},
    },
};

/// The embedded database a new user gets: a file in the current directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://navigator.db";

/// One configuration variable: its name, the flag that sets it on the
/// command line (if any), and its default as the README states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The environment variable.
    pub name: &'static str,
    /// The command-line flag that gives the same value, if any.
    pub flag: Option<&'static str>,
    /// The default, as documented (`` for none or required).
    pub default: &'static str,
}

const fn var(name: &'static str, flag: Option<&'static str>, default: &'static str) -> Variable {
    Variable {
        name,
        flag,
        default,
    }
}

/// Every variable [`Config::from_env`] reads, in the README's order.
pub const VARIABLES: &[Variable] = &[
    var("DATABASE_URL", Some("--database-url"), DEFAULT_DATABASE_URL),
    var("NAVIGATOR_DB_HOST", None, ""),
    var("NAVIGATOR_DB_PORT", None, "5432"),
    var("NAVIGATOR_DB_NAME", None, "navigator"),
    var("NAVIGATOR_DB_USER", None, ""),
    var("NAVIGATOR_DB_SECRET_ARN", None, ""),
    var("NAVIGATOR_DB_SSLMODE", None, "verify-full"),
    var("NAVIGATOR_DB_SSLROOTCERT", None, ""),
    var("NAVIGATOR_DB_BOOTSTRAP_HOST", None, ""),
    var("NAVIGATOR_DB_BOOTSTRAP_SECRET_ARN", None, ""),
    var("NAVIGATOR_DB_APP_USER", None, ""),
    var(
        "NAVIGATOR_DB_MAX_CONNECTIONS",
        Some("--max-connections"),
        "8",
    ),
    var("NAVIGATOR_ADDR", Some("--addr"), "127.0.0.1:3000"),
    var("NAVIGATOR_AUTH", None, "jwt"),
    var("NAVIGATOR_JWT_SECRET", None, ""),
    var("NAVIGATOR_JWT_ISSUER", None, ""),
    var("NAVIGATOR_ROLES_CLAIM", None, "cognito:groups"),
    var("NAVIGATOR_CORS_ORIGINS", Some("--cors-origin"), ""),
    var("NAVIGATOR_INTAKE_BURST", Some("--intake-burst"), "30"),
    var(
        "NAVIGATOR_INTAKE_PER_SECOND",
        Some("--intake-per-second"),
        "1",
    ),
    var("NAVIGATOR_CONSOLE_COGNITO_DOMAIN", None, ""),
    var("NAVIGATOR_CONSOLE_CLIENT_ID", None, ""),
    var("NAVIGATOR_LAMBDA_MODE", None, "api"),
    var("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", None, "2773"),
    var("AWS_REGION", None, ""),
];

/// The configuration of every entry point.
#[derive(Debug)]
pub struct Config {
    /// The database.
    pub database: DatabaseConfig,
    /// Where the local server listens (`NAVIGATOR_ADDR`).
    pub addr: SocketAddr,
    /// How callers are authenticated.
    pub auth: Auth,
    /// `NAVIGATOR_JWT_SECRET`, if set (see [`jwt_secret`]).
    pub jwt_secret: Option<String>,
    /// Origins allowed by CORS (`NAVIGATOR_CORS_ORIGINS`).
    pub cors_origins: Vec<HeaderValue>,
    /// The public intake's per-client limit (`NAVIGATOR_INTAKE_BURST`,
    /// `NAVIGATOR_INTAKE_PER_SECOND`).
    pub intake_limit: IntakeLimit,
    /// How the console at `/console` signs staff in
    /// (`NAVIGATOR_CONSOLE_COGNITO_DOMAIN`, `NAVIGATOR_CONSOLE_CLIENT_ID`).
    pub console: crate::http::console::SignIn,
    /// What the Lambda function serves (`NAVIGATOR_LAMBDA_MODE`).
    pub lambda_mode: LambdaMode,
}

/// The database and the pool's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Where the database is.
    pub location: DatabaseLocation,
    /// Most connections in the pool (`NAVIGATOR_DB_MAX_CONNECTIONS`).
    pub max_connections: u32,
    /// The roles to set up before migrating, if any.
    pub bootstrap: Option<Bootstrap>,
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// `DATABASE_URL`, or the local SQLite default when neither it nor
    /// `NAVIGATOR_DB_HOST` is set.
    Url(String),
    /// PostgreSQL by host (RDS Proxy on AWS), `NAVIGATOR_DB_*`.
    Host(PostgresHost),
}

/// PostgreSQL given by host, with TLS and credentials fetched or signed at
/// connect time rather than written in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresHost {
    /// `NAVIGATOR_DB_HOST`.
    pub host: String,
    /// `NAVIGATOR_DB_PORT`.
    pub port: u16,
    /// `NAVIGATOR_DB_NAME`.
    pub name: String,
    /// `NAVIGATOR_DB_SSLMODE`.
    pub ssl_mode: SslMode,
    /// `NAVIGATOR_DB_SSLROOTCERT`: the certificate authorities the server's
    /// certificate must chain to (the RDS bundle on AWS); else the
    /// public web roots.
    pub ssl_root_cert: Option<PathBuf>,
    /// How the client proves who it is.
    pub credentials: CredentialSource,
}

/// Where a connection's user name and password come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `NAVIGATOR_DB_USER` with an IAM authentication token signed with
    /// the function's own AWS credentials for `AWS_REGION` (RDS Proxy or
    /// RDS with IAM authentication): no password is stored anywhere.
    IamToken {
        /// The database user.
        user: String,
        /// The Region the token is signed for.
        region: String,
    },
    /// A Secrets Manager secret (`NAVIGATOR_DB_SECRET_ARN`, JSON `username`
    /// and `password`) asked of the Parameters and Secrets extension.
    Secret(SecretRef),
}

/// A secret and the extension that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's ARN or name.
    pub secret_id: String,
    /// Where the Parameters and Secrets extension listens
    /// (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` on 127.0.0.1).
    pub extension: SocketAddr,
}

/// The roles a migration sets up first, as the database's administrator:
/// the migration's own user becomes the owner of the schema, and
/// `app_user` gets data rights only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The database instance itself (`NAVIGATOR_DB_BOOTSTRAP_HOST`): the
    /// administrator's password is not one the proxy knows.
    pub host: String,
    /// The administrator's credentials
    /// (`NAVIGATOR_DB_BOOTSTRAP_SECRET_ARN`).
    pub secret: SecretRef,
    /// The API's user (`NAVIGATOR_DB_APP_USER`).
    pub app_user: String,
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

    /// The driver's mode.
    pub fn mode(&self) -> PgSslMode {
        PgSslMode::from_str(&self.0).unwrap_or(PgSslMode::VerifyFull)
    }
}

/// How callers are authenticated (`NAVIGATOR_AUTH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Claims verified by API Gateway, roles in this claim.
    ApiGateway {
        /// `NAVIGATOR_ROLES_CLAIM`.
        roles_claim: String,
        /// `NAVIGATOR_JWT_ISSUER`: the `iss` the claims must carry.
        issuer: String,
    },
    /// Bearer tokens signed with the JWT secret.
    Jwt,
}

/// What the Lambda function serves (`NAVIGATOR_LAMBDA_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaMode {
    /// The API.
    Api,
    /// Schema migrations, on any event.
    Migrate,
}

/// Why the configuration was refused. No variant quotes a value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable's value is not one Navigator understands.
    #[error("{0} is not valid: expected {1}")]
    Invalid(&'static str, &'static str),
    /// Two variables that exclude each other are both set.
    #[error("{0} and {1} are both set: set one")]
    Conflict(&'static str, &'static str),
    /// A CORS origin was refused (`*`, or not an origin).
    #[error("NAVIGATOR_CORS_ORIGINS (--cors-origin): {0}")]
    Cors(#[from] CorsError),
}

/// The environment, through a lookup function (the process's, or a map in
/// tests); blank values count as unset.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn var(&self, name: &'static str) -> Option<String> {
        self.var_owned(name)
    }

    fn var_owned(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.var(name).ok_or(ConfigError::Missing(name))
    }

    fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        match self.var(name) {
            Some(text) => text
                .parse()
                .map_err(|_| ConfigError::Invalid(name, expected)),
            None => Ok(default),
        }
    }

    fn secret(&self, name: &'static str) -> Result<Option<SecretRef>, ConfigError> {
        let port = self.parsed(
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
            2773u16,
            "a port number",
        )?;
        Ok(self.var(name).map(|secret_id| SecretRef {
            secret_id,
            extension: SocketAddr::from(([127, 0, 0, 1], port)),
        }))
    }
}

/// A PostgreSQL role name Navigator will put into SQL: lower-case letters,
/// digits and underscores.
fn role_name(name: &'static str, value: String) -> Result<String, ConfigError> {
    let valid = value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(value)
    } else {
        Err(ConfigError::Invalid(
            name,
            "a role name of lower-case letters, digits and underscores",
        ))
    }
}

impl Config {
    /// The process's configuration.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `env`: every variable in
    /// [`VARIABLES`], each with its default.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(env);
        let database = DatabaseConfig::read(&env)?;
        let auth = match env.var("NAVIGATOR_AUTH").as_deref() {
            Some("apigateway") => Auth::ApiGateway {
                roles_claim: env
                    .var("NAVIGATOR_ROLES_CLAIM")
                    .unwrap_or_else(|| "cognito:groups".into()),
                issuer: env.required("NAVIGATOR_JWT_ISSUER")?,
            },
            None | Some("jwt") => Auth::Jwt,
            Some(_) => return Err(ConfigError::Invalid("NAVIGATOR_AUTH", "apigateway or jwt")),
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
        let lambda_mode = match env.var("NAVIGATOR_LAMBDA_MODE").as_deref() {
            None | Some("api") => LambdaMode::Api,
            Some("migrate") => LambdaMode::Migrate,
            Some(_) => {
                return Err(ConfigError::Invalid(
                    "NAVIGATOR_LAMBDA_MODE",
                    "api or migrate",
                ));
            }
        };
        Ok(Self {
            database,
            addr: env.parsed(
                "NAVIGATOR_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 3000)),
                "an address and port, such as 127.0.0.1:3000",
            )?,
            auth,
            jwt_secret: env.var("NAVIGATOR_JWT_SECRET"),
            cors_origins,
            intake_limit,
            console: crate::http::console::SignIn::from_env(|name| env.var_owned(name))
                .map_err(|_| {
                    ConfigError::Invalid(
                        crate::http::console::COGNITO_DOMAIN_VAR,
                        "the hosted UI's https:// origin, set together with NAVIGATOR_CONSOLE_CLIENT_ID",
                    )
                })?,
            lambda_mode,
        })
    }
}

impl DatabaseConfig {
    /// Reads only the database's part of the configuration (what the
    /// migration function needs).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env(env))
    }

    fn read<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let location = match (env.var("DATABASE_URL"), env.var("NAVIGATOR_DB_HOST")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict("DATABASE_URL", "NAVIGATOR_DB_HOST"));
            }
            (Some(url), None) => DatabaseLocation::Url(url),
            (None, None) => DatabaseLocation::Url(DEFAULT_DATABASE_URL.into()),
            (None, Some(host)) => {
                let credentials = match env.secret("NAVIGATOR_DB_SECRET_ARN")? {
                    Some(secret) => CredentialSource::Secret(secret),
                    None => CredentialSource::IamToken {
                        user: role_name("NAVIGATOR_DB_USER", env.required("NAVIGATOR_DB_USER")?)?,
                        region: env.required("AWS_REGION")?,
                    },
                };
                let ssl_mode = env
                    .var("NAVIGATOR_DB_SSLMODE")
                    .unwrap_or_else(|| "verify-full".into());
                DatabaseLocation::Host(PostgresHost {
                    host,
                    port: env.parsed("NAVIGATOR_DB_PORT", 5432, "a port number")?,
                    name: env
                        .var("NAVIGATOR_DB_NAME")
                        .unwrap_or_else(|| "navigator".into()),
                    ssl_mode: SslMode::parse(&ssl_mode).ok_or(ConfigError::Invalid(
                        "NAVIGATOR_DB_SSLMODE",
                        "disable, allow, prefer, require, verify-ca or verify-full",
                    ))?,
                    ssl_root_cert: env.var("NAVIGATOR_DB_SSLROOTCERT").map(PathBuf::from),
                    credentials,
                })
            }
        };
        let bootstrap = match env.var("NAVIGATOR_DB_BOOTSTRAP_HOST") {
            None => None,
            Some(host) => Some(Bootstrap {
                host,
                secret: env
                    .secret("NAVIGATOR_DB_BOOTSTRAP_SECRET_ARN")?
                    .ok_or(ConfigError::Missing("NAVIGATOR_DB_BOOTSTRAP_SECRET_ARN"))?,
                app_user: role_name(
                    "NAVIGATOR_DB_APP_USER",
                    env.required("NAVIGATOR_DB_APP_USER")?,
                )?,
            }),
        };
        if bootstrap.is_some() && !matches!(location, DatabaseLocation::Host(_)) {
            return Err(ConfigError::Missing("NAVIGATOR_DB_HOST"));
        }
        let max_connections: u32 =
            env.parsed("NAVIGATOR_DB_MAX_CONNECTIONS", 8, "a positive number")?;
        if max_connections == 0 {
            return Err(ConfigError::Invalid(
                "NAVIGATOR_DB_MAX_CONNECTIONS",
                "a positive number",
            ));
        }
        Ok(Self {
            location,
            max_connections,
            bootstrap,
        })
    }

    /// The pool's settings.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.max_connections,
            ..Default::default()
        }
    }

    /// The local SQLite file no one configured.
    pub fn is_default(&self) -> bool {
        self.location == DatabaseLocation::Url(DEFAULT_DATABASE_URL.into())
    }

    /// The database URL where there is one; `""` for a database given by
    /// host (which is never the local SQLite file).
    pub fn url(&self) -> &str {
        match &self.location {
            DatabaseLocation::Url(url) => url,
            DatabaseLocation::Host(_) => "",
        }
    }
}

/// Where the JWT secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `NAVIGATOR_JWT_SECRET`.
    Environment,
    /// A file beside the local database, created now or earlier.
    File {
        /// The file.
        path: PathBuf,
        /// Whether it was generated by this call.
        created: bool,
    },
}

/// Why the secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured secret is too short to resist guessing.
    #[error("NAVIGATOR_JWT_SECRET must be at least 32 characters")]
    TooShort,
    /// No secret is configured, and the database is not the local SQLite
    /// file beside which a generated one may be kept.
    #[error(
        "NAVIGATOR_JWT_SECRET is not set: it is required on PostgreSQL (a generated secret file is only for a local SQLite database); set it to 32+ random characters, e.g. export NAVIGATOR_JWT_SECRET=$(openssl rand -hex 32)"
    )]
    Required,
    /// The secret file could not be read or written.
    #[error("cannot read or create the JWT secret file {0}: {1}")]
    File(PathBuf, std::io::Error),
}

/// The HS256 secret: `NAVIGATOR_JWT_SECRET` if set. Else, only on SQLite
/// (the zero-setup local mode), a random one kept in a file beside the
/// database (`navigator.db.jwt-secret` for `sqlite://navigator.db`;
/// `navigator.jwt-secret` in the current directory for an in-memory one),
/// created on first use, so that `serve` and `token` run from the same place
/// agree. Any other database (PostgreSQL: a shared or production one) has no
/// default secret: [`SecretError::Required`].
pub fn jwt_secret(config: &Config) -> Result<(Vec<u8>, SecretSource), SecretError> {
    jwt_secret_from(config.jwt_secret.clone(), config.database.url())
}

fn jwt_secret_from(
    configured: Option<String>,
    database_url: &str,
) -> Result<(Vec<u8>, SecretSource), SecretError> {
    if let Some(secret) = configured {
        if secret.len() < 32 {
            return Err(SecretError::TooShort);
        }
        return Ok((secret.into_bytes(), SecretSource::Environment));
    }
    if !database_url.starts_with("sqlite:") {
        return Err(SecretError::Required);
    }
    let path = secret_path(database_url);
    read_or_create(&path).map(|(secret, created)| (secret, SecretSource::File { path, created }))
}

fn secret_path(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(""))
        .filter(|path| !path.is_empty() && !path.starts_with(':'));
    match file {
        Some(db_file) => PathBuf::from(format!("{db_file}.jwt-secret")),
        None => PathBuf::from("navigator.jwt-secret"),
    }
}

fn read_or_create(path: &Path) -> Result<(Vec<u8>, bool), SecretError> {
    let fail = |e| SecretError::File(path.to_owned(), e);
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => return Ok((text.trim().as_bytes().to_vec(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).map_err(fail)?;
            Ok((secret.into_bytes(), true))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_or_create(path),
        Err(e) => Err(fail(e)),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); JSON lines on
/// Lambda, where CloudWatch parses them. Panics are logged there too, once
/// each ([`crate::http::log_panics`]).
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().with_ansi(false).try_init()
    } else {
        // Colours only for a person at a terminal, not for files or collectors.
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
    crate::http::log_panics();
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, collections::HashMap, num::NonZeroU32};

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(lookup(vars))
    }

    /// What the deploy template sets for the API function (both the zip
    /// and the image variant).
    const TEMPLATE: &[(&str, &str)] = &[
        ("NAVIGATOR_DB_HOST", "proxy.example"),
        ("NAVIGATOR_DB_PORT", "5432"),
        ("NAVIGATOR_DB_NAME", "navigator"),
        ("NAVIGATOR_DB_USER", "navigator_app"),
        ("NAVIGATOR_DB_SSLMODE", "verify-full"),
        ("NAVIGATOR_DB_SSLROOTCERT", "/opt/rds-ca/global-bundle.pem"),
        ("NAVIGATOR_DB_MAX_CONNECTIONS", "1"),
        ("AWS_REGION", "eu-central-1"),
        ("NAVIGATOR_AUTH", "apigateway"),
        (
            "NAVIGATOR_JWT_ISSUER",
            "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_pool",
        ),
    ];

    #[test]
    fn every_entry_point_has_the_same_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.database.location,
            DatabaseLocation::Url(DEFAULT_DATABASE_URL.into())
        );
        assert!(c.database.is_default());
        assert_eq!(c.database.max_connections, 8);
        assert_eq!(c.database.pool().max_connections, 8);
        assert_eq!(c.addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.auth, Auth::Jwt);
        assert_eq!(c.intake_limit, IntakeLimit::default());
        assert_eq!(c.lambda_mode, LambdaMode::Api);
        assert!(c.cors_origins.is_empty() && c.jwt_secret.is_none());
    }

    #[test]
    fn the_template_gives_postgres_through_the_proxy_with_iam_tokens_and_verified_tls() {
        let c = config(TEMPLATE).unwrap();
        assert_eq!(
            c.database.location,
            DatabaseLocation::Host(PostgresHost {
                host: "proxy.example".into(),
                port: 5432,
                name: "navigator".into(),
                ssl_mode: SslMode("verify-full".into()),
                ssl_root_cert: Some("/opt/rds-ca/global-bundle.pem".into()),
                credentials: CredentialSource::IamToken {
                    user: "navigator_app".into(),
                    region: "eu-central-1".into(),
                },
            })
        );
        assert_eq!(c.database.max_connections, 1);
        assert_eq!(c.database.url(), "");
        assert_eq!(
            c.auth,
            Auth::ApiGateway {
                roles_claim: "cognito:groups".into(),
                issuer: "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_pool".into(),
            }
        );
    }

    #[test]
    fn tls_is_verified_unless_said_otherwise() {
        let vars: Vec<_> = TEMPLATE
            .iter()
            .filter(|(name, _)| *name != "NAVIGATOR_DB_SSLMODE")
            .copied()
            .collect();
        let DatabaseLocation::Host(host) = config(&vars).unwrap().database.location else {
            panic!("not by host")
        };
        assert!(matches!(host.ssl_mode.mode(), PgSslMode::VerifyFull));
    }

    #[test]
    fn a_secret_arn_gives_credentials_from_the_extension() {
        let mut vars = TEMPLATE.to_vec();
        vars.push((
            "NAVIGATOR_DB_SECRET_ARN",
            "arn:aws:secretsmanager:eu-central-1:1:secret:db",
        ));
        vars.push(("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2999"));
        let DatabaseLocation::Host(host) = config(&vars).unwrap().database.location else {
            panic!("not by host")
        };
        assert_eq!(
            host.credentials,
            CredentialSource::Secret(SecretRef {
                secret_id: "arn:aws:secretsmanager:eu-central-1:1:secret:db".into(),
                extension: "127.0.0.1:2999".parse().unwrap(),
            })
        );
    }

    #[test]
    fn the_migration_function_bootstraps_the_roles_as_the_administrator() {
        let mut vars = TEMPLATE.to_vec();
        vars.retain(|(name, _)| *name != "NAVIGATOR_DB_USER");
        vars.push(("NAVIGATOR_DB_USER", "navigator_owner"));
        vars.push(("NAVIGATOR_DB_BOOTSTRAP_HOST", "db.example"));
        vars.push(("NAVIGATOR_DB_BOOTSTRAP_SECRET_ARN", "arn:master"));
        vars.push(("NAVIGATOR_DB_APP_USER", "navigator_app"));
        let database = DatabaseConfig::from_env(lookup(&vars)).unwrap();
        assert_eq!(
            database.bootstrap,
            Some(Bootstrap {
                host: "db.example".into(),
                secret: SecretRef {
                    secret_id: "arn:master".into(),
                    extension: "127.0.0.1:2773".parse().unwrap(),
                },
                app_user: "navigator_app".into(),
            })
        );
        // A role name goes into SQL: only a plain one is accepted.
        vars.push(("NAVIGATOR_DB_APP_USER", "x\"; DROP"));
        let vars: Vec<_> =
            vars.iter()
                .rev()
                .fold(Vec::new(), |mut kept: Vec<(&str, &str)>, pair| {
                    if !kept.iter().any(|(name, _)| *name == pair.0) {
                        kept.push(*pair);
                    }
                    kept
                });
        assert!(matches!(
            DatabaseConfig::from_env(lookup(&vars)),
            Err(ConfigError::Invalid("NAVIGATOR_DB_APP_USER", _))
        ));
    }

    #[test]
    fn a_database_url_and_a_host_together_are_refused() {
        let mut vars = TEMPLATE.to_vec();
        vars.push(("DATABASE_URL", "sqlite:///data/navigator.db"));
        let err = config(&vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DATABASE_URL and NAVIGATOR_DB_HOST are both set: set one"
        );
    }

    #[test]
    fn api_gateway_mode_needs_the_issuer_it_trusts() {
        let vars: Vec<_> = TEMPLATE
            .iter()
            .filter(|(name, _)| *name != "NAVIGATOR_JWT_ISSUER")
            .copied()
            .collect();
        let err = config(&vars).unwrap_err();
        assert_eq!(err.to_string(), "NAVIGATOR_JWT_ISSUER is not set");
    }

    #[test]
    fn a_wildcard_cors_origin_is_refused_at_start() {
        let mut vars = TEMPLATE.to_vec();
        vars.push(("NAVIGATOR_CORS_ORIGINS", "https://portal.example.org,*"));
        let err = config(&vars).unwrap_err();
        assert!(
            matches!(err, ConfigError::Cors(CorsError::Wildcard)),
            "{err}"
        );
        assert!(err.to_string().contains("`*`"), "{err}");
    }

    #[test]
    fn the_intake_limit_is_configurable() {
        let mut vars = TEMPLATE.to_vec();
        vars.push(("NAVIGATOR_INTAKE_BURST", "5"));
        vars.push(("NAVIGATOR_INTAKE_PER_SECOND", "2"));
        let c = config(&vars).unwrap();
        assert_eq!(
            c.intake_limit,
            IntakeLimit {
                burst: NonZeroU32::new(5).unwrap(),
                per_second: NonZeroU32::new(2).unwrap(),
            }
        );
    }

    #[test]
    fn a_host_without_a_database_url_has_no_default_jwt_secret() {
        let c = config(&[
            ("NAVIGATOR_DB_HOST", "proxy.example"),
            ("NAVIGATOR_DB_USER", "navigator_app"),
            ("AWS_REGION", "eu-central-1"),
        ])
        .unwrap();
        assert!(matches!(jwt_secret(&c), Err(SecretError::Required)));
    }

    #[test]
    fn missing_or_invalid_settings_are_named() {
        let err = config(&[("NAVIGATOR_DB_HOST", "h")]).unwrap_err();
        assert_eq!(err.to_string(), "NAVIGATOR_DB_USER is not set");
        for (name, value) in [
            ("NAVIGATOR_DB_SSLMODE", "sometimes"),
            ("NAVIGATOR_DB_PORT", "http"),
            ("NAVIGATOR_DB_MAX_CONNECTIONS", "0"),
            ("NAVIGATOR_AUTH", "iam"),
            ("NAVIGATOR_INTAKE_BURST", "0"),
            ("NAVIGATOR_INTAKE_PER_SECOND", "fast"),
            ("NAVIGATOR_ADDR", "localhost"),
            ("NAVIGATOR_LAMBDA_MODE", "both"),
        ] {
            let mut vars = TEMPLATE.to_vec();
            vars.push((name, value));
            match config(&vars) {
                Err(ConfigError::Invalid(named, _)) => assert_eq!(named, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    /// The names `Config::from_env` asks for under `vars`.
    fn names_read(vars: &[(&str, &str)]) -> Vec<String> {
        let asked = RefCell::new(Vec::new());
        let inner = lookup(vars);
        let _ = Config::from_env(|name| {
            asked.borrow_mut().push(name.to_owned());
            inner(name)
        });
        asked.into_inner()
    }

    #[test]
    fn the_readme_table_lists_every_variable_read_with_its_flag_and_default() {
        // The variables read, over configurations that take every branch.
        let mut read: Vec<String> = [
            TEMPLATE.to_vec(),
            vec![("NAVIGATOR_DB_HOST", "h"), ("NAVIGATOR_DB_SECRET_ARN", "s")],
            vec![
                ("NAVIGATOR_DB_HOST", "h"),
                ("NAVIGATOR_DB_USER", "owner"),
                ("AWS_REGION", "r"),
                ("NAVIGATOR_DB_BOOTSTRAP_HOST", "b"),
                ("NAVIGATOR_DB_BOOTSTRAP_SECRET_ARN", "s"),
                ("NAVIGATOR_DB_APP_USER", "app"),
            ],
            vec![],
        ]
        .iter()
        .flat_map(|vars| names_read(vars))
        .collect();
        read.sort();
        read.dedup();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| v.name.to_owned()).collect();
        listed.sort();
        assert_eq!(read, listed, "VARIABLES is what from_env reads");

        // The README's one table: | flag | environment | default | what |.
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("a Configuration section")
            .split("\n## ")
            .next()
            .unwrap();
        let rows: Vec<Variable> = section
            .lines()
            .filter(|line| {
                line.starts_with("| ") && !line.starts_with("| flag") && !line.starts_with("| ---")
            })
            .map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
                let code = |cell: &str| cell.trim_matches('`').to_owned();
                let flag = code(cells[0]);
                Variable {
                    name: code(cells[1]).leak(),
                    flag: (!flag.is_empty()).then(|| &*flag.leak()),
                    default: code(cells[2]).leak(),
                }
            })
            .collect();
        let documented: Vec<Variable> = rows
            .into_iter()
            .filter(|row| row.name != "RUST_LOG")
            .collect();
        assert_eq!(documented, VARIABLES.to_vec());
    }

    #[test]
    fn the_secret_lives_beside_a_sqlite_file() {
        assert_eq!(
            secret_path("sqlite://data/nav.db?mode=rwc"),
            PathBuf::from("data/nav.db.jwt-secret")
        );
        assert_eq!(
            secret_path("sqlite:nav.db"),
            PathBuf::from("nav.db.jwt-secret")
        );
        assert_eq!(
            secret_path("postgres://localhost/x"),
            PathBuf::from("navigator.jwt-secret")
        );
        assert_eq!(
            secret_path("sqlite::memory:"),
            PathBuf::from("navigator.jwt-secret")
        );
    }

    #[test]
    fn postgres_has_no_default_secret() {
        for url in [
            "postgres://postgres@127.0.0.1/test",
            "postgresql://h/db",
            "",
        ] {
            assert!(
                matches!(jwt_secret_from(None, url), Err(SecretError::Required)),
                "{url}"
            );
        }
        let configured = "c".repeat(32);
        let (secret, source) =
            jwt_secret_from(Some(configured.clone()), "postgres://h/db").unwrap();
        assert_eq!(
            (secret, source),
            (configured.into_bytes(), SecretSource::Environment)
        );
        assert!(matches!(
            jwt_secret_from(Some("short".into()), "postgres://h/db"),
            Err(SecretError::TooShort)
        ));
    }

    #[test]
    fn a_generated_secret_is_kept_and_reused() {
        let dir = std::env::temp_dir().join(format!("nav-secret-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.jwt-secret");
        let (first, created) = read_or_create(&path).unwrap();
        let (second, again) = read_or_create(&path).unwrap();
        assert!(created && !again);
        assert_eq!(first, second);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
