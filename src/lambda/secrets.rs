//! The database credentials, from the AWS Parameters and Secrets Lambda
//! Extension: one plain HTTP/1.1 GET on the loopback interface.

use std::{net::SocketAddr, time::Duration};

use axum::http::HeaderValue;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// Database credentials from a Secrets Manager secret's JSON.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    /// The database user.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why the credentials could not be had from the secrets extension. No
/// variant carries any part of the secret.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Nothing listens where the extension should.
    #[error(
        "cannot reach the Parameters and Secrets extension at {0} ({1}); is its layer attached (or, in a container image, is it in /opt/extensions)?"
    )]
    Connect(SocketAddr, std::io::Error),
    /// The HTTP exchange failed.
    #[error("the exchange with the secrets extension failed: {0}")]
    Http(#[from] hyper::Error),
    /// The extension did not answer in time.
    #[error("the secrets extension did not answer within {0:?}")]
    Timeout(Duration),
    /// The extension refused (403: bad token; 400/404: no such secret or no
    /// permission to read it).
    #[error("the secrets extension answered HTTP {0}")]
    Status(u16),
    /// The request could not be formed (the session token is not a header
    /// value).
    #[error("cannot form the request to the secrets extension: {0}")]
    Request(&'static str),
    /// The answer is not the expected JSON.
    #[error("the secret is malformed: {0}")]
    Malformed(&'static str),
}

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the AWS Parameters and Secrets Lambda Extension at `extension`
/// (`GET /secretsmanager/get?secretId=…` with the session token in
/// `X-Aws-Parameters-Secrets-Token`) for the secret and reads its
/// credentials.
pub async fn fetch_secret(
    extension: SocketAddr,
    secret_id: &str,
    session_token: &str,
) -> Result<Credentials, FetchError> {
    let token = HeaderValue::from_str(session_token)
        .map_err(|_| FetchError::Request("the session token is not a valid header value"))?;
    let secret_id: String = form_urlencoded::byte_serialize(secret_id.as_bytes()).collect();
    let request = hyper::Request::get(format!("/secretsmanager/get?secretId={secret_id}"))
        .header(
            hyper::header::HOST,
            format!("localhost:{}", extension.port()),
        )
        .header("X-Aws-Parameters-Secrets-Token", token)
        .body(Empty::<Bytes>::new())
        .map_err(|_| FetchError::Request("invalid request"))?;
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(extension)
            .await
            .map_err(|err| FetchError::Connect(extension, err))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, FetchError>((status, body))
    };
    let (status, body) = tokio::time::timeout(FETCH_TIMEOUT, exchange)
        .await
        .map_err(|_| FetchError::Timeout(FETCH_TIMEOUT))??;
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    parse_secret(&body)
}

/// Reads the credentials from the extension's answer: JSON whose
/// `SecretString` is itself JSON with `username` and `password` (other
/// fields, such as RDS's `host` or `engine`, are ignored). Errors never
/// quote the input.
pub fn parse_secret(answer: &[u8]) -> Result<Credentials, FetchError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "SecretString")]
        secret_string: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(answer)
        .map_err(|_| FetchError::Malformed("the extension's answer is not a JSON object"))?;
    let text = answer.secret_string.ok_or(FetchError::Malformed(
        "the answer has no SecretString (a binary secret?)",
    ))?;
    serde_json::from_str(&text).map_err(|_| {
        FetchError::Malformed("SecretString is not JSON with string username and password")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn the_credentials_are_read_from_the_secret_string() {
        let answer = json!({
            "ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:db",
            "Name": "db",
            "SecretString": r#"{"username":"navigator","password":"p@ss\"word","engine":"postgres","port":5432}"#,
            "VersionId": "v1",
        });
        let credentials = parse_secret(answer.to_string().as_bytes()).unwrap();
        assert_eq!(credentials.username, "navigator");
        assert_eq!(credentials.password, "p@ss\"word");
        assert!(!format!("{credentials:?}").contains("p@ss"));
    }

    #[test]
    fn a_malformed_secret_is_refused_without_quoting_it() {
        for answer in [
            "not json".to_owned(),
            json!({"SecretBinary": "AAAA"}).to_string(),
            json!({"SecretString": "hunter2"}).to_string(),
            json!({"SecretString": r#"{"username":"u","password":12345678}"#}).to_string(),
        ] {
            let err = parse_secret(answer.as_bytes()).unwrap_err();
            assert!(matches!(err, FetchError::Malformed(_)), "{err}");
            assert!(!err.to_string().contains("hunter2") && !err.to_string().contains("12345678"));
        }
    }

    /// A one-shot HTTP server on 127.0.0.1 answering `status` and `body`;
    /// its address and the request it received.
    async fn extension(
        status: &'static str,
        body: String,
    ) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before the request ended");
                request.extend_from_slice(&buf[..n]);
            }
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (addr, server)
    }

    #[tokio::test]
    async fn the_secret_is_fetched_from_the_extension_with_the_session_token() {
        let body = json!({"SecretString": r#"{"username":"nav","password":"pw"}"#}).to_string();
        let (addr, server) = extension("200 OK", body).await;
        let credentials = fetch_secret(addr, "arn:aws:secretsmanager:eu-west-1:1:secret:db", "tok")
            .await
            .unwrap();
        assert_eq!(credentials.username, "nav");
        assert_eq!(credentials.password, "pw");
        let request = server.await.unwrap().to_lowercase();
        assert!(request.starts_with(
            "get /secretsmanager/get?secretid=arn%3aaws%3asecretsmanager%3aeu-west-1%3a1%3asecret%3adb http/1.1\r\n"
        ), "{request}");
        assert!(
            request.contains("\r\nx-aws-parameters-secrets-token: tok\r\n"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_refusal_by_the_extension_is_an_error_with_its_status() {
        let (addr, server) = extension("400 Bad Request", "{}".into()).await;
        let err = fetch_secret(addr, "missing", "tok").await.unwrap_err();
        assert!(matches!(err, FetchError::Status(400)), "{err}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_extension_is_reported_as_such() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = fetch_secret(addr, "db", "tok").await.unwrap_err();
        assert!(matches!(err, FetchError::Connect(..)), "{err}");
    }
}
