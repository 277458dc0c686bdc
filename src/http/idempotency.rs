//! `Idempotency-Key` on POST: the first response to a key is stored in the
//! same transaction as what the request created, so a retry gets exactly
//! that response (201, same body, same Location) and creates nothing; the
//! same key with a different body is a 422. Keys are scoped to the caller
//! and the path.
//!
//! # Anonymous callers
//!
//! The public intake's callers have no subject. Their keys are scoped to
//! the client's address, the one identity of an anonymous caller that it
//! cannot choose: the TCP peer, or API Gateway's source IP on Lambda (as
//! for the intake's rate limit, see [`super::intake_guard`]). Otherwise any
//! caller could replay another's key (and read its receipt) or claim it
//! first (and have the other's submission refused as a different body).
//! The whole address, not the limiter's IPv6 /64: a retry comes from the
//! address that sent the request, and a /64 may be a whole office. Clients
//! behind one NAT share a scope, as they share a rate limit.

use std::net::IpAddr;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, EntityTrait};
use serde::Serialize;
use utoipa::IntoParams;

use super::{
    error::{ApiError, FieldError},
    extract::BodyDigest,
    intake_guard::client_ip_in,
    versioning::etag,
};
use crate::db::{self, entities::idempotency_key};

/// The actor an anonymous caller is recorded as; its keys are scoped to
/// its address (see the module notes).
pub const ANONYMOUS: &str = "anonymous";

/// The `Idempotency-Key` header, the path it was sent to and the client's
/// address.
#[derive(Debug, Clone)]
pub struct Idempotency {
    key: Option<String>,
    path: String,
    client: Option<IpAddr>,
}

/// The `Idempotency-Key` header, for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// A client-chosen key (1 to 200 visible ASCII characters): a retry with
    /// the same key and body returns the first response and creates nothing.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 200,
        pattern = "^[\\x21-\\x7E]+$"
    )]
    idempotency_key: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let path = parts.uri.path().to_owned();
        let client = client_ip_in(&parts.extensions).map(|ip| ip.to_canonical());
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self {
                key: None,
                path,
                client,
            });
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "The Idempotency-Key header is invalid.".into(),
                    vec![FieldError::new(
                        "Idempotency-Key",
                        "must be 1 to 200 visible ASCII characters",
                    )],
                )
            })?;
        Ok(Self {
            key: Some(key.to_owned()),
            path,
            client,
        })
    }
}

/// A 201 response: the new record, its Location and ETag.
pub struct Created {
    location: String,
    version: i32,
    body: String,
}

impl Created {
    /// The response for a record created at `location`.
    pub fn new<T: Serialize>(location: String, version: i32, record: &T) -> Result<Self, ApiError> {
        let body = serde_json::to_string(record).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Self {
            location,
            version,
            body,
        })
    }

    fn into_response_with(self, status: StatusCode, replayed: bool) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(location) = HeaderValue::from_str(&self.location) {
            headers.insert(header::LOCATION, location);
        }
        headers.insert(header::ETAG, etag(self.version));
        if replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        (status, headers, self.body).into_response()
    }
}

impl IntoResponse for Created {
    fn into_response(self) -> Response {
        self.into_response_with(StatusCode::CREATED, false)
    }
}

impl Idempotency {
    fn scope(&self, actor: &str) -> String {
        match self.client {
            Some(client) if actor == ANONYMOUS => format!("{actor}@{client} POST {}", self.path),
            _ => format!("{actor} POST {}", self.path),
        }
    }

    /// Inside the request's write transaction: the stored response if this
    /// key was used before with the same body; a 422 if with another body;
    /// `None` (and the key claimed) if it is new.
    pub async fn replay(
        &self,
        tx: &impl ConnectionTrait,
        actor: &str,
        digest: &BodyDigest,
    ) -> Result<Option<Response>, ApiError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let scope = self.scope(actor);
        if let Some(stored) = idempotency_key::Entity::find_by_id((scope.clone(), key.clone()))
            .one(tx)
            .await?
        {
            if stored.request_hash != digest.sha256 {
                return Err(ApiError::Unprocessable(
                    "This Idempotency-Key was already used with a different request body.".into(),
                    vec![FieldError::new(
                        "Idempotency-Key",
                        "was used with a different body",
                    )],
                ));
            }
            let status = StatusCode::from_u16(stored.status as u16).unwrap_or(StatusCode::CREATED);
            let created = Created {
                location: stored.location.unwrap_or_default(),
                version: stored
                    .etag
                    .and_then(|e| e.trim_matches('"').parse().ok())
                    .unwrap_or(1),
                body: stored.body,
            };
            return Ok(Some(created.into_response_with(status, true)));
        }
        // Claim the key now: a concurrent request with the same key waits on
        // this row (PostgreSQL) or on the write lock (SQLite), then fails
        // the unique check and is told to retry, which replays.
        let claimed = idempotency_key::ActiveModel {
            scope: ActiveValue::Set(scope),
            key: ActiveValue::Set(key.clone()),
            request_hash: ActiveValue::Set(digest.sha256.clone()),
            status: ActiveValue::Set(0),
            location: ActiveValue::Set(None),
            etag: ActiveValue::Set(None),
            body: ActiveValue::Set(String::new()),
            created_at: ActiveValue::Set(Utc::now()),
        }
        .insert(tx)
        .await;
        match claimed {
            Ok(_) => Ok(None),
            Err(err) if matches!(db::conflict(&err), Some(db::Conflict::Unique(_))) => Err(ApiError::Conflict(
                "A request with this Idempotency-Key is in progress; retry it to get its response.".into(),
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Stores `created` as the response to this key (if any) and returns it.
    pub async fn respond(
        &self,
        tx: &impl ConnectionTrait,
        actor: &str,
        created: Created,
    ) -> Result<Response, ApiError> {
        if let Some(key) = &self.key {
            idempotency_key::ActiveModel {
                scope: ActiveValue::Unchanged(self.scope(actor)),
                key: ActiveValue::Unchanged(key.clone()),
                status: ActiveValue::Set(StatusCode::CREATED.as_u16() as i32),
                location: ActiveValue::Set(Some(created.location.clone())),
                etag: ActiveValue::Set(Some(format!("\"{}\"", created.version))),
                body: ActiveValue::Set(created.body.clone()),
                ..Default::default()
            }
            .update(tx)
            .await?;
        }
        Ok(created.into_response())
    }
}
