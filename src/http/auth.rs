//! Who is calling, and what their role allows.
//!
//! Locally, a bearer JWT (HS256) signed with the configured secret carries
//! `sub` and `role`. On AWS, API Gateway's JWT authorizer has already
//! verified the token, and the roles come from the verified claims it puts
//! in the request context ([`Authenticator::ApiGateway`]).

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AppState, error::ApiError};
use crate::domain::Role;

/// The signed-in caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject; recorded as the actor in history.
    pub subject: String,
    /// The caller's highest role.
    pub role: Role,
}

impl Principal {
    /// Fails with 403 unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The claims of a Navigator token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: who the token speaks for.
    pub sub: String,
    /// The subject's role.
    pub role: Role,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
}

/// How callers are authenticated.
#[derive(Clone)]
pub enum Authenticator {
    /// Verify a bearer JWT signed with this HS256 secret.
    Jwt(Arc<JwtKeys>),
    /// Trust the claims API Gateway's JWT authorizer verified; roles are read
    /// from the claim named here (e.g. `cognito:groups`).
    ApiGateway {
        /// The claim holding the caller's role(s).
        roles_claim: String,
    },
}

/// The HS256 keys derived from the shared secret.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys for a secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Mints a token for `subject` with `role`, valid for `ttl_seconds`.
    pub fn mint(&self, subject: &str, role: Role, ttl_seconds: u64) -> String {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            iat: now,
            exp: now + ttl_seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Verifies signature, algorithm (HS256 only: `alg: none` and others are
    /// refused) and expiry.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                ApiError::Unauthorized(match err.kind() {
                    ErrorKind::ExpiredSignature => "The token has expired.",
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                        "The token's signature is not valid."
                    }
                    _ => "The token is not valid.",
                })
            })?;
        if data.claims.sub.trim().is_empty() {
            return Err(ApiError::Unauthorized("The token has no subject."));
        }
        Ok(Principal {
            subject: data.claims.sub,
            role: data.claims.role,
        })
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match &state.auth {
            Authenticator::Jwt(keys) => {
                let header = parts
                    .headers
                    .get(axum::http::header::AUTHORIZATION)
                    .ok_or(ApiError::Unauthorized("A bearer token is required."))?;
                let token = header
                    .to_str()
                    .ok()
                    .and_then(|v| {
                        v.strip_prefix("Bearer ")
                            .or_else(|| v.strip_prefix("bearer "))
                    })
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or(ApiError::Unauthorized(
                        "The Authorization header must be 'Bearer <token>'.",
                    ))?;
                keys.verify(token)
            }
            Authenticator::ApiGateway { roles_claim } => {
                let claims =
                    parts
                        .extensions
                        .get::<VerifiedClaims>()
                        .ok_or(ApiError::Unauthorized(
                            "The request carries no verified claims.",
                        ))?;
                claims.principal(roles_claim)
            }
        }
    }
}

/// Claims that an upstream authorizer verified (API Gateway's JWT
/// authorizer), placed in the request's extensions by the Lambda entry.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub serde_json::Map<String, serde_json::Value>);

impl VerifiedClaims {
    /// The caller: `sub` (or `username`), and the highest known role in the
    /// roles claim, which may be a JSON array, a string, or the bracketed
    /// list API Gateway makes of arrays (`[admin navigator]`).
    pub fn principal(&self, roles_claim: &str) -> Result<Principal, ApiError> {
        let subject = ["sub", "username", "cognito:username"]
            .iter()
            .find_map(|k| self.0.get(*k).and_then(|v| v.as_str()))
            .filter(|s| !s.is_empty())
            .ok_or(ApiError::Unauthorized("The verified token has no subject."))?;
        let names: Vec<String> = match self.0.get(roles_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => s
                .trim_matches(|c| c == '[' || c == ']')
                .split([' ', ','])
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => vec![],
        };
        let role = names
            .iter()
            .filter_map(|n| Role::from_text(n.trim()))
            .max_by_key(|r| Role::ALL.iter().position(|x| x == r))
            .ok_or(ApiError::Forbidden)?;
        Ok(Principal {
            subject: subject.to_owned(),
            role,
        })
    }
}

/// The caller if signed in, or `None` for an anonymous call (public routes).
/// A present but invalid token is still a 401.
#[derive(Debug, Clone)]
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybePrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let present = match &state.auth {
            Authenticator::Jwt(_) => parts
                .headers
                .contains_key(axum::http::header::AUTHORIZATION),
            Authenticator::ApiGateway { .. } => parts.extensions.get::<VerifiedClaims>().is_some(),
        };
        if present {
            Principal::from_request_parts(parts, state)
                .await
                .map(|p| Self(Some(p)))
        } else {
            Ok(Self(None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn a_minted_token_verifies_with_its_role() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        let token = keys.mint("alice", Role::Navigator, 60);
        assert_eq!(
            keys.verify(&token).unwrap(),
            Principal {
                subject: "alice".into(),
                role: Role::Navigator
            }
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token =
            JwtKeys::new(b"one-secret-one-secret-one-secret").mint("alice", Role::Admin, 60);
        assert!(
            JwtKeys::new(b"two-secret-two-secret-two-secret")
                .verify(&token)
                .is_err()
        );
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = b64.encode(br#"{"sub":"mallory","role":"admin","exp":9999999999,"iat":0}"#);
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        assert!(keys.verify(&format!("{header}.{claims}.")).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        let now = chrono::Utc::now().timestamp() as u64;
        let claims = Claims {
            sub: "alice".into(),
            role: Role::Admin,
            iat: now - 7200,
            exp: now - 3600,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn api_gateway_claims_give_the_highest_known_group() {
        let mut map = serde_json::Map::new();
        map.insert("sub".into(), "u-1".into());
        map.insert("cognito:groups".into(), "[viewer admin other]".into());
        let p = VerifiedClaims(map).principal("cognito:groups").unwrap();
        assert_eq!(p.role, Role::Admin);
    }
}
