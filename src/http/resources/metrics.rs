//! `GET /v1/metrics/...`: the funnel as managers read it, per month and
//! medical condition, aggregated by the database (one query each, on
//! either backend). Counts and durations only: no personal data, so no
//! access-log entry, and viewers may read them.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, prelude::Uuid};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{Eligibility, EnrollmentStatus, ReferralOutcome},
    http::{
        ApiResult, AppState,
        auth::{Caller, Viewer},
        extract::ApiQuery,
        pagination::{NoOtherParams, parsed},
    },
};

const TAG: &str = "metrics";

/// The period a metric covers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// From this time (default: the beginning).
    #[serde(default, deserialize_with = "parsed")]
    pub from: Option<DateTime<Utc>>,
    /// Before this time (default: no end).
    #[serde(default, deserialize_with = "parsed")]
    pub to: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

impl Period {
    fn bounds(&self) -> [sea_orm::Value; 2] {
        let far = |years: i32| {
            DateTime::<Utc>::from_naive_utc_and_offset(
                chrono::NaiveDate::from_ymd_opt(years, 1, 1)
                    .unwrap_or_default()
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default(),
                Utc,
            )
        };
        [
            self.from.unwrap_or_else(|| far(1)).into(),
            self.to.unwrap_or_else(|| far(9999)).into(),
        ]
    }
}

/// The month of a timestamp column as `YYYY-MM` (UTC), on `backend`.
fn month(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"),
        _ => format!("strftime('%Y-%m', {column})"),
    }
}

/// Days from one timestamp column to another, fractional, on `backend`.
fn days(backend: DbBackend, from: &str, to: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("EXTRACT(EPOCH FROM ({to} - {from})) / 86400.0"),
        _ => format!("(julianday({to}) - julianday({from}))"),
    }
}

/// Leads of one month (of first contact) and condition, and what became
/// of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelRow {
    /// `YYYY-MM` of first contact (UTC).
    pub month: String,
    /// The medical condition; null: none recorded.
    pub medical_condition_id: Option<Uuid>,
    /// Leads first contacted that month.
    pub leads_created: i64,
    /// Of those, how many were converted (to date).
    pub leads_converted: i64,
    /// `leads_converted / leads_created`.
    pub conversion_rate: f64,
    /// Median days from first contact to conversion, of those converted.
    pub median_days_to_conversion: Option<f64>,
}

// Rows are ordered by month, then condition with none last (both
// databases put NULLs at different ends by default).

/// The funnel per month of first contact and medical condition: leads,
/// conversions, conversion rate, median days to conversion (viewer).
#[utoipa::path(get, path = "/v1/metrics/funnel", tag = TAG, params(Period),
    responses((status = 200, body = Vec<FunnelRow>)),
    security(("bearer" = ["viewer"])))]
pub async fn get_funnel_metrics(
    State(state): State<AppState>,
    _who: Caller<Viewer>,
    ApiQuery(period): ApiQuery<Period>,
) -> ApiResult<Json<Vec<FunnelRow>>> {
    let backend = state.db.get_database_backend();
    let (month, days) = (
        month(backend, "first_contact_at"),
        days(backend, "first_contact_at", "converted_at"),
    );
    // The median: the middle value, or the mean of the middle two, found by
    // numbering each group's durations in order.
    let sql = format!(
        "WITH cohort AS ( \
           SELECT {month} AS month, medical_condition_id AS condition, status, \
             CASE WHEN converted_at IS NOT NULL THEN {days} END AS days \
           FROM patients \
           WHERE first_contact_at >= $1 AND first_contact_at < $2), \
         ranked AS ( \
           SELECT month, condition, days, \
             ROW_NUMBER() OVER (PARTITION BY month, condition ORDER BY days) AS n, \
             COUNT(*) OVER (PARTITION BY month, condition) AS c \
           FROM cohort WHERE days IS NOT NULL), \
         medians AS ( \
           SELECT month, condition, CAST(AVG(days) AS DOUBLE PRECISION) AS median \
           FROM ranked WHERE n IN ((c + 1) / 2, (c + 2) / 2) GROUP BY month, condition) \
         SELECT k.month, k.condition, COUNT(*) AS leads, \
           SUM(CASE WHEN k.status = 'patient' THEN 1 ELSE 0 END) AS converted, m.median \
         FROM cohort k LEFT JOIN medians m \
           ON m.month = k.month AND m.condition IS NOT DISTINCT FROM k.condition \
         GROUP BY k.month, k.condition, m.median \
         ORDER BY k.month, k.condition IS NULL, k.condition"
    );
    aggregate(&state, &sql, &period, |row| {
        let leads: i64 = row.try_get_by_index(2)?;
        let converted: i64 = row.try_get_by_index(3)?;
        Ok(FunnelRow {
            month: row.try_get_by_index(0)?,
            medical_condition_id: row.try_get_by_index(1)?,
            leads_created: leads,
            leads_converted: converted,
            conversion_rate: if leads == 0 {
                0.0
            } else {
                converted as f64 / leads as f64
            },
            median_days_to_conversion: row.try_get_by_index(4)?,
        })
    })
    .await
}

/// Calls of one month and condition.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallsRow {
    /// `YYYY-MM` the calls were scheduled for (UTC).
    pub month: String,
    /// The medical condition of the people called; null: none recorded.
    pub medical_condition_id: Option<Uuid>,
    /// Calls that took place (`completed`).
    pub calls_held: i64,
    /// Calls the person missed (`no_show`).
    pub no_shows: i64,
    /// `no_shows / (calls_held + no_shows)`; null when neither.
    pub no_show_rate: Option<f64>,
}

/// Calls held and the no-show rate per month and medical condition
/// (viewer).
#[utoipa::path(get, path = "/v1/metrics/calls", tag = TAG, params(Period),
    responses((status = 200, body = Vec<CallsRow>)),
    security(("bearer" = ["viewer"])))]
pub async fn get_call_metrics(
    State(state): State<AppState>,
    _who: Caller<Viewer>,
    ApiQuery(period): ApiQuery<Period>,
) -> ApiResult<Json<Vec<CallsRow>>> {
    let backend = state.db.get_database_backend();
    let month = month(backend, "c.scheduled_at");
    let sql = format!(
        "SELECT {month} AS month, p.medical_condition_id AS condition, \
           SUM(CASE WHEN c.status = 'completed' THEN 1 ELSE 0 END) AS held, \
           SUM(CASE WHEN c.status = 'no_show' THEN 1 ELSE 0 END) AS missed \
         FROM calls c JOIN patients p ON p.id = c.patient_id \
         WHERE c.scheduled_at >= $1 AND c.scheduled_at < $2 \
         GROUP BY {month}, p.medical_condition_id \
         ORDER BY 1, p.medical_condition_id IS NULL, 2"
    );
    aggregate(&state, &sql, &period, |row| {
        let held: i64 = row.try_get_by_index(2)?;
        let missed: i64 = row.try_get_by_index(3)?;
        Ok(CallsRow {
            month: row.try_get_by_index(0)?,
            medical_condition_id: row.try_get_by_index(1)?,
            calls_held: held,
            no_shows: missed,
            no_show_rate: (held + missed > 0).then(|| missed as f64 / (held + missed) as f64),
        })
    })
    .await
}

/// Referrals of one month, condition, eligibility and outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralsRow {
    /// `YYYY-MM` the referral was recorded (UTC).
    pub month: String,
    /// The trial's medical condition; null: none recorded.
    pub medical_condition_id: Option<Uuid>,
    pub eligibility: Eligibility,
    pub outcome: ReferralOutcome,
    /// How many referrals.
    pub referrals: i64,
}

/// Referrals by eligibility and outcome, per month recorded and the
/// trial's medical condition (viewer).
#[utoipa::path(get, path = "/v1/metrics/referrals", tag = TAG, params(Period),
    responses((status = 200, body = Vec<ReferralsRow>)),
    security(("bearer" = ["viewer"])))]
pub async fn get_referral_metrics(
    State(state): State<AppState>,
    _who: Caller<Viewer>,
    ApiQuery(period): ApiQuery<Period>,
) -> ApiResult<Json<Vec<ReferralsRow>>> {
    let month = month(state.db.get_database_backend(), "r.created_at");
    let sql = format!(
        "SELECT {month} AS month, t.medical_condition_id AS condition, r.eligibility, \
           r.outcome, COUNT(*) AS n \
         FROM trial_referrals r JOIN clinical_trials t ON t.id = r.trial_id \
         WHERE r.created_at >= $1 AND r.created_at < $2 \
         GROUP BY {month}, t.medical_condition_id, r.eligibility, r.outcome \
         ORDER BY 1, t.medical_condition_id IS NULL, 2, 3, 4"
    );
    aggregate(&state, &sql, &period, |row| {
        let (eligibility, outcome): (String, String) =
            (row.try_get_by_index(2)?, row.try_get_by_index(3)?);
        Ok(ReferralsRow {
            month: row.try_get_by_index(0)?,
            medical_condition_id: row.try_get_by_index(1)?,
            eligibility: Eligibility::from_text(&eligibility).unwrap_or(Eligibility::Pending),
            outcome: ReferralOutcome::from_text(&outcome).unwrap_or(ReferralOutcome::Pending),
            referrals: row.try_get_by_index(4)?,
        })
    })
    .await
}

/// Enrollments of one month, condition and status.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentsRow {
    /// `YYYY-MM` the enrollment was recorded (UTC).
    pub month: String,
    /// The patient's medical condition; null: none recorded.
    pub medical_condition_id: Option<Uuid>,
    pub status: EnrollmentStatus,
    /// How many enrollments.
    pub enrollments: i64,
}

/// Enrollments by status, per month recorded and the patient's medical
/// condition (viewer).
#[utoipa::path(get, path = "/v1/metrics/enrollments", tag = TAG, params(Period),
    responses((status = 200, body = Vec<EnrollmentsRow>)),
    security(("bearer" = ["viewer"])))]
pub async fn get_enrollment_metrics(
    State(state): State<AppState>,
    _who: Caller<Viewer>,
    ApiQuery(period): ApiQuery<Period>,
) -> ApiResult<Json<Vec<EnrollmentsRow>>> {
    let month = month(state.db.get_database_backend(), "e.created_at");
    let sql = format!(
        "SELECT {month} AS month, p.medical_condition_id AS condition, e.status, COUNT(*) AS n \
         FROM eap_enrollments e JOIN patients p ON p.id = e.patient_id \
         WHERE e.created_at >= $1 AND e.created_at < $2 \
         GROUP BY {month}, p.medical_condition_id, e.status \
         ORDER BY 1, p.medical_condition_id IS NULL, 2, 3"
    );
    aggregate(&state, &sql, &period, |row| {
        let status: String = row.try_get_by_index(2)?;
        Ok(EnrollmentsRow {
            month: row.try_get_by_index(0)?,
            medical_condition_id: row.try_get_by_index(1)?,
            status: EnrollmentStatus::from_text(&status).unwrap_or(EnrollmentStatus::Pending),
            enrollments: row.try_get_by_index(3)?,
        })
    })
    .await
}

/// Runs an aggregate `sql` over `period` (its `$1` and `$2`, which SQLite
/// also reads as the first and second values) and reads each row.
async fn aggregate<T>(
    state: &AppState,
    sql: &str,
    period: &Period,
    read: impl Fn(&QueryResult) -> Result<T, DbErr>,
) -> ApiResult<Json<Vec<T>>> {
    let backend = state.db.get_database_backend();
    let statement = Statement::from_sql_and_values(backend, sql, period.bounds());
    let rows = state.db.query_all_raw(statement).await?;
    let read: Result<Vec<T>, DbErr> = rows.iter().map(read).collect();
    Ok(Json(read?))
}

crate::handler_routes!(
    get_funnel_metrics,
    get_call_metrics,
    get_referral_metrics,
    get_enrollment_metrics,
);
