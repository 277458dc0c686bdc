//! `/v1/patients`: one record per person, lead or patient. The status is
//! read-only here: it changes only through conversion. A person must stay
//! reachable (email or phone), their email is unique (normalised), and their
//! physician must be a practitioner of kind physician.

use axum::extract::State;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    prelude::Uuid,
    sea_query::{Expr, ExprTrait, Query, SimpleExpr},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    common::{self, Change, NewRecord, References, Someone, Writes},
    declare::Shown,
};
use crate::{
    db::entities::{
        call, eap_enrollment, intake_submission,
        patient::{self as table, Entity},
        practitioner, staff, trial_referral,
    },
    domain::{CallStatus, Email, Name, PatientStatus, Phone, PractitionerKind},
    http::{
        ApiError, ApiResult, AppState,
        access_log::Disclosed,
        auth::{Caller, Navigator, Viewer},
        extract::{ApiPath, ApiQuery},
        pagination::NoOtherParams,
        versioning::{IfMatch, IfMatchHeader, Tagged, Versioned},
    },
};

const TAG: &str = "patients";

crate::view! {
    /// A lead or patient.
    pub struct View as Patient from table::Model: versioned, about id {
        operational id: Uuid,
        operational status: PatientStatus,
        personal first_name: Option<String>,
        personal last_name: Option<String>,
        personal email: Option<String>,
        personal phone: Option<String>,
        /// Which disease the person has: data concerning health.
        health medical_condition_id: Option<Uuid>,
        operational physician_id: Option<Uuid>,
        /// The navigator responsible for the person (staff).
        operational owner_id: Option<Uuid>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational first_contact_at: Option<DateTime<Utc>>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational initial_consult_at: Option<DateTime<Utc>>,
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational converted_at: Option<DateTime<Utc>>,
        /// When the person's personal data was erased; the record then keeps
        /// only ids, statuses and dates, and takes no personal data.
        #[serde(serialize_with = "crate::http::timestamp::serialize")]
        operational erased_at: Option<DateTime<Utc>>,
    }
}

crate::resource_routes! {
    entity: Entity, view: View, tag: TAG, collection: "patients",
        also: [get_patient, convert_patient];
    /// List leads and patients. Filtering by `email` or `q` (name) needs the
    /// navigator role: it would tell a viewer whether a person is a patient.
    list_patients: list(Filters) for "viewer";
    /// Create a lead (navigator).
    create_patient: create(Create) for "navigator";
    /// Change a lead or patient (navigator).
    update_patient: update(Patch) for "navigator";
    /// Delete a lead or patient (admin); 409 while calls, submissions,
    /// referrals or enrollments refer to them.
    delete_patient: delete for "admin";
    /// A lead's or patient's history.
    get_patient_history: history for "navigator";
}

/// A new lead (email or phone required). Status and conversion are not
/// set here: every person starts as a lead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPatient)]
pub struct Create {
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub medical_condition_id: Option<Uuid>,
    pub physician_id: Option<Uuid>,
    /// The navigator responsible for the person (staff).
    pub owner_id: Option<Uuid>,
    pub first_contact_at: Option<DateTime<Utc>>,
    pub initial_consult_at: Option<DateTime<Utc>>,
}

impl NewRecord<Entity> for Create {
    async fn into_row(self, state: &AppState) -> ApiResult<(table::ActiveModel, References<'_>)> {
        if self.email.is_none() && self.phone.is_none() {
            return Err(ApiError::invalid(
                "/email",
                "an email or a phone number is required",
            ));
        }
        let refs = references(
            state,
            self.medical_condition_id,
            self.physician_id,
            self.owner_id,
        );
        let row = table::ActiveModel {
            status: Set(PatientStatus::Lead),
            first_name: Set(self.first_name.map(Into::into)),
            last_name: Set(self.last_name.map(Into::into)),
            email: Set(self.email.map(Into::into)),
            phone: Set(self.phone.map(Into::into)),
            medical_condition_id: Set(self.medical_condition_id),
            physician_id: Set(self.physician_id),
            physician_kind: Set(PractitionerKind::Physician),
            first_contact_at: Set(Some(self.first_contact_at.unwrap_or_else(Utc::now))),
            owner_id: Set(self.owner_id),
            initial_consult_at: Set(self.initial_consult_at),
            converted_at: Set(None),
            erased_at: Set(None),
            ..crate::db::store::new_row::<Entity>()
        };
        Ok((row, refs))
    }
}

/// What a lead's body names, checked only when the database refuses it: its
/// medical condition, its physician (who must be one) and its owner.
fn references(
    state: &AppState,
    condition: Option<Uuid>,
    physician: Option<Uuid>,
    owner: Option<Uuid>,
) -> References<'_> {
    Box::pin(async move {
        common::condition(state, condition).await?;
        common::physician(state, "/physician_id", physician).await?;
        common::exists::<staff::Entity>(state, "/owner_id", owner).await
    })
}

crate::changes! {
    /// Changes to a lead or patient; `null` clears a field.
    pub struct Patch as PatientPatch for Entity {
        first_name: Name | null,
        last_name: Name | null,
        email: Email | null,
        phone: Phone | null,
        medical_condition_id: Uuid | null,
        physician_id: Uuid | null,
        /// Reassigns the person to another navigator (staff), or to none.
        owner_id: Uuid | null,
        first_contact_at: DateTime<Utc> | null,
        initial_consult_at: DateTime<Utc> | null,
    }
}

crate::list_filters! {
    entity: Entity, versioned, dates {
        first_contact_at (first_contact_from, first_contact_to): table::Column::FirstContactAt,
        initial_consult_at (initial_consult_from, initial_consult_to): table::Column::InitialConsultAt,
        converted_at (converted_from, converted_to): table::Column::ConvertedAt,
    };
    /// Leads or patients.
    status: PatientStatus => eq table::Column::Status;
    /// Exact email (trimmed, case-insensitive); navigator and above.
    email: String => eq table::Column::Email | common::email, reads(email);
    /// With this medical condition; navigator and above.
    medical_condition_id: Uuid => eq table::Column::MedicalConditionId,
        reads(medical_condition_id);
    /// With this physician.
    physician_id: Uuid => eq table::Column::PhysicianId;
    /// Owned by this member of staff: an id, or `me`.
    #[param(inline)]
    owner_id: Someone => someone table::Column::OwnerId;
    /// `false`: only people with no call booked (none `scheduled`), the
    /// leads to call; `true`: only those with one.
    call_booked: bool => with call_booked;
    /// `false`: only people without a physician (with `status=patient`:
    /// converted patients waiting for one); `true`: only those with one.
    has_physician: bool => present table::Column::PhysicianId;
    /// Search: every word must start a word of the first or last name, the
    /// email or the phone number (case and accents do not matter: `muller`
    /// finds `Müller`); navigator and above.
    #[param(max_length = 200)]
    q: String => search, reads(first_name, last_name, email, phone);
}

/// `call_booked=`: whether the person has a scheduled call. Correlated, so
/// that each candidate is one probe of `ix_calls_patient` rather than a
/// pass over every booked call.
fn call_booked(booked: bool, _: Uuid) -> SimpleExpr {
    let scheduled = Query::select()
        .expr(Expr::val(1))
        .from(call::Entity)
        .and_where(
            Expr::col((call::Entity, call::Column::PatientId)).equals((Entity, table::Column::Id)),
        )
        .and_where(
            Expr::col((call::Entity, call::Column::Status)).eq(CallStatus::Scheduled.as_str()),
        )
        .take();
    let exists = Expr::exists(scheduled);
    if booked { exists } else { exists.not() }
}

impl Change<Entity> for Patch {
    fn references<'a>(&self, state: &'a AppState) -> References<'a> {
        references(
            state,
            self.medical_condition_id.flatten(),
            self.physician_id.flatten(),
            self.owner_id.flatten(),
        )
    }

    fn apply(self, current: &table::Model, m: &mut table::ActiveModel) -> ApiResult<()> {
        if current.erased_at.is_some() {
            return Err(ApiError::Conflict(
                "This person's personal data was erased; the record takes no changes.".into(),
            ));
        }
        let email = self
            .email
            .as_ref()
            .map_or(current.email.is_some(), Option::is_some);
        let phone = self
            .phone
            .as_ref()
            .map_or(current.phone.is_some(), Option::is_some);
        if !email && !phone {
            return Err(ApiError::invalid(
                "/email",
                "an email or a phone number is required",
            ));
        }
        self.write(m);
        Ok(())
    }
}

/// What `include=` may name on a patient's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Include {
    Calls,
    Submissions,
    Referrals,
    Enrollments,
    Physician,
}

/// The most names `include=` may list (each is read once, however often
/// it is named).
const MAX_INCLUDES: usize = 10;

/// Parameters of a patient's read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadParams {
    /// Related records to embed, comma-separated: `calls`, `submissions`,
    /// `referrals`, `enrollments`, `physician` (up to 200 of each, oldest
    /// first); at most 10 names.
    #[param(
        pattern = "^(calls|submissions|referrals|enrollments|physician)(,(calls|submissions|referrals|enrollments|physician)){0,9}$"
    )]
    pub include: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

impl ReadParams {
    /// Each related collection once, however often it is named: a page
    /// reads at most one list of each.
    fn includes(&self) -> ApiResult<std::collections::BTreeSet<Include>> {
        let Some(list) = &self.include else {
            return Ok(Default::default());
        };
        if list.split(',').count() > MAX_INCLUDES {
            return Err(ApiError::BadRequest(
                "The query string is invalid.".into(),
                vec![crate::http::error::FieldError::new(
                    "include",
                    "may name at most 10 related collections",
                )],
            ));
        }
        list.split(',')
            .map(|name| match name.trim() {
                "calls" => Ok(Include::Calls),
                "submissions" => Ok(Include::Submissions),
                "referrals" => Ok(Include::Referrals),
                "enrollments" => Ok(Include::Enrollments),
                "physician" => Ok(Include::Physician),
                _ => Err(ApiError::BadRequest(
                    "The query string is invalid.".into(),
                    vec![crate::http::error::FieldError::new(
                        "include",
                        "may name only calls, submissions, referrals, enrollments, physician",
                    )],
                )),
            })
            .collect()
    }
}

/// A patient with the related records `include=` asked for: a portal's
/// whole patient page in one request. Each record is shown as the caller's
/// role may see it, by its own declaration.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PatientWithIncludes)]
pub struct WithIncludes {
    #[serde(flatten)]
    #[schema(value_type = View)]
    pub patient: Shown<View>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::calls::View>>)]
    pub calls: Option<Vec<Shown<super::calls::View>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::intake_submissions::View>>)]
    pub submissions: Option<Vec<Shown<super::intake_submissions::View>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::trial_referrals::View>>)]
    pub referrals: Option<Vec<Shown<super::trial_referrals::View>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::eap_enrollments::View>>)]
    pub enrollments: Option<Vec<Shown<super::eap_enrollments::View>>>,
    /// The physician, or null when the patient has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Option<super::practitioners::View>>)]
    pub physician: Option<Option<Shown<super::practitioners::View>>>,
}

impl Versioned for WithIncludes {
    fn version(&self) -> i32 {
        self.patient.version()
    }
}

/// Up to 200 of a patient's related records, oldest first, as `who` may
/// see them; adds the patients they disclose to `disclosed`.
async fn related<E, V>(
    state: &AppState,
    who: &crate::http::Principal,
    column: E::Column,
    patient_id: Uuid,
    disclosed: &mut Vec<Uuid>,
) -> ApiResult<Option<Vec<Shown<V>>>>
where
    E: crate::db::store::Record,
    E::Model: Sync,
    V: From<E::Model> + super::declare::Declared,
{
    let page = crate::db::store::PageRequest {
        limit: 200,
        after: None,
        count: false,
    };
    let listed =
        crate::db::store::list(&state.db, E::find().filter(column.eq(patient_id)), page).await?;
    let (shown, patients) = common::shown_all(who, listed.items);
    disclosed.extend(patients);
    Ok(Some(shown))
}

/// Read a lead or patient, with `include=` their calls, submissions,
/// referrals, enrollments and physician.
#[utoipa::path(get, path = "/v1/patients/{id}", tag = TAG, params(("id" = Uuid, Path), ReadParams),
    responses((status = 200, body = WithIncludes, headers(("ETag" = String)))), security(("bearer" = ["viewer"])))]
async fn get_patient(
    State(state): State<AppState>,
    who: Caller<Viewer>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> ApiResult<Disclosed<Tagged<WithIncludes>>> {
    let includes = params.includes()?;
    let patient = Shown::new(
        View::from(crate::db::store::find::<Entity>(&state.db, id).await?),
        who.role,
    );
    let mut disclosed: Vec<Uuid> = patient.disclosed_patient().into_iter().collect();
    let mut page = WithIncludes {
        patient,
        calls: None,
        submissions: None,
        referrals: None,
        enrollments: None,
        physician: None,
    };
    let d = &mut disclosed;
    for include in includes {
        match include {
            Include::Calls => {
                page.calls =
                    related::<call::Entity, _>(&state, &who, call::Column::PatientId, id, d)
                        .await?;
            }
            Include::Submissions => {
                let column = intake_submission::Column::PatientId;
                page.submissions =
                    related::<intake_submission::Entity, _>(&state, &who, column, id, d).await?;
            }
            Include::Referrals => {
                let column = trial_referral::Column::PatientId;
                page.referrals =
                    related::<trial_referral::Entity, _>(&state, &who, column, id, d).await?;
            }
            Include::Enrollments => {
                let column = eap_enrollment::Column::PatientId;
                page.enrollments =
                    related::<eap_enrollment::Entity, _>(&state, &who, column, id, d).await?;
            }
            Include::Physician => {
                let physician = match page.patient.view().physician_id {
                    Some(pid) => practitioner::Entity::find_by_id(pid)
                        .one(&state.db)
                        .await?
                        .map(|p| Shown::new(p.into(), who.role)),
                    None => None,
                };
                page.physician = Some(physician);
            }
        }
    }
    disclosed.sort_unstable();
    disclosed.dedup();
    Ok(Disclosed::new(&who, disclosed, Tagged(page)))
}

/// Convert a lead into a patient (navigator), after at least one completed
/// call. Sets `converted_at` and, if empty, `initial_consult_at` from the
/// earliest completed call. A second conversion is a 409.
#[utoipa::path(post, path = "/v1/patients/{id}/convert", tag = TAG, params(("id" = Uuid, Path), IfMatchHeader),
    responses((status = 200, description = "Converted", body = View, headers(("ETag" = String)))), security(("bearer" = ["navigator"])))]
async fn convert_patient(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<Disclosed<Tagged<Shown<View>>>> {
    let tx = crate::db::begin_write(&state.db).await?;
    let current = crate::db::store::find_for_update::<Entity>(&tx, id).await?;
    if_match.check(current.version)?;
    if current.status == PatientStatus::Patient {
        return Err(ApiError::Conflict(
            "The patient is already converted.".into(),
        ));
    }
    let first_completed = call::Entity::find()
        .filter(call::Column::PatientId.eq(id))
        .filter(call::Column::Status.eq(CallStatus::Completed.as_str()))
        .order_by_asc(call::Column::ScheduledAt)
        .one(&tx)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict("A lead is converted only after at least one completed call.".into())
        })?;
    let mut changes = current.clone().into_active_model();
    changes.status = Set(PatientStatus::Patient);
    changes.converted_at = Set(Some(Utc::now()));
    if current.initial_consult_at.is_none() {
        changes.initial_consult_at = Set(Some(first_completed.scheduled_at));
    }
    // The row is locked since it was read: a concurrent conversion waits,
    // then finds the patient converted (409 above).
    let converted =
        crate::db::store::update::<Entity>(&tx, &who.subject, &current, changes).await?;
    tx.commit().await?;
    Ok(common::shown(&who, View::from(converted)))
}
