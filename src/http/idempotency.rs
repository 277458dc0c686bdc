//! `Idempotency-Key` on POST: the first response to a key is stored in the
//! same transaction as what the request created, so a retry gets exactly
//! that response (201, same body, same Location) and creates nothing; the
//! same key with a different body is a 422. Keys are scoped to the caller
//! and the path.
//!
//! A key lives for [`KEY_LIFETIME`] (a day): after that it no longer
//! replays, and the request is served as new. Expired keys are purged by
//! the creates themselves, in their own transaction, at most
//! [`PURGE_BATCH`] at a time: every POST that carries a key, so that purging
//! outpaces the keys being added, and any other POST when this process has
//! not purged for [`PURGE_EVERY`], so that a server whose clients stopped
//! sending keys still forgets the stored responses (they hold personal
//! data). No background task: a Lambda sandbox may be frozen between
//! requests, and a cold start does no eager work.
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

use std::{
    net::IpAddr,
    sync::atomic::{AtomicI64, Ordering},
};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Condition, ExprTrait, LockBehavior, LockType},
};
use serde::Serialize;
use utoipa::IntoParams;

use super::{
    error::{ApiError, FieldError},
    extract::BodyDigest,
    intake_guard::client_ip_in,
    versioning::etag,
};
use crate::db::{self, entities::idempotency_key};

/// How long a stored response replays.
pub const KEY_LIFETIME: TimeDelta = TimeDelta::hours(24);
/// Most expired keys one request deletes.
pub const PURGE_BATCH: u64 = 64;
/// How often a POST without a key purges, at most (per process).
pub const PURGE_EVERY: TimeDelta = TimeDelta::minutes(1);

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
        let now = Utc::now();
        let expired_before = now - KEY_LIFETIME;
        static LAST_PURGE: AtomicI64 = AtomicI64::new(i64::MIN);
        if self.key.is_some() || purge_due(&LAST_PURGE, now) {
            purge_expired(tx, expired_before).await?;
        }
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let scope = self.scope(actor);
        let stored = idempotency_key::Entity::find_by_id((scope.clone(), key.clone()))
            .one(tx)
            .await?;
        if let Some(stored) = &stored
            && stored.created_at < expired_before
        {
            // Expired but not purged yet: forgotten now, and claimed anew.
            idempotency_key::Entity::delete_by_id((scope.clone(), key.clone()))
                .exec(tx)
                .await?;
        } else if let Some(stored) = stored {
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
            created_at: ActiveValue::Set(now),
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

/// Whether a POST without a key should purge: when `last` (the second of
/// the last purge) is [`PURGE_EVERY`] ago; the first request to see it due
/// claims it.
fn purge_due(last: &AtomicI64, now: DateTime<Utc>) -> bool {
    let now = now.timestamp();
    let before = last.load(Ordering::Relaxed);
    now.saturating_sub(before) >= PURGE_EVERY.num_seconds()
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Deletes up to [`PURGE_BATCH`] keys created before `expired_before`,
/// oldest first. On PostgreSQL, keys another transaction is purging are
/// skipped rather than waited for.
async fn purge_expired(
    tx: &impl ConnectionTrait,
    expired_before: DateTime<Utc>,
) -> Result<(), DbErr> {
    use idempotency_key::Column;
    let expired: Vec<(String, String)> = idempotency_key::Entity::find()
        .select_only()
        .column(Column::Scope)
        .column(Column::Key)
        .filter(Column::CreatedAt.lt(expired_before))
        .order_by_asc(Column::CreatedAt)
        .limit(PURGE_BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(tx)
        .await?;
    if expired.is_empty() {
        return Ok(());
    }
    let which = expired
        .into_iter()
        .fold(Condition::any(), |which, (scope, key)| {
            which.add(Column::Scope.eq(scope).and(Column::Key.eq(key)))
        });
    idempotency_key::Entity::delete_many()
        .filter(which)
        .exec(tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_without_a_key_purge_once_a_minute() {
        let last = AtomicI64::new(i64::MIN);
        let start = Utc::now();
        assert!(purge_due(&last, start), "the first one purges");
        assert!(
            !purge_due(&last, start),
            "the next one in the same minute does not"
        );
        assert!(!purge_due(&last, start + TimeDelta::seconds(59)));
        assert!(
            purge_due(&last, start + PURGE_EVERY),
            "a minute later one does"
        );
        assert!(!purge_due(&last, start + PURGE_EVERY));
    }
}
