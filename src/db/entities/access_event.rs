//! The `access_events` table (append-only).

use sea_orm::entity::prelude::*;

/// One read of personal data: who, when, through which route.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "access_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub at: DateTimeUtc,
    /// The caller's subject.
    pub actor: String,
    /// Method and route template (`GET /v1/patients/{id}`), never the URI:
    /// a query string may hold an email address.
    pub route: String,
}

/// Relations are expressed by the schema's foreign keys; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
