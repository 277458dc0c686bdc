//! `/v1/intake-submissions`: the web forms' entry point. Creating is public;
//! reading needs a sign-in. A submission is stored whole (the body as
//! received) and never changed; it joins the person with the same
//! normalised email or creates a lead, fills only that person's empty
//! fields, and books a call when it asks for one.
//!
//! Anonymous callers get a receipt that is the same whether the email was
//! known or not; navigators and admins (a navigator taking an intake by phone)
//! also learn which patient it joined and whether that patient is new.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    TryInsertResult,
    prelude::Uuid,
    sea_query::{Expr, ExprTrait, Func},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common;
use crate::{
    db::{
        self,
        entities::{
            call, intake_submission as table, intake_submission::Entity, medical_condition, patient,
        },
        store,
    },
    domain::{CallStatus, Channel, Email, Name, PatientStatus, Phone, PractitionerKind},
    http::{
        ApiError, ApiResult, AppState,
        auth::MaybePrincipal,
        extract::{ApiJson, BodyDigest},
        idempotency::{ANONYMOUS, Created, Idempotency, IdempotencyKeyHeader},
        versioning::Versioned,
    },
};

const TAG: &str = "intake-submissions";

crate::view! {
    /// A stored submission.
    pub struct View as IntakeSubmission: etag, about patient_id {
        operational id: Uuid,
        /// The person it joined or created.
        operational patient_id: Uuid,
        operational channel: Channel,
        personal first_name: Option<String>,
        personal last_name: Option<String>,
        /// Null only once erased.
        personal email: Option<String>,
        personal phone: Option<String>,
        /// The condition it named, when that matched a known one.
        health medical_condition_id: Option<Uuid>,
        /// The condition as typed.
        health medical_condition: Option<String>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational requested_call_at: Option<DateTime<Utc>>,
        /// The body exactly as received.
        #[schema(value_type = Object)]
        health payload: serde_json::Value,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational submitted_at: DateTime<Utc>,
        /// Always 1: submissions never change.
        operational version: i32,
    }
}

impl From<table::Model> for View {
    fn from(m: table::Model) -> Self {
        Self {
            id: m.id,
            patient_id: m.patient_id,
            channel: m.channel,
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            medical_condition_id: m.medical_condition_id,
            medical_condition: m.medical_condition_text,
            requested_call_at: m.requested_call_at,
            payload: m.payload,
            submitted_at: m.submitted_at,
            version: 1,
        }
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "intake-submissions",
        also: [create_intake_submission];
    /// List submissions (signed in).
    list_intake_submissions: list(Filters) for "viewer";
    /// Read a submission (signed in).
    get_intake_submission: read for "viewer";
}

/// A form submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewIntakeSubmission)]
pub struct Create {
    pub email: Email,
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub phone: Option<Phone>,
    /// A medical condition's id, or its name or abbreviation as typed.
    pub medical_condition: Option<Name>,
    /// Which form (default `contact_form`; `legacy_import` is refused).
    pub channel: Option<Channel>,
    /// When the person asked to be called; books a scheduled call.
    pub requested_call_at: Option<DateTime<Utc>>,
}

/// What an anonymous submitter learns: that it was received.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IntakeReceipt)]
pub struct Receipt {
    pub id: Uuid,
    #[serde(serialize_with = "crate::http::timestamp::serialize")]
    pub submitted_at: DateTime<Utc>,
    /// Only for navigators and admins: the person it joined or created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
    /// Only for navigators and admins: whether that person is new (which
    /// tells whether the email was known: personal data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_created: Option<bool>,
}

impl Versioned for Receipt {
    fn version(&self) -> i32 {
        1
    }
}

crate::list_filters! {
    entity: Entity, dates {
        submitted_at (submitted_from, submitted_to): table::Column::SubmittedAt,
    };
    /// Submissions of this person.
    patient_id: Uuid => eq table::Column::PatientId;
    /// From this form.
    channel: Channel => eq table::Column::Channel;
}

/// Submit a form (public). A bearer token is optional; with one, the
/// receipt also names the patient.
#[utoipa::path(post, path = "/v1/intake-submissions", tag = TAG, params(IdempotencyKeyHeader), request_body = Create,
    responses((status = 201, body = Receipt, headers(("Location" = String), ("ETag" = String))),
        (status = 413, description = "The body is larger than 16 KiB (this public form's cap)",
            content_type = "application/problem+json", body = crate::http::error::Problem),
        (status = 429, description = "Too many submissions from this client (IP address): a burst of 30, then one per second by default",
            content_type = "application/problem+json", body = crate::http::error::Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before submitting again")))),
    security((), ("bearer" = [])))]
async fn create_intake_submission(
    State(state): State<AppState>,
    MaybePrincipal(who): MaybePrincipal,
    idempotency: Idempotency,
    ApiJson(body, raw): ApiJson<Create>,
) -> ApiResult<Response> {
    if body.channel == Some(Channel::LegacyImport) {
        return Err(ApiError::invalid(
            "/channel",
            "legacy_import is reserved for the importer",
        ));
    }
    let actor = who.as_ref().map_or(ANONYMOUS, |p| p.subject.as_str());
    // Whether the email was known is personal data: not for a viewer.
    let signed_in = who
        .as_ref()
        .is_some_and(|p| super::declare::Class::Personal.readable_by(p.role));
    let condition = resolve_condition(&state, body.medical_condition.as_ref()).await?;
    // Two first submissions for one email can race (PostgreSQL): the loser
    // of the unique email sees the winner's lead on its retry.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match submit(
            &state,
            actor,
            signed_in,
            &idempotency,
            &raw,
            &body,
            condition,
        )
        .await
        {
            Err(Retry) if attempt < 5 => continue,
            Err(Retry) => {
                return Err(ApiError::Conflict(
                    "The submission collided with concurrent changes; retry it.".into(),
                ));
            }
            Ok(result) => {
                let response = result?;
                // A navigator's receipt names the patient it joined.
                return match &who {
                    Some(who) if signed_in => {
                        let disclosed =
                            common::disclosed_by_body(who, Some("patient_id"), response).await?;
                        Ok(disclosed.into_response())
                    }
                    _ => Ok(response),
                };
            }
        }
    }
}

struct Retry;

async fn submit(
    state: &AppState,
    actor: &str,
    signed_in: bool,
    idempotency: &Idempotency,
    raw: &BodyDigest,
    body: &Create,
    condition: Option<Uuid>,
) -> Result<ApiResult<Response>, Retry> {
    let tx = match db::begin_write(&state.db).await {
        Ok(tx) => tx,
        Err(err) => return Ok(Err(err.into())),
    };
    let outcome = async {
        if let Some(replayed) = idempotency.replay(&tx, actor, raw).await? {
            return Ok(Ok(replayed));
        }
        let now = Utc::now();
        let (patient, created) = match join_or_create(&tx, actor, body, condition, now).await {
            Ok(found) => found,
            Err(JoinError::Retry) => return Ok(Err(Retry)),
            Err(JoinError::Api(err)) => return Err(err),
        };
        let payload =
            serde_json::from_slice(&raw.bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
        let submission = store::insert::<Entity>(
            &tx,
            actor,
            table::ActiveModel {
                id: Set(Uuid::now_v7()),
                patient_id: Set(patient.id),
                channel: Set(body.channel.unwrap_or(Channel::ContactForm)),
                first_name: Set(body.first_name.clone().map(Into::into)),
                last_name: Set(body.last_name.clone().map(Into::into)),
                email: Set(Some(body.email.as_str().to_owned())),
                phone: Set(body.phone.clone().map(Into::into)),
                medical_condition_id: Set(condition),
                medical_condition_text: Set(body.medical_condition.clone().map(Into::into)),
                requested_call_at: Set(body.requested_call_at),
                payload: Set(payload),
                submitted_at: Set(now),
                erased_at: Set(None),
            },
        )
        .await?;
        if let Some(at) = body.requested_call_at {
            store::insert::<call::Entity>(
                &tx,
                actor,
                call::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    patient_id: Set(patient.id),
                    navigator: Set(None),
                    navigator_id: Set(None),
                    scheduled_at: Set(at),
                    reminder_at: Set(None),
                    status: Set(CallStatus::Scheduled),
                    notes: Set(None),
                    version: Set(1),
                    created_at: Set(now),
                    updated_at: Set(now),
                },
            )
            .await?;
        }
        let receipt = Receipt {
            id: submission.id,
            submitted_at: submission.submitted_at,
            patient_id: signed_in.then_some(patient.id),
            patient_created: signed_in.then_some(created),
        };
        let location = format!("/v1/intake-submissions/{}", submission.id);
        let response = idempotency
            .respond(&tx, actor, Created::new(location, 1, &receipt)?)
            .await?;
        Ok::<_, ApiError>(Ok(response))
    }
    .await;
    match outcome {
        Ok(Ok(response)) => match tx.commit().await {
            Ok(()) => Ok(Ok(response)),
            Err(err) => Ok(Err(err.into())),
        },
        Ok(Err(Retry)) => Err(Retry),
        Err(err) => Ok(Err(err)),
    }
}

enum JoinError {
    Retry,
    Api(ApiError),
}

impl From<sea_orm::DbErr> for JoinError {
    fn from(err: sea_orm::DbErr) -> Self {
        JoinError::Api(err.into())
    }
}

impl From<store::StoreError> for JoinError {
    fn from(err: store::StoreError) -> Self {
        match err {
            store::StoreError::Stale => JoinError::Retry,
            other => JoinError::Api(other.into()),
        }
    }
}

/// The person with this email, or a new lead; a known person's empty fields
/// are filled from the submission and curated ones are left alone.
async fn join_or_create(
    tx: &impl ConnectionTrait,
    actor: &str,
    body: &Create,
    condition: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(patient::Model, bool), JoinError> {
    let lead = patient::ActiveModel {
        id: Set(Uuid::now_v7()),
        status: Set(PatientStatus::Lead),
        first_name: Set(body.first_name.clone().map(Into::into)),
        last_name: Set(body.last_name.clone().map(Into::into)),
        email: Set(Some(body.email.as_str().to_owned())),
        phone: Set(body.phone.clone().map(Into::into)),
        medical_condition_id: Set(condition),
        physician_id: Set(None),
        physician_kind: Set(PractitionerKind::Physician),
        first_contact_at: Set(Some(now)),
        initial_consult_at: Set(None),
        converted_at: Set(None),
        erased_at: Set(None),
        owner_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    // Insert-or-nothing on the unique email: atomic on both databases, so
    // concurrent first submissions make exactly one lead.
    let inserted = patient::Entity::insert(lead.clone())
        .on_conflict_do_nothing_on([patient::Column::Email])
        .exec_without_returning(tx)
        .await?;
    let existing = patient::Entity::find()
        .filter(patient::Column::Email.eq(body.email.as_str()))
        .one(tx)
        .await?
        .ok_or(JoinError::Retry)?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        let created = serde_json::to_value(&existing).unwrap_or_default();
        store::index_terms::<patient::Entity>(tx, existing.id, None, Some(&created)).await?;
        let changes = store::diff(None, Some(&created));
        store::record_history(tx, "patients", existing.id, 1, "create", actor, changes).await?;
        return Ok((existing, true));
    }
    let mut fill = existing.clone().into_active_model();
    let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
    if empty(&existing.first_name) && body.first_name.is_some() {
        fill.first_name = Set(body.first_name.clone().map(Into::into));
    }
    if empty(&existing.last_name) && body.last_name.is_some() {
        fill.last_name = Set(body.last_name.clone().map(Into::into));
    }
    if empty(&existing.phone) && body.phone.is_some() {
        fill.phone = Set(body.phone.clone().map(Into::into));
    }
    if existing.medical_condition_id.is_none() && condition.is_some() {
        fill.medical_condition_id = Set(condition);
    }
    let updated = store::update::<patient::Entity>(tx, actor, &existing, fill).await?;
    Ok((updated, false))
}

/// A condition named by id, name or abbreviation (case-insensitive); an
/// unknown one is kept as typed, with no id.
async fn resolve_condition(state: &AppState, named: Option<&Name>) -> ApiResult<Option<Uuid>> {
    let Some(named) = named else { return Ok(None) };
    let text = named.as_str();
    let by_id = Uuid::parse_str(text).ok();
    let mut condition = Condition::any()
        .add(
            Expr::expr(Func::lower(Expr::col(medical_condition::Column::Name)))
                .eq(text.to_lowercase()),
        )
        .add(medical_condition::Column::Abbreviation.eq(text.to_uppercase()));
    if let Some(id) = by_id {
        condition = condition.add(medical_condition::Column::Id.eq(id));
    }
    let found = medical_condition::Entity::find()
        .filter(condition)
        .one(&state.db)
        .await?;
    Ok(found.map(|c| c.id))
}
