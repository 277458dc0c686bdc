//! Who is calling, and what their role allows.
//!
//! Locally, a bearer JWT (HS256) signed with the configured secret carries
//! `sub` and `role`. On AWS, API Gateway's JWT authorizer has already
//! verified the token, and the roles come from the verified claims it puts
//! in the request context ([`Authenticator::ApiGateway`]).
//!
//! Each operation states the least role it needs with the [`Caller`]
//! extractor; which fields each role receives follows from the fields'
//! classes (`http::resources::declare`). The rules, and the role of every
//! operation, are in `docs/authorization.md`.

use std::{
    collections::HashMap,
    marker::PhantomData,
    ops::Deref,
    sync::{Arc, Mutex, PoisonError},
};

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
    /// The id of the caller's staff record (made on their first request).
    pub fn staff_id(&self) -> uuid::Uuid {
        crate::db::staff::id_of(&self.subject)
    }

    /// Fails with 403 unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The least role an operation needs, as a type (see [`Caller`]).
pub trait MinRole {
    /// The role.
    const ROLE: Role;
}

/// Any signed-in role: viewer and above.
#[derive(Debug, Clone, Copy)]
pub struct Viewer;

/// Navigator and above: day-to-day work, and patients' personal data.
#[derive(Debug, Clone, Copy)]
pub struct Navigator;

/// Admin only: reference data, deletes, erasure.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}

impl MinRole for Navigator {
    const ROLE: Role = Role::Navigator;
}

impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// A signed-in caller whose role includes `R`'s: `who: Caller<Navigator>`.
///
/// The role is checked while the request's head is extracted, so a handler
/// taking it as its first extractor answers 401 or 403 before it parses the
/// path, the query or the body: a role that may not call learns nothing
/// from validation errors. Each operation's `#[utoipa::path]` states the
/// same role as the scope of its bearer requirement
/// (`security(("bearer" = ["navigator"]))`), and the API tests check the
/// two agree for every operation.
#[derive(Debug, Clone)]
pub struct Caller<R> {
    principal: Principal,
    role: PhantomData<fn() -> R>,
}

impl<R> Deref for Caller<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<R: MinRole> FromRequestParts<AppState> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.require(R::ROLE)?;
        // Signing in makes the caller a staff record (once per process).
        state.roster.sign_in(&state.db, &principal.subject).await?;
        Ok(Self {
            principal,
            role: PhantomData,
        })
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
        /// The `iss` the claims must carry (the user pool API Gateway's
        /// authorizer trusts): a second check, should the authorizer ever
        /// be configured with another issuer.
        issuer: String,
    },
}

/// The HS256 keys derived from the shared secret, and the tokens they have
/// verified.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens whose signature verified, with what they say. A portal sends
    /// the same token with every request for the token's lifetime, and
    /// verifying it again (two base64 decodes, two JSON parses, an HMAC)
    /// was 4% of a GET's CPU. Only a verified token enters; the key is the
    /// whole token, signature included; a hit checks the expiry again.
    verified: Mutex<HashMap<Box<str>, Verified>>,
}

/// Most tokens kept verified; when full, the cache starts again empty (a
/// local server has a few callers, each with one token at a time).
const VERIFIED_TOKENS: usize = 1024;

/// Seconds a token stays valid past its `exp`, for clocks that differ.
const LEEWAY: u64 = 30;

/// What a verified token says.
struct Verified {
    principal: Principal,
    exp: u64,
}

impl Verified {
    /// The caller, unless the token expired by `now` (seconds since the
    /// epoch).
    fn at(&self, now: u64) -> Result<Principal, ApiError> {
        if self.exp.saturating_add(LEEWAY) < now {
            return Err(ApiError::Unauthorized("The token has expired."));
        }
        Ok(self.principal.clone())
    }
}

impl JwtKeys {
    /// Keys for a secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Checked by `Verified::at`, for a fresh token and a cached one
        // alike.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: Mutex::default(),
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
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        self.verify_at(token, now)
    }

    fn verify_at(&self, token: &str, now: u64) -> Result<Principal, ApiError> {
        if let Some(known) = self.verified().get(token) {
            return known.at(now);
        }
        let known = self.verify_signed(token)?;
        let principal = known.at(now)?;
        let mut verified = self.verified();
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(token.into(), known);
        Ok(principal)
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Verified>> {
        // The map stays consistent whatever a panicking holder did.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The signature, the algorithm and the claims, but not the expiry.
    fn verify_signed(&self, token: &str) -> Result<Verified, ApiError> {
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
        Ok(Verified {
            principal: Principal {
                subject: data.claims.sub,
                role: data.claims.role,
            },
            exp: data.claims.exp,
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
                let token =
                    header
                        .to_str()
                        .ok()
                        .and_then(bearer_token)
                        .ok_or(ApiError::Unauthorized(
                            "The Authorization header must be 'Bearer <token>'.",
                        ))?;
                keys.verify(token)
            }
            Authenticator::ApiGateway {
                roles_claim,
                issuer,
            } => {
                let claims =
                    parts
                        .extensions
                        .get::<VerifiedClaims>()
                        .ok_or(ApiError::Unauthorized(
                            "The request carries no verified claims.",
                        ))?;
                claims.check_issuer(issuer)?;
                claims.principal(roles_claim)
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is
/// matched without regard to case (RFC 9110 11.1: `bearer`, `BEARER`), and
/// separated from the token by one or more spaces.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Claims that an upstream authorizer verified (API Gateway's JWT
/// authorizer), placed in the request's extensions by the Lambda entry.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub serde_json::Map<String, serde_json::Value>);

impl VerifiedClaims {
    /// Fails with 401 unless the claims' `iss` is exactly `issuer`.
    pub fn check_issuer(&self, issuer: &str) -> Result<(), ApiError> {
        match self.0.get("iss").and_then(|v| v.as_str()) {
            Some(iss) if iss == issuer => Ok(()),
            _ => Err(ApiError::Unauthorized(
                "The verified token was not issued by the expected issuer.",
            )),
        }
    }
}

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
    fn a_verified_token_is_still_refused_once_it_expires() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        let token = keys.mint("alice", Role::Navigator, 60);
        let now = chrono::Utc::now().timestamp() as u64;
        assert!(keys.verify_at(&token, now).is_ok());
        assert!(keys.verified().contains_key(token.as_str()));
        assert!(keys.verify_at(&token, now + 60 + LEEWAY - 5).is_ok());
        assert!(matches!(
            keys.verify_at(&token, now + 60 + LEEWAY + 5),
            Err(ApiError::Unauthorized("The token has expired."))
        ));
    }

    #[test]
    fn a_verified_token_with_another_signature_is_verified_afresh_and_refused() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        let token = keys.mint("alice", Role::Viewer, 60);
        keys.verify(&token).unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", signature.chars().rev().collect::<String>());
        assert!(keys.verify(&forged).is_err());
        assert!(!keys.verified().contains_key(forged.as_str()));
    }

    #[test]
    fn the_verified_tokens_kept_are_bounded() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        for n in 0..VERIFIED_TOKENS + 10 {
            keys.verify(&keys.mint(&format!("user-{n}"), Role::Viewer, 60))
                .unwrap();
        }
        assert!(keys.verified().len() <= VERIFIED_TOKENS);
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for value in [
            "Bearer t.k.n",
            "bearer t.k.n",
            "BEARER t.k.n",
            "bEaReR   t.k.n ",
        ] {
            assert_eq!(bearer_token(value), Some("t.k.n"), "{value}");
        }
        for value in [
            "Basic dXNlcg==",
            "Bearer",
            "Bearer ",
            "Bearert.k.n",
            "Bearer\tt.k.n",
        ] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn api_gateway_claims_give_the_highest_known_group() {
        let mut map = serde_json::Map::new();
        map.insert("sub".into(), "u-1".into());
        map.insert("cognito:groups".into(), "[viewer admin other]".into());
        let p = VerifiedClaims(map).principal("cognito:groups").unwrap();
        assert_eq!(p.role, Role::Admin);
    }

    #[test]
    fn api_gateway_claims_from_another_issuer_are_refused() {
        let pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool";
        let claims = |iss: Option<&str>| {
            let mut map = serde_json::Map::new();
            map.insert("sub".into(), "u-1".into());
            if let Some(iss) = iss {
                map.insert("iss".into(), iss.into());
            }
            VerifiedClaims(map)
        };
        assert!(claims(Some(pool)).check_issuer(pool).is_ok());
        for other in [
            Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other"),
            Some(""),
            None,
        ] {
            assert!(claims(other).check_issuer(pool).is_err(), "{other:?}");
        }
    }
}
