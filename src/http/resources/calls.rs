//! `/v1/calls`: every booking with a lead or patient, kept with its outcome.
//! A call that happened (completed) or was missed (no-show) cannot go back
//! to scheduled; navigators cancel, only admins delete.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, prelude::Uuid};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{self, Change, NewRecord, References, nullable, present};
use crate::{
    db::entities::{
        call::{self as table, Entity},
        patient,
    },
    domain::{CallStatus, Name, Text},
    http::{ApiError, ApiResult, AppState},
    patch,
};

const TAG: &str = "calls";

crate::view! {
    /// A call with a lead or patient.
    pub struct View as Call: versioned, about patient_id {
        operational id: Uuid,
        operational patient_id: Uuid,
        /// The patient navigator who holds the call.
        operational navigator: Option<String>,
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
    pub scheduled_at: DateTime<Utc>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub status: Option<CallStatus>,
    pub notes: Option<Text>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        let refs = Box::pin(common::exists::<patient::Entity>(
            state,
            "/patient_id",
            Some(self.patient_id),
        ));
        let row = table::ActiveModel {
            patient_id: Set(self.patient_id),
            navigator: Set(self.navigator.map(Into::into)),
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
        patch!(m.scheduled_at = self.scheduled_at);
        patch!(m.reminder_at? = self.reminder_at);
        patch!(m.status = self.status);
        patch!(m.notes? = self.notes);
        Ok(())
    }
}

crate::list_filters! {
    entity: Entity;
    /// Calls with this person.
    patient_id: Uuid => eq table::Column::PatientId;
    /// With this status.
    status: CallStatus => eq table::Column::Status;
    /// Held by this navigator.
    navigator: String => eq table::Column::Navigator | common::trimmed;
    /// Scheduled at or after.
    #[serde(default, deserialize_with = "crate::http::pagination::parsed")]
    scheduled_from: DateTime<Utc> => from table::Column::ScheduledAt;
    /// Scheduled before.
    #[serde(default, deserialize_with = "crate::http::pagination::parsed")]
    scheduled_to: DateTime<Utc> => before table::Column::ScheduledAt;
}
