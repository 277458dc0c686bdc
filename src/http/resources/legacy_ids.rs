//! `/v1/legacy-ids`: where each imported CRM row went. Support asks "where
//! did CRM contact X go?" with `?legacy_id=X`; the answer lists every record
//! the row became (its submission, its call, its person...). Read-only.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, QueryFilter, Select, prelude::Uuid};
use serde::Deserialize;
use utoipa::IntoParams;

use super::common::Filter;
use crate::{
    db::entities::legacy_id::{self as table, Entity},
    http::{
        ApiResult,
        pagination::{NoOtherParams, PageParams},
    },
};

const TAG: &str = "legacy-ids";

crate::view! {
    /// A CRM row and one record it became.
    pub struct View as LegacyId {
        /// The CRM export file (`contact`, `patient`, `eap_dossier`, ...).
        operational legacy_table: String,
        /// The row's CRM id.
        operational legacy_id: String,
        /// The record's collection (`patients`, `intake-submissions`, ...).
        operational collection: String,
        /// The record's id: `GET /v1/{collection}/{record_id}`.
        operational record_id: Uuid,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational imported_at: DateTime<Utc>,
    }
}

impl From<table::Model> for View {
    fn from(m: table::Model) -> Self {
        Self {
            legacy_table: m.legacy_table,
            legacy_id: m.legacy_id,
            collection: m.collection,
            record_id: m.record_id,
            imported_at: m.imported_at,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "legacy-ids";
    /// Where CRM rows went.
    list_legacy_ids: list(Filters) for "viewer";
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// The CRM id of a row.
    pub legacy_id: Option<String>,
    /// The CRM export file.
    pub legacy_table: Option<String>,
    /// Rows that became or joined this record.
    pub record_id: Option<Uuid>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

impl Filter<Entity> for Filters {
    fn page(&self) -> &PageParams {
        &self.page
    }

    fn select(self, mut select: Select<Entity>) -> ApiResult<Select<Entity>> {
        if let Some(id) = self.legacy_id {
            select = select.filter(table::Column::LegacyId.eq(id.trim()));
        }
        if let Some(name) = self.legacy_table {
            select = select.filter(table::Column::LegacyTable.eq(name.trim()));
        }
        if let Some(id) = self.record_id {
            select = select.filter(table::Column::RecordId.eq(id));
        }
        Ok(select)
    }
}
