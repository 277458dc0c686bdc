//! `GET /v1/metrics/...`: the funnel as managers read it, per month and
//! medical condition, aggregated by the database (one query each, the same
//! on either backend) from the summary its triggers keep in the
//! transaction of every write (`metric_counts`, `metric_durations`:
//! migration 9), so a figure costs the months asked for, not the table's
//! size. Counts and durations only: no personal data, so no access-log
//! entry, and viewers may read them.

use axum::{Json, extract::State};
use std::collections::HashMap;

use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, IsolationLevel, QueryResult, Statement,
    TransactionTrait, prelude::Uuid,
};
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

/// A calendar month, `YYYY-MM` (UTC): the metrics' unit of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month(String);

impl std::str::FromStr for Month {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = text.len() == 7
            && text.as_bytes()[4] == b'-'
            && text[..4].bytes().all(|b| b.is_ascii_digit())
            && matches!(text[5..].parse::<u8>(), Ok(1..=12));
        if valid {
            Ok(Month(text.to_owned()))
        } else {
            Err("a month, YYYY-MM")
        }
    }
}

/// The months a metric covers, both included: the summary is kept per
/// month, so a period is whole months.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// From this month, `YYYY-MM` (default: the first).
    #[serde(default, deserialize_with = "parsed")]
    #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-01")]
    pub from: Option<Month>,
    /// Through this month, included, `YYYY-MM` (default: the last).
    #[serde(default, deserialize_with = "parsed")]
    #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-12")]
    pub to: Option<Month>,
    #[serde(flatten)]
    #[param(ignore)]
    pub rest: NoOtherParams,
}

impl Period {
    /// `$1` and `$2` of each query: the first and last month, as text
    /// (months compare as text in `YYYY-MM`); `$3`: the nil UUID, which
    /// stands for no condition in the summary, as each database stores a
    /// UUID.
    fn bounds(&self) -> [sea_orm::Value; 3] {
        let month = |m: &Option<Month>, default: &str| {
            m.as_ref()
                .map_or(default.to_owned(), |m| m.0.clone())
                .into()
        };
        [
            month(&self.from, "0000-00"),
            month(&self.to, "9999-99"),
            Uuid::nil().into(),
        ]
    }
}

/// A summary row's condition: the nil UUID stands for none (the summary's
/// key cannot be null).
fn condition(row: &QueryResult, index: usize) -> Result<Option<Uuid>, DbErr> {
    let id: Uuid = row.try_get_by_index(index)?;
    Ok((!id.is_nil()).then_some(id))
}

/// Rows of the summary of `metric` within the period, summed over its
/// shards per month, condition and `group` (`label` or nothing), with
/// `columns` (sums, cast because PostgreSQL sums a bigint as numeric);
/// groups that sum to nothing are left out.
/// Ordered by month, then condition with none last.
fn summed(metric: &str, columns: &str, group: &str) -> String {
    format!(
        "SELECT month, condition_id{group}, {columns} FROM metric_counts \
         WHERE metric = '{metric}' AND month >= $1 AND month <= $2 \
         GROUP BY month, condition_id{group} HAVING SUM(n) <> 0 \
         ORDER BY month, condition_id = $3, condition_id{group}"
    )
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
    /// Median days from conversion to the first trial referral or EAP
    /// enrollment (its `referred_at` or `enrolled_at`, else when it was
    /// recorded), of those converted and referred or enrolled.
    pub median_days_to_first_referral: Option<f64>,
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
    let counts = &summed(
        "leads",
        "CAST(SUM(n) AS BIGINT) AS leads, \
         CAST(SUM(CASE WHEN label = 'patient' THEN n ELSE 0 END) AS BIGINT) AS converted",
        "",
    );
    let backend = state.db.get_database_backend();
    // One snapshot for the counts and the medians (SQLite's deferred
    // transaction is one already).
    let tx = match backend {
        DbBackend::Postgres => {
            let (level, mode) = (IsolationLevel::RepeatableRead, AccessMode::ReadOnly);
            state.db.begin_with_config(Some(level), Some(mode)).await?
        }
        _ => state.db.begin().await?,
    };
    let statement = Statement::from_sql_and_values(backend, counts, period.bounds());
    let counts = tx.query_all_raw(statement).await?;
    let medians = medians(&tx, &period).await?;
    tx.commit().await?;
    let median = |metric: &str, month: &str, condition: Uuid| {
        medians
            .get(&(metric.to_owned(), month.to_owned(), condition))
            .copied()
    };
    let rows: Result<Vec<FunnelRow>, DbErr> = counts
        .iter()
        .map(|row| {
            let month: String = row.try_get_by_index(0)?;
            let id: Uuid = row.try_get_by_index(1)?;
            let leads: i64 = row.try_get_by_index(2)?;
            let converted: i64 = row.try_get_by_index(3)?;
            Ok(FunnelRow {
                median_days_to_conversion: median("conversion", &month, id),
                median_days_to_first_referral: median("first_referral", &month, id),
                month,
                medical_condition_id: condition(row, 1)?,
                leads_created: leads,
                leads_converted: converted,
                conversion_rate: if leads == 0 {
                    0.0
                } else {
                    converted as f64 / leads as f64
                },
            })
        })
        .collect();
    Ok(Json(rows?))
}

/// The median of each (measure, month, condition) group of durations in
/// the period: the middle value, or the mean of the middle two, read by
/// offset from the group's index range (`ix_metric_durations_median`
/// holds them in order). A query per group (a few hundred for years of
/// months) walks at most half of the group's entries; numbering every
/// duration with window functions instead held them all in memory (657 ms
/// and 79 MB at 1,000,000 patients on SQLite, under load).
async fn medians(
    tx: &impl ConnectionTrait,
    period: &Period,
) -> Result<HashMap<(String, String, Uuid), f64>, DbErr> {
    let backend = tx.get_database_backend();
    let [from, to, _] = period.bounds();
    let groups = tx
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT metric, month, condition_id, COUNT(*) FROM metric_durations \
             WHERE month >= $1 AND month <= $2 GROUP BY metric, month, condition_id",
            [from, to],
        ))
        .await?;
    let mut medians = HashMap::with_capacity(groups.len());
    for group in groups {
        let (metric, month, condition): (String, String, Uuid) = (
            group.try_get_by_index(0)?,
            group.try_get_by_index(1)?,
            group.try_get_by_index(2)?,
        );
        let count: i64 = group.try_get_by_index(3)?;
        let middle = tx
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                "SELECT days FROM metric_durations \
                 WHERE metric = $1 AND month = $2 AND condition_id = $3 \
                 ORDER BY days LIMIT 2 OFFSET $4",
                [
                    metric.clone().into(),
                    month.clone().into(),
                    condition.into(),
                    ((count - 1) / 2).into(),
                ],
            ))
            .await?;
        let days: Vec<f64> = middle
            .iter()
            .map(|row| row.try_get_by_index(0))
            .collect::<Result<_, _>>()?;
        let median = match (count % 2, days.as_slice()) {
            (1, [middle, ..]) => *middle,
            (_, [low, high]) => (low + high) / 2.0,
            _ => continue,
        };
        medians.insert((metric, month, condition), median);
    }
    Ok(medians)
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
    let sql = summed(
        "calls",
        "CAST(SUM(CASE WHEN label = 'completed' THEN n ELSE 0 END) AS BIGINT) AS held, \
         CAST(SUM(CASE WHEN label = 'no_show' THEN n ELSE 0 END) AS BIGINT) AS missed",
        "",
    );
    aggregate(&state, &sql, &period, |row| {
        let held: i64 = row.try_get_by_index(2)?;
        let missed: i64 = row.try_get_by_index(3)?;
        Ok(CallsRow {
            month: row.try_get_by_index(0)?,
            medical_condition_id: condition(row, 1)?,
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
    // The label is `eligibility/outcome`, which orders as the pair.
    let sql = summed("referrals", "CAST(SUM(n) AS BIGINT) AS n", ", label");
    aggregate(&state, &sql, &period, |row| {
        let label: String = row.try_get_by_index(2)?;
        let (eligibility, outcome) = label.split_once('/').unwrap_or_default();
        Ok(ReferralsRow {
            month: row.try_get_by_index(0)?,
            medical_condition_id: condition(row, 1)?,
            eligibility: Eligibility::from_text(eligibility).unwrap_or(Eligibility::Pending),
            outcome: ReferralOutcome::from_text(outcome).unwrap_or(ReferralOutcome::Pending),
            referrals: row.try_get_by_index(3)?,
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
    let sql = summed("enrollments", "CAST(SUM(n) AS BIGINT) AS n", ", label");
    aggregate(&state, &sql, &period, |row| {
        let status: String = row.try_get_by_index(2)?;
        Ok(EnrollmentsRow {
            month: row.try_get_by_index(0)?,
            medical_condition_id: condition(row, 1)?,
            status: EnrollmentStatus::from_text(&status).unwrap_or(EnrollmentStatus::Pending),
            enrollments: row.try_get_by_index(3)?,
        })
    })
    .await
}

/// Runs an aggregate `sql` over `period` (its `$1` to `$3`, which SQLite
/// also reads by number) and reads each row.
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
