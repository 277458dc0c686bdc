//! `/v1/legacy-ids`: where each imported CRM row went. Support asks "where
//! did CRM contact X go?" with `?legacy_id=X`; the answer lists every record
//! the row became (its submission, its call, its person...), with the row
//! as last imported. Read-only.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use sea_orm::prelude::Uuid;

use super::{common, declare::Shown};
use crate::{
    db::entities::legacy_id::{self as table, Entity},
    http::{
        ApiResult, AppState,
        access_log::Disclosed,
        auth::{Caller, Viewer},
        extract::ApiQuery,
        pagination::Page,
    },
};

const TAG: &str = "legacy-ids";

crate::view! {
    /// A CRM row and one record it became.
    pub struct View as LegacyId, about patient_id {
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
        /// The person the row is about, when it is a lead's, patient's or
        /// dossier's.
        operational patient_id: Option<Uuid>,
        /// The CRM row as last imported, every column as written; null once
        /// its patient was erased.
        #[schema(value_type = Option<Object>)]
        personal row: Option<serde_json::Value>,
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
            patient_id: None,
            row: None,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "legacy-ids",
        also: [list_legacy_ids];
}

crate::list_filters! {
    entity: Entity;
    /// The CRM id of a row.
    legacy_id: String => eq table::Column::LegacyId | common::trimmed;
    /// The CRM export file.
    legacy_table: String => eq table::Column::LegacyTable | common::trimmed;
    /// Rows that became or joined this record.
    record_id: Uuid => eq table::Column::RecordId;
}

/// Where CRM rows went, each with its row as last imported.
#[utoipa::path(get, path = "/v1/legacy-ids", tag = TAG, params(Filters, crate::http::pagination::PageParams),
    responses((status = 200, body = Page<View>)), security(("bearer" = ["viewer"])))]
async fn list_legacy_ids(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiQuery(filters): ApiQuery<Filters>,
) -> ApiResult<Disclosed<Json<Page<Shown<View>>>>> {
    let listed = common::listed::<Entity, View, _>(&state, &who, filters).await?;
    let keys: Vec<(String, String)> = (listed.items.iter())
        .map(|m| (m.legacy_table.clone(), m.legacy_id.clone()))
        .collect();
    let rows = crate::legacy::rows::last_imported(&state.db, &keys).await?;
    Ok(common::page_of(&who, listed, |m| {
        let key = (m.legacy_table.clone(), m.legacy_id.clone());
        let mut view = View::from(m);
        if let Some((patient, values)) = rows.get(&key) {
            view.patient_id = *patient;
            view.row = values.clone();
        }
        view
    }))
}
