//! `/v1/legacy-ids`: where each imported CRM row went. Support asks "where
//! did CRM contact X go?" with `?legacy_id=X`; the answer lists every record
//! the row became (its submission, its call, its person...). Read-only.

use chrono::{DateTime, Utc};
use sea_orm::prelude::Uuid;

use crate::db::entities::legacy_id::{self as table, Entity};

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

crate::list_filters! {
    entity: Entity;
    /// The CRM id of a row.
    legacy_id: String => eq table::Column::LegacyId | super::common::trimmed;
    /// The CRM export file.
    legacy_table: String => eq table::Column::LegacyTable | super::common::trimmed;
    /// Rows that became or joined this record.
    record_id: Uuid => eq table::Column::RecordId;
}
