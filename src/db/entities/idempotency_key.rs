//! The `idempotency_keys` table: the first response to each POST that
//! carried an `Idempotency-Key`, so that a retry gets it again.

use sea_orm::entity::prelude::*;

/// One remembered response, keyed by who sent it, where, and the key.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 of the request body, to tell a retry from a different request.
    pub request_hash: String,
    pub status: i32,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub body: String,
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
