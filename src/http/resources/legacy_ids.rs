//! `/v1/legacy-ids`: where each imported CRM row went. Support asks "where
//! did CRM contact X go?" with `?legacy_id=X`; the answer lists every record
//! the row became (its submission, its call, its person...), with the row
//! as last imported. Read-only.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::common;
use crate::{
    db::entities::legacy_id::{self as table, Entity},
    http::{
        ApiResult, AppState,
        access_log::Disclosed,
        auth::{Caller, Personal, Redact, Viewer},
        extract::ApiQuery,
        pagination::{NoOtherParams, Page, PageParams},
    },
};

const TAG: &str = "legacy-ids";

/// A CRM row and one record it became.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LegacyId)]
pub struct View {
    /// The CRM export file (`contact`, `patient`, `eap_dossier`, ...).
    pub legacy_table: String,
    /// The row's CRM id.
    pub legacy_id: String,
    /// The record's collection (`patients`, `intake-submissions`, ...).
    pub collection: String,
    /// The record's id: `GET /v1/{collection}/{record_id}`.
    pub record_id: Uuid,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub imported_at: DateTime<Utc>,
    /// The CRM row as last imported, every column as written; null once
    /// its patient was erased. Personal data of that patient: omitted for
    /// the viewer role.
    #[serde(skip_serializing_if = "Personal::is_withheld")]
    #[schema(value_type = Option<Object>)]
    pub row: Personal<Option<serde_json::Value>>,
    #[serde(skip)]
    patient: Option<Uuid>,
}

impl From<table::Model> for View {
    fn from(m: table::Model) -> Self {
        Self {
            legacy_table: m.legacy_table,
            legacy_id: m.legacy_id,
            collection: m.collection,
            record_id: m.record_id,
            imported_at: m.imported_at,
            row: Personal::Shown(None),
            patient: None,
        }
    }
}

/// A row that belongs to a patient is their personal data.
impl Redact for View {
    fn withhold_personal_data(&mut self) {
        if self.patient.is_some() {
            self.row = Personal::Withheld;
        }
    }
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

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_legacy_ids))
}

/// Where CRM rows went.
#[utoipa::path(get, path = "/v1/legacy-ids", tag = TAG, params(Filters, PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_legacy_ids(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(f): ApiQuery<Filters>,
) -> ApiResult<Disclosed<Json<Page<View>>>> {
    let mut select = Entity::find();
    if let Some(id) = f.legacy_id {
        select = select.filter(table::Column::LegacyId.eq(id.trim()));
    }
    if let Some(name) = f.legacy_table {
        select = select.filter(table::Column::LegacyTable.eq(name.trim()));
    }
    if let Some(id) = f.record_id {
        select = select.filter(table::Column::RecordId.eq(id));
    }
    let mut page = common::list::<Entity, View>(&state, &who, select, &f.page).await?;
    let keys: Vec<(String, String)> = (page.0.items.iter())
        .map(|v| (v.legacy_table.clone(), v.legacy_id.clone()))
        .collect();
    let rows = crate::legacy::rows::last_imported(&state.db, &keys).await?;
    for view in &mut page.0.items {
        if let Some((patient, values)) =
            rows.get(&(view.legacy_table.clone(), view.legacy_id.clone()))
        {
            view.patient = *patient;
            view.row = Personal::Shown(values.clone());
        }
    }
    let page = page.0.for_role(who.role);
    let patients: Vec<Uuid> = page.items.iter().filter_map(|v| v.patient).collect();
    Ok(Disclosed::new(&who, patients, Json(page)))
}
