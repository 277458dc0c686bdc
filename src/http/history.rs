//! `GET /v1/{collection}/{id}/history`: every version of a record, who made
//! it, when, and what changed. The rows are written by `db::store` in the
//! same transaction as the change, so history cannot miss a write.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    ApiResult, AppState,
    error::ApiError,
    pagination::{Page, PageParams},
};
use crate::db::{entities::history, store};

/// One change to a record.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// The record's version after this change.
    pub version: i32,
    /// `create`, `update` or `delete`.
    #[schema(pattern = "^(create|update|delete)$")]
    pub action: String,
    /// Who made the change (a token's subject, `anonymous` or `legacy-import`).
    pub actor: String,
    /// When.
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// For each changed field, `{"from": old, "to": new}` (`from` absent
    /// on creation, `to` absent on deletion or when cleared; both absent,
    /// `{}`, where an erasure removed a person's data).
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

impl store::Record for history::Entity {
    const COLLECTION: &'static str = "history";
    fn id_column() -> Self::Column {
        history::Column::Id
    }
    fn id_of(model: &Self::Model) -> Uuid {
        model.id
    }
    fn select_by_id(backend: sea_orm::DbBackend) -> &'static str {
        static SQL: store::SqlPerBackend = store::SqlPerBackend::new();
        SQL.select_by_id::<Self>(backend)
    }
}

/// A page of a record's history, oldest first. 404 if the record never
/// existed (a deleted record keeps its history).
pub async fn list(
    state: &AppState,
    collection: &str,
    id: Uuid,
    params: &PageParams,
) -> ApiResult<Page<HistoryEntry>> {
    let page = params.parse()?;
    let select = history::Entity::find()
        .filter(history::Column::Collection.eq(collection))
        .filter(history::Column::RecordId.eq(id));
    let listed = store::list(&state.db, select, page).await?;
    if listed.items.is_empty() && page.after.is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(super::pagination::page(listed, |row| HistoryEntry {
        version: row.version,
        action: row.action,
        actor: row.actor,
        at: row.at,
        changes: row.changes,
    }))
}
