//! IAM authentication tokens for RDS and RDS Proxy: a SigV4-presigned
//! `connect` request, used as the connection's password. The function signs
//! it with its own role's credentials, so no database password exists in
//! the function, its environment or a secret it reads.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How long a token admits new connections (the most RDS accepts is 15
/// minutes; an open connection outlives its token).
pub const TOKEN_LIFETIME_SECS: u64 = 900;

/// AWS credentials, as the Lambda runtime puts them in the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN` (temporary credentials, as a role's are).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    /// The process's credentials; `None` without a key pair.
    pub fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Self {
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }
}

/// The token that lets `user` connect to `host:port` (the proxy's or the
/// instance's endpoint) for [`TOKEN_LIFETIME_SECS`] from `now`: what
/// `aws rds generate-db-auth-token` prints.
pub fn auth_token(
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    credentials: &AwsCredentials,
    now: SystemTime,
) -> String {
    let (date, time) = timestamp(now);
    let scope = format!("{date}/{region}/rds-db/aws4_request");
    let amz_date = format!("{date}T{time}Z");
    let credential = format!("{}/{scope}", credentials.access_key_id);
    // In the order `aws rds generate-db-auth-token` writes them; the
    // signature covers them sorted.
    let mut params = vec![
        ("Action", "connect".to_owned()),
        ("DBUser", user.to_owned()),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("X-Amz-Credential", credential),
        ("X-Amz-Date", amz_date.clone()),
        ("X-Amz-Expires", TOKEN_LIFETIME_SECS.to_string()),
        ("X-Amz-SignedHeaders", "host".to_owned()),
    ];
    if let Some(token) = &credentials.session_token {
        params.push(("X-Amz-Security-Token", token.clone()));
    }
    let query = |params: &[(&str, String)]| {
        params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let mut sorted = params.clone();
    sorted.sort();
    let canonical_request = format!(
        "GET\n/\n{}\nhost:{host}:{port}\n\nhost\n{}",
        query(&sorted),
        hex(&Sha256::digest(b""))
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, "rds-db", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    format!(
        "{host}:{port}/?{}&X-Amz-Signature={signature}",
        query(&params)
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SigV4's URI encoding: everything but `A-Z a-z 0-9 - _ . ~` as `%XX`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `YYYYMMDD` and `HHMMSS` in UTC.
fn timestamp(now: SystemTime) -> (String, String) {
    let time = chrono::DateTime::<chrono::Utc>::from(now);
    (
        time.format("%Y%m%d").to_string(),
        time.format("%H%M%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_token_is_the_one_the_aws_sdk_signs() {
        // botocore 1.43's rds.generate_db_auth_token with these credentials
        // at 2026-12-04T21:30:00Z printed exactly this token.
        let credentials = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("FQoGZXIvYXdzEXAMPLE/token+==".into()),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_796_419_800);
        let token = auth_token(
            "navigator-proxy.proxy-abc.eu-central-1.rds.amazonaws.com",
            5432,
            "navigator_app",
            "eu-central-1",
            &credentials,
            now,
        );
        assert_eq!(
            token,
            "navigator-proxy.proxy-abc.eu-central-1.rds.amazonaws.com:5432/?Action=connect&DBUser=navigator_app&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261204%2Feu-central-1%2Frds-db%2Faws4_request&X-Amz-Date=20261204T213000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLE%2Ftoken%2B%3D%3D&X-Amz-Signature=8a98aaef9e22c260d092aa8dc425041f28a57d4cf756f4f66b343d777fe6bdbe"
        );
        assert!(!format!("{credentials:?}").contains("EXAMPLEKEY"));
    }
}
