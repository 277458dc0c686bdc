//! `/v1/staff` and `/v1/me`: the people who sign in. A record is made on a
//! subject's first request (`db::staff`); an admin sets its display name.
//! Patients' owners and calls' navigators name these records.

use axum::extract::State;
use sea_orm::prelude::Uuid;

use super::common::{self, Change};
use crate::{
    db::entities::staff::{self as table, Entity},
    domain::Name,
    http::{
        AppState,
        auth::{Caller, Viewer},
    },
};

const TAG: &str = "staff";

crate::view! {
    /// Someone who signs in: a navigator, a viewer or an admin.
    pub struct View as Staff from table::Model: versioned {
        operational id: Uuid,
        /// The subject of the tokens they sign in with.
        operational subject: String,
        /// The name shown for them, set by an admin.
        reference display_name: Option<String>,
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

crate::changes! {
    /// Changes to a staff record.
    pub struct Patch as StaffPatch for Entity {
        display_name: Name | null,
    }
}

impl Change<Entity> for Patch {}

crate::list_filters! {
    entity: Entity, versioned;
}
