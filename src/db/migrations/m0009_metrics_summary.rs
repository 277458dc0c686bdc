//! The funnel metrics' summary (issue 24, point 4), kept by the database in
//! the transaction of each write, so that `/v1/metrics/...` reads a few
//! thousand rows however many patients there are (grouping 1,000,000
//! patients and 1,500,000 calls took 7 and 15 s on SQLite).
//!
//! - `metric_counts`: how many leads (by status), calls (by status),
//!   referrals (by eligibility and outcome) and enrollments (by status)
//!   there are per month and medical condition. Each cell is split into
//!   up to 16 shards by the last hex digit of the counted row's id, so
//!   that concurrent writes of the same month and condition (every
//!   `POST /v1/patients` of today) update different rows instead of
//!   queueing on one row lock on PostgreSQL. A reader sums the shards.
//! - `metric_durations`: per converted patient, the days from first
//!   contact to conversion, and from conversion to the first referral or
//!   enrollment, with the month of first contact and the condition: a
//!   median needs the values, not a count. Ordered by an index per month
//!   and condition, so a median is read in order without a sort.
//!
//! Triggers keep both exact on every write path (the API's store, the
//! legacy import, erasure, the seed): SQLite's run their statements
//! directly, PostgreSQL's through a PL/pgSQL function each; the statements
//! are the same text, built once below, apart from each database's month,
//! days and none spelling. A medical condition moving on a patient or a
//! trial moves the counts of its calls, referrals and enrollments. The
//! migration fills both tables from the rows already there.
//!
//! "No condition" is stored as the nil UUID: the cells' key must be
//! non-null for `ON CONFLICT` to find it on both databases.
//!
//! Also the index of the queue of converted patients without a physician:
//! partial (`WHERE physician_id IS NULL`, which the queue's query states
//! in those words, so both planners use it), by status and conversion
//! date. A full index on `(status, physician_id, converted_at)` would do
//! on SQLite, but PostgreSQL does not take `IS NULL` as an equality that
//! leaves the index ordered by the next column, and sorted every
//! converted patient without a physician.

use sea_orm::{DbBackend, Statement};

/// The spellings that differ between the databases (also migration 10's).
pub(super) struct Sql {
    pub(super) backend: DbBackend,
}

impl Sql {
    /// `YYYY-MM` (UTC) of a timestamp.
    fn month(&self, column: &str) -> String {
        match self.backend {
            DbBackend::Postgres => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"),
            _ => format!("strftime('%Y-%m', {column})"),
        }
    }

    /// Days, fractional, from one timestamp to another.
    fn days(&self, from: &str, to: &str) -> String {
        match self.backend {
            DbBackend::Postgres => format!("EXTRACT(EPOCH FROM ({to} - {from})) / 86400.0"),
            _ => format!("(julianday({to}) - julianday({from}))"),
        }
    }

    /// A medical condition, with none as the nil UUID.
    fn condition(&self, column: &str) -> String {
        match self.backend {
            DbBackend::Postgres => {
                format!("COALESCE({column}, '00000000-0000-0000-0000-000000000000'::uuid)")
            }
            _ => format!("COALESCE({column}, zeroblob(16))"),
        }
    }

    /// The shard of a counted row: the last hex digit of its id.
    fn shard(&self, id: &str) -> String {
        match self.backend {
            DbBackend::Postgres => format!("right({id}::text, 1)"),
            _ => format!("substr(hex({id}), -1)"),
        }
    }

    fn uuid(&self) -> &'static str {
        match self.backend {
            DbBackend::Postgres => "uuid",
            _ => "uuid_text",
        }
    }

    fn float(&self) -> &'static str {
        match self.backend {
            DbBackend::Postgres => "double precision",
            _ => "real",
        }
    }

    /// Adds `sign` for each cell `cells` selects (metric, month,
    /// condition_id, label, shard) to `metric_counts`.
    pub(super) fn bump(&self, sign: i8, cells: &str) -> String {
        format!(
            "INSERT INTO metric_counts (metric, month, condition_id, label, shard, n) \
             SELECT metric, month, condition_id, label, shard, {sign} * COUNT(*) \
             FROM ({cells}) cells WHERE month IS NOT NULL \
             GROUP BY metric, month, condition_id, label, shard \
             ON CONFLICT (metric, month, condition_id, label, shard) \
             DO UPDATE SET n = metric_counts.n + excluded.n"
        )
    }

    /// The cells of the rows `from` selects, `row` being the counted
    /// row's alias: `metric`, the month of its `date` column, `condition`
    /// and its `label` expression (`{row}` stands for the alias in it).
    fn cells(
        &self,
        metric: &str,
        row: &str,
        date: &str,
        label: &str,
        condition: &str,
        from: &str,
    ) -> String {
        format!(
            "SELECT '{metric}' AS metric, {} AS month, {} AS condition_id, \
             {} AS label, {} AS shard {from}",
            self.month(&format!("{row}.{date}")),
            self.condition(condition),
            label.replace("{row}", row),
            self.shard(&format!("{row}.id")),
        )
    }

    /// Leads and patients by month of first contact, condition and status;
    /// `p` is the patient row.
    pub(super) fn leads(&self, p: &str, from: &str) -> String {
        let condition = format!("{p}.medical_condition_id");
        self.cells(
            "leads",
            p,
            "first_contact_at",
            "{row}.status",
            &condition,
            from,
        )
    }

    /// Calls by month scheduled, the patient's condition (`condition`) and
    /// status; `c` is the call row.
    pub(super) fn calls(&self, c: &str, condition: &str, from: &str) -> String {
        self.cells("calls", c, "scheduled_at", "{row}.status", condition, from)
    }

    /// Referrals by month recorded, the trial's condition (`condition`)
    /// and `eligibility/outcome`; `r` is the referral row.
    pub(super) fn referrals(&self, r: &str, condition: &str, from: &str) -> String {
        let label = "{row}.eligibility || '/' || {row}.outcome";
        self.cells("referrals", r, "created_at", label, condition, from)
    }

    /// Enrollments by month recorded, the patient's condition
    /// (`condition`) and status; `e` is the enrollment row.
    pub(super) fn enrollments(&self, e: &str, condition: &str, from: &str) -> String {
        self.cells(
            "enrollments",
            e,
            "created_at",
            "{row}.status",
            condition,
            from,
        )
    }

    /// The durations of the patients `p_where` selects (`p` is their
    /// alias), whose referrals and enrollments `child_where` selects.
    pub(super) fn durations(&self, p_where: &str, child_where: &str) -> [String; 2] {
        let (month, condition) = (
            self.month("p.first_contact_at"),
            self.condition("p.medical_condition_id"),
        );
        let converted = "p.converted_at IS NOT NULL AND p.first_contact_at IS NOT NULL";
        [
            format!(
                "INSERT INTO metric_durations (metric, month, condition_id, patient_id, days) \
                 SELECT 'conversion', {month}, {condition}, p.id, {} \
                 FROM patients p WHERE {converted} AND {p_where}",
                self.days("p.first_contact_at", "p.converted_at"),
            ),
            format!(
                "INSERT INTO metric_durations (metric, month, condition_id, patient_id, days) \
                 SELECT 'first_referral', {month}, {condition}, p.id, {} \
                 FROM patients p JOIN ( \
                   SELECT patient_id, MIN(first_at) AS first_at FROM ( \
                     SELECT patient_id, COALESCE(referred_at, created_at) AS first_at \
                     FROM trial_referrals WHERE {child_where} \
                     UNION ALL \
                     SELECT patient_id, COALESCE(enrolled_at, created_at) AS first_at \
                     FROM eap_enrollments WHERE {child_where}) a \
                   GROUP BY patient_id) f ON f.patient_id = p.id \
                 WHERE {converted} AND {p_where}",
                self.days("p.converted_at", "f.first_at"),
            ),
        ]
    }

    /// Recomputes the durations of the patient whose id is `id`.
    pub(super) fn refresh(&self, id: &str) -> Vec<String> {
        let mut out = vec![format!(
            "DELETE FROM metric_durations WHERE patient_id = {id}"
        )];
        out.extend(self.durations(&format!("p.id = {id}"), &format!("patient_id = {id}")));
        out
    }

    /// A trigger running `body` after `event` on `table` for each row for
    /// which `when` holds.
    fn trigger(&self, table: &str, event: &str, when: &str, body: &[String]) -> Vec<String> {
        self.named_trigger(&event.to_lowercase(), table, event, when, body)
    }

    /// [`Self::trigger`] named `metrics_{table}_{name}`.
    pub(super) fn named_trigger(
        &self,
        name: &str,
        table: &str,
        event: &str,
        when: &str,
        body: &[String],
    ) -> Vec<String> {
        let name = format!("metrics_{table}_{name}");
        let body: String = body.iter().map(|s| format!("{s};\n")).collect();
        match self.backend {
            DbBackend::Postgres => vec![
                format!(
                    "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                     BEGIN\n{body}RETURN NULL;\nEND\n$$"
                ),
                format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW \
                     WHEN ({when}) EXECUTE FUNCTION {name}()"
                ),
            ],
            _ => vec![format!(
                "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW \
                 WHEN ({when}) BEGIN\n{body}END"
            )],
        }
    }
}

/// `OLD.c IS DISTINCT FROM NEW.c OR ...` for each column.
fn changed(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("OLD.{c} IS DISTINCT FROM NEW.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let sql = Sql { backend };
    let (uuid, float) = (sql.uuid(), sql.float());
    let mut out = vec![
        format!(
            "CREATE TABLE metric_counts (metric text NOT NULL, month text NOT NULL, \
             condition_id {uuid} NOT NULL, label text NOT NULL, shard text NOT NULL, \
             n bigint NOT NULL, \
             PRIMARY KEY (metric, month, condition_id, label, shard))"
        ),
        format!(
            "CREATE TABLE metric_durations (patient_id {uuid} NOT NULL, metric text NOT NULL, \
             month text NOT NULL, condition_id {uuid} NOT NULL, days {float} NOT NULL, \
             PRIMARY KEY (patient_id, metric))"
        ),
        "CREATE INDEX ix_metric_durations_median \
         ON metric_durations (metric, month, condition_id, days)"
            .to_owned(),
        "CREATE INDEX ix_patients_without_physician \
         ON patients (status, converted_at, id) WHERE physician_id IS NULL"
            .to_owned(),
    ];
    let patient_condition = "p.medical_condition_id";
    let of_patient = |row: &str| format!("FROM patients p WHERE p.id = {row}.patient_id");
    let of_trial = |row: &str| format!("FROM clinical_trials t WHERE t.id = {row}.trial_id");

    // Patients: their own cell, and, when their condition moves, their
    // calls' and enrollments' cells.
    let calls_of = |p: &str| {
        sql.calls(
            "c",
            &format!("{p}.medical_condition_id"),
            &format!("FROM calls c WHERE c.patient_id = {p}.id"),
        )
    };
    let enrollments_of = |p: &str| {
        sql.enrollments(
            "e",
            &format!("{p}.medical_condition_id"),
            &format!("FROM eap_enrollments e WHERE e.patient_id = {p}.id"),
        )
    };
    // A new lead has no durations: only an imported patient, converted
    // already, pays for them (the API's creates stay one statement each).
    let body = [sql.bump(1, &sql.leads("NEW", ""))];
    out.extend(sql.trigger("patients", "INSERT", "true", &body));
    out.extend(sql.named_trigger(
        "insert_converted",
        "patients",
        "INSERT",
        "NEW.converted_at IS NOT NULL",
        &sql.durations("p.id = NEW.id", "patient_id = NEW.id"),
    ));
    let mut body = vec![
        sql.bump(-1, &sql.leads("OLD", "")),
        sql.bump(1, &sql.leads("NEW", "")),
        sql.bump(-1, &calls_of("OLD")),
        sql.bump(1, &calls_of("NEW")),
        sql.bump(-1, &enrollments_of("OLD")),
        sql.bump(1, &enrollments_of("NEW")),
    ];
    body.extend(sql.refresh("NEW.id"));
    let when = changed(&[
        "first_contact_at",
        "medical_condition_id",
        "status",
        "converted_at",
    ]);
    out.extend(sql.trigger("patients", "UPDATE", &when, &body));
    let body = [
        sql.bump(-1, &sql.leads("OLD", "")),
        "DELETE FROM metric_durations WHERE patient_id = OLD.id".to_owned(),
    ];
    out.extend(sql.trigger("patients", "DELETE", "true", &body));

    // Calls.
    let call = |row: &str| sql.calls(row, patient_condition, &of_patient(row));
    out.extend(sql.trigger("calls", "INSERT", "true", &[sql.bump(1, &call("NEW"))]));
    let when = changed(&["scheduled_at", "status", "patient_id"]);
    let body = [sql.bump(-1, &call("OLD")), sql.bump(1, &call("NEW"))];
    out.extend(sql.trigger("calls", "UPDATE", &when, &body));
    out.extend(sql.trigger("calls", "DELETE", "true", &[sql.bump(-1, &call("OLD"))]));

    // Referrals (by the trial's condition) and enrollments (by the
    // patient's), each also the first referral or enrollment of a patient.
    let referral = |row: &str| sql.referrals(row, "t.medical_condition_id", &of_trial(row));
    let enrollment = |row: &str| sql.enrollments(row, patient_condition, &of_patient(row));
    for (table, cells, dated) in [
        (
            "trial_referrals",
            &referral as &dyn Fn(&str) -> String,
            &[
                "created_at",
                "trial_id",
                "eligibility",
                "outcome",
                "patient_id",
                "referred_at",
            ][..],
        ),
        (
            "eap_enrollments",
            &enrollment,
            &["created_at", "status", "patient_id", "enrolled_at"][..],
        ),
    ] {
        let mut body = vec![sql.bump(1, &cells("NEW"))];
        body.extend(sql.refresh("NEW.patient_id"));
        out.extend(sql.trigger(table, "INSERT", "true", &body));
        let mut body = vec![sql.bump(-1, &cells("OLD")), sql.bump(1, &cells("NEW"))];
        body.extend(sql.refresh("OLD.patient_id"));
        body.extend(sql.refresh("NEW.patient_id"));
        out.extend(sql.trigger(table, "UPDATE", &changed(dated), &body));
        let mut body = vec![sql.bump(-1, &cells("OLD"))];
        body.extend(sql.refresh("OLD.patient_id"));
        out.extend(sql.trigger(table, "DELETE", "true", &body));
    }
    // A trial's condition moves its referrals.
    let referrals_of = |t: &str| {
        sql.referrals(
            "r",
            &format!("{t}.medical_condition_id"),
            &format!("FROM trial_referrals r WHERE r.trial_id = {t}.id"),
        )
    };
    let body = [
        sql.bump(-1, &referrals_of("OLD")),
        sql.bump(1, &referrals_of("NEW")),
    ];
    out.extend(sql.trigger(
        "clinical_trials",
        "UPDATE",
        &changed(&["medical_condition_id"]),
        &body,
    ));

    out.extend(fill(&sql));
    out.into_iter()
        .map(|s| Statement::from_string(backend, s))
        .collect()
}

/// Fills the empty summary from the rows there are.
fn fill(sql: &Sql) -> Vec<String> {
    let patient_condition = "p.medical_condition_id";
    let mut out = vec![
        sql.bump(1, &sql.leads("p", "FROM patients p")),
        sql.bump(
            1,
            &sql.calls(
                "c",
                patient_condition,
                "FROM calls c JOIN patients p ON p.id = c.patient_id",
            ),
        ),
        sql.bump(
            1,
            &sql.referrals(
                "r",
                "t.medical_condition_id",
                "FROM trial_referrals r JOIN clinical_trials t ON t.id = r.trial_id",
            ),
        ),
        sql.bump(
            1,
            &sql.enrollments(
                "e",
                patient_condition,
                "FROM eap_enrollments e JOIN patients p ON p.id = e.patient_id",
            ),
        ),
    ];
    out.extend(sql.durations("true", "true"));
    out
}

/// Empties the summary and fills it again from the rows: what the
/// triggers must have kept it equal to (the tests compare), and a repair
/// should it ever drift.
pub fn rebuild(backend: DbBackend) -> Vec<Statement> {
    let mut out = vec![
        "DELETE FROM metric_counts".to_owned(),
        "DELETE FROM metric_durations".to_owned(),
    ];
    out.extend(fill(&Sql { backend }));
    out.into_iter()
        .map(|s| Statement::from_string(backend, s))
        .collect()
}
