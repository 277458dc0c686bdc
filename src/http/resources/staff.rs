//! `/v1/staff` and `/v1/me`: the people who sign in. A record is made on a
//! subject's first request (`db::staff`); an admin sets its display name.
//! Patients' owners and calls' navigators name these records.

use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{Select, prelude::Uuid};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::common::{self, Change, Filter, nullable};
use crate::{
    db::entities::staff::{self as table, Entity},
    domain::Name,
    http::{
        ApiResult, AppState,
        auth::{Caller, Viewer},
        pagination::{NoOtherParams, PageParams},
    },
    patch,
};

const TAG: &str = "staff";

crate::view! {
    /// Someone who signs in: a navigator, a viewer or an admin.
    pub struct View as Staff: versioned {
        operational id: Uuid,
        /// The subject of the tokens they sign in with.
        operational subject: String,
        /// The name shown for them, set by an admin.
        reference display_name: Option<String>,
        operational version: i32,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational created_at: DateTime<Utc>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational updated_at: DateTime<Utc>,
    }
}

impl From<table::Model> for View {
    fn from(m: table::Model) -> Self {
        Self {
            id: m.id,
            subject: m.subject,
            display_name: m.display_name,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "staff", also: [get_me];
    /// List staff.
    list_staff: list(Filters) for "viewer";
    /// Read someone's staff record.
    get_staff: read for "viewer";
    /// Set someone's display name (admin).
    update_staff: update(Patch) for "admin";
    /// A staff record's history.
    get_staff_history: history for "admin";
}

/// The caller's own staff record (made on their first request).
#[utoipa::path(get, path = "/v1/me", tag = TAG,
    responses((status = 200, body = View, headers(("ETag" = String)))),
    security(("bearer" = ["viewer"])))]
async fn get_me(
    State(state): State<AppState>,
    who: Caller<Viewer>,
) -> impl axum::response::IntoResponse {
    common::get::<Entity, View>(&state, &who, who.staff_id()).await
}

/// Changes to a staff record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StaffPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "nullable")]
    pub display_name: Option<Option<Name>>,
}

impl Change<Entity> for Patch {
    fn apply(self, _: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        patch!(m.display_name? = self.display_name);
        Ok(())
    }
}

/// Filters of the list (none but the page).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
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

    fn select(self, select: Select<Entity>) -> ApiResult<Select<Entity>> {
        Ok(select)
    }
}
