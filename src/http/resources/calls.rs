//! `/v1/calls`: every booking with a lead or patient, kept with its outcome.
//! A call that happened (completed) or was missed (no-show) cannot go back
//! to scheduled; navigators cancel, only admins delete.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, prelude::Uuid, sea_query::SimpleExpr};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, Someone, Writes};
use crate::{
    db::entities::{
        call::{self as table, Entity},
        patient, staff,
    },
    domain::{CallStatus, Name, Text},
    http::{ApiError, ApiResult, AppState},
};

const TAG: &str = "calls";

crate::view! {
    /// A call with a lead or patient.
    pub struct View as Call from table::Model: versioned, about patient_id {
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

crate::changes! {
    /// Changes to a call; the person it is with cannot change.
    pub struct Patch as CallPatch for Entity {
        navigator: Name | null,
        /// Reassigns the call to another navigator (staff), or to none.
        navigator_id: Uuid | null,
        scheduled_at: DateTime<Utc>,
        reminder_at: DateTime<Utc> | null,
        status: CallStatus,
        notes: Text | null,
    }
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
        self.write(m);
        Ok(())
    }
}

crate::list_filters! {
    entity: Entity, versioned, dates {
        scheduled_at (scheduled_from, scheduled_to): table::Column::ScheduledAt,
        reminder_at (reminder_from, reminder_to): table::Column::ReminderAt,
    };
    /// Calls with this person.
    patient_id: Uuid => eq table::Column::PatientId;
    /// With this status.
    status: CallStatus => eq table::Column::Status;
    /// Held by this navigator: `me` (the caller's calls, by `navigator_id`)
    /// or the legacy free-text name exactly.
    navigator: String => with held_by;
    /// Held by this member of staff: an id, or `me`.
    #[param(inline)]
    navigator_id: Someone => someone table::Column::NavigatorId;
    /// Reminders due: `true` lists the scheduled calls whose `reminder_at`
    /// has passed (completed, missed and cancelled calls need none);
    /// `false` filters nothing.
    reminder_due: bool => with reminders_due;
}

/// `navigator=`: `me` is the caller (by staff id); any other name is the
/// CRM's free text.
fn held_by(name: String, me: Uuid) -> SimpleExpr {
    match name.trim() {
        "me" => table::Column::NavigatorId.eq(me),
        name => table::Column::Navigator.eq(name),
    }
}

/// `reminder_due=true`: scheduled calls whose reminder time has passed.
fn reminders_due(due: bool, _: Uuid) -> Condition {
    if !due {
        return Condition::all();
    }
    Condition::all()
        .add(table::Column::Status.eq(CallStatus::Scheduled))
        .add(table::Column::ReminderAt.lte(Utc::now()))
}
