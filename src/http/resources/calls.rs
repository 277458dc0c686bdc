//! `/v1/calls`: every booking with a lead or patient, kept with its outcome.
//! A call that happened (completed) or was missed (no-show) cannot go back
//! to scheduled; navigators cancel, only admins delete.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, Select, prelude::Uuid};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::common::{self, Change, Filter, NewRecord, References, Someone, nullable, present};
use crate::db::store::DateOrder;
use crate::{
    db::entities::{
        call::{self as table, Entity},
        patient, staff,
    },
    domain::{CallStatus, Name, Text},
    http::{
        ApiError, ApiResult, AppState, Principal,
        pagination::{NoOtherParams, PageParams, parsed},
    },
    patch,
};

const TAG: &str = "calls";

crate::view! {
    /// A call with a lead or patient.
    pub struct View as Call: versioned, about patient_id {
        operational id: Uuid,
        operational patient_id: Uuid,
        /// The patient navigator who holds the call, as the CRM named them
        /// (free text, kept as imported).
        operational navigator: Option<String>,
        /// The navigator who holds the call (staff).
        operational navigator_id: Option<Uuid>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational scheduled_at: DateTime<Utc>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational reminder_at: Option<DateTime<Utc>>,
        operational status: CallStatus,
        /// What was said.
        health notes: Option<String>,
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
            patient_id: m.patient_id,
            navigator: m.navigator,
            navigator_id: m.navigator_id,
            scheduled_at: m.scheduled_at,
            reminder_at: m.reminder_at,
            status: m.status,
            notes: m.notes,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "calls";
    /// List calls.
    list_calls: list(Filters) for "viewer";
    /// Book or log a call (navigator).
    create_call: create(Create) for "navigator";
    /// Read a call.
    get_call: read for "viewer";
    /// Change a call (navigator): reschedule, record its outcome, cancel.
    update_call: update(Patch) for "navigator";
    /// Delete a call (admin; navigators cancel instead).
    delete_call: delete for "admin";
    /// A call's history.
    get_call_history: history for "navigator";
}

/// A new call (default status `scheduled`; a past call may be logged as
/// completed or no-show directly).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewCall)]
pub struct Create {
    pub patient_id: Uuid,
    pub navigator: Option<Name>,
    /// The navigator who holds the call (staff).
    pub navigator_id: Option<Uuid>,
    pub scheduled_at: DateTime<Utc>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub status: Option<CallStatus>,
    pub notes: Option<Text>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let (patient_id, navigator_id) = (self.patient_id, self.navigator_id);
        let refs = Box::pin(async move {
            common::exists::<patient::Entity>(state, "/patient_id", Some(patient_id)).await?;
            common::exists::<staff::Entity>(state, "/navigator_id", navigator_id).await
        });
        let row = table::ActiveModel {
            patient_id: Set(self.patient_id),
            navigator: Set(self.navigator.map(Into::into)),
            navigator_id: Set(self.navigator_id),
            scheduled_at: Set(self.scheduled_at),
            reminder_at: Set(self.reminder_at),
            status: Set(self.status.unwrap_or(CallStatus::Scheduled)),
            notes: Set(self.notes.map(Into::into)),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, refs))
    }
}

/// Changes to a call; the person it is with cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CallPatch)]
pub struct Patch {
    #[serde(default, deserialize_with = "nullable")]
    pub navigator: Option<Option<Name>>,
    /// Reassigns the call to another navigator (staff), or to none.
    #[serde(default, deserialize_with = "nullable")]
    pub navigator_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    pub reminder_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub status: Option<CallStatus>,
    #[serde(default, deserialize_with = "nullable")]
    pub notes: Option<Option<Text>>,
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        let navigator_id = self.navigator_id.flatten();
        Box::pin(common::exists::<staff::Entity>(
            state,
            "/navigator_id",
            navigator_id,
        ))
    }

    fn apply(self, current: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        if let Some(next) = self.status {
            let now = current.status;
            if !now.can_become(next) {
                return Err(ApiError::Conflict(format!(
                    "A {now} call cannot become {next}."
                )));
            }
        }
        patch!(m.navigator? = self.navigator);
        patch!(m.navigator_id? = self.navigator_id);
        patch!(m.scheduled_at = self.scheduled_at);
        patch!(m.reminder_at? = self.reminder_at);
        patch!(m.status = self.status);
        patch!(m.notes? = self.notes);
        Ok(())
    }
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Calls with this person.
    pub patient_id: Option<Uuid>,
    /// With this status.
    pub status: Option<CallStatus>,
    /// Held by this navigator: `me` (the caller's calls, by `navigator_id`)
    /// or the legacy free-text name exactly.
    pub navigator: Option<String>,
    /// Held by this member of staff: an id, or `me`.
    #[serde(default, deserialize_with = "parsed")]
    #[param(value_type = Option<String>, pattern = "^(me|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", example = "me")]
    pub navigator_id: Option<Someone>,
    /// Scheduled at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub scheduled_from: Option<DateTime<Utc>>,
    /// Scheduled before.
    #[serde(default, deserialize_with = "parsed")]
    pub scheduled_to: Option<DateTime<Utc>>,
    /// Reminders due: `true` lists the scheduled calls whose `reminder_at`
    /// has passed (completed, missed and cancelled calls need none);
    /// `false` filters nothing.
    #[serde(default, deserialize_with = "parsed")]
    pub reminder_due: Option<bool>,
    /// Reminder at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub reminder_from: Option<DateTime<Utc>>,
    /// Reminder before.
    #[serde(default, deserialize_with = "parsed")]
    pub reminder_to: Option<DateTime<Utc>>,
    /// Created at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    #[serde(default, deserialize_with = "parsed")]
    pub created_to: Option<DateTime<Utc>>,
    /// Changed at or after.
    #[serde(default, deserialize_with = "parsed")]
    pub updated_from: Option<DateTime<Utc>>,
    /// Changed before.
    #[serde(default, deserialize_with = "parsed")]
    pub updated_to: Option<DateTime<Utc>>,
    /// Order by a date, oldest first, or newest first after `-`
    /// (`-scheduled_at`); calls without that date are not listed. Default:
    /// creation order.
    #[param(pattern = "^-?(scheduled_at|reminder_at|created_at|updated_at)$")]
    pub sort: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
    /// The caller's staff id, for `me`.
    #[serde(skip)]
    #[param(ignore)]
    pub me: Uuid,
}

impl Filter<Entity> for Filters {
    fn bind_caller(&mut self, who: &Principal) {
        self.me = who.staff_id();
        if self.navigator.as_deref().map(str::trim) == Some("me") {
            self.navigator = None;
            self.navigator_id = Some(Someone::Me);
        }
    }

    fn page(&self) -> &PageParams {
        &self.page
    }

    fn order(&self) -> ApiResult<Option<DateOrder<table::Column>>> {
        use table::Column::*;
        common::date_order(
            self.sort.as_deref(),
            &[
                ("scheduled_at", ScheduledAt),
                ("reminder_at", ReminderAt),
                ("created_at", CreatedAt),
                ("updated_at", UpdatedAt),
            ],
        )
    }

    fn select(self, mut select: Select<Entity>) -> ApiResult<Select<Entity>> {
        if let Some(id) = self.patient_id {
            select = select.filter(table::Column::PatientId.eq(id));
        }
        if let Some(status) = self.status {
            select = select.filter(table::Column::Status.eq(status));
        }
        if let Some(navigator) = self.navigator {
            select = select.filter(table::Column::Navigator.eq(navigator.trim()));
        }
        if let Some(someone) = self.navigator_id {
            select = select.filter(table::Column::NavigatorId.eq(someone.id(self.me)));
        }
        if let Some(from) = self.scheduled_from {
            select = select.filter(table::Column::ScheduledAt.gte(from));
        }
        if let Some(to) = self.scheduled_to {
            select = select.filter(table::Column::ScheduledAt.lt(to));
        }
        if self.reminder_due == Some(true) {
            select = select
                .filter(table::Column::Status.eq(CallStatus::Scheduled))
                .filter(table::Column::ReminderAt.lte(Utc::now()));
        }
        let (reminder, created, updated) = (
            table::Column::ReminderAt,
            table::Column::CreatedAt,
            table::Column::UpdatedAt,
        );
        select = common::between(select, reminder, self.reminder_from, self.reminder_to);
        select = common::between(select, created, self.created_from, self.created_to);
        select = common::between(select, updated, self.updated_from, self.updated_to);
        Ok(select)
    }
}
