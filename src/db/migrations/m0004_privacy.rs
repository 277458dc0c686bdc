//! Privacy (GDPR art. 9 and 17): erasure and an access log.
//!
//! - `patients.erased_at` and `intake_submissions.erased_at`: an erased row
//!   keeps its skeleton (ids, statuses, dates) and, by CHECK, no personal
//!   data. The rules "a patient has an email or a phone" and "a submission
//!   has an email" become "… unless erased".
//! - `erasures`: who erased whom, when and why; one per patient.
//! - `access_events` and `access_event_patients`: every read of a patient's
//!   personal data, with the patients it returned. No foreign key to
//!   `patients`: the trail outlives a deleted record. None from a link to
//!   its event either: both are written in one transaction by the one
//!   writer, and neither table allows a delete, so it would guard nothing,
//!   while costing a lookup per row on the fastest-growing table (and, on
//!   PostgreSQL, a sequential scan per row when its cached plan was made
//!   while the table was empty: measured at 1 s per 1,024 rows).
//!
//! The three append-only tables refuse UPDATE and DELETE by trigger.
//!
//! Loosening a CHECK or a NOT NULL: PostgreSQL alters the constraint;
//! SQLite cannot, and rebuilding `patients` (which four tables reference)
//! needs foreign keys off, which cannot change inside the migration's
//! transaction. SQLite's documented procedure for changes that leave the
//! stored rows valid (removing a NOT NULL, weakening a CHECK) is to edit
//! the table's definition in `sqlite_schema` (section 7 of
//! <https://sqlite.org/lang_altertable.html>). The edit is an exact text
//! replacement of what migration 1 rendered; the tests prove it took
//! effect on both backends (an erased row is accepted, a row without
//! contact details is still refused). A later DDL statement in the same
//! migration bumps the schema cookie, so every pooled connection reloads
//! the definitions.

use sea_orm::{DbBackend, Statement};

/// Erased ⇒ no personal data. Shared by both backends.
const PATIENT_ERASED: &str = "erased_at IS NULL OR (first_name IS NULL AND last_name IS NULL \
     AND email IS NULL AND phone IS NULL AND medical_condition_id IS NULL)";

const REACHABLE_BEFORE: &str = "email IS NOT NULL OR phone IS NOT NULL";
const REACHABLE_AFTER: &str = "email IS NOT NULL OR phone IS NOT NULL OR erased_at IS NOT NULL";

const SUBMISSION_EMAIL: &str = "email IS NOT NULL OR erased_at IS NOT NULL";

fn submission_erased(empty_payload: &str) -> String {
    format!(
        "erased_at IS NULL OR (first_name IS NULL AND last_name IS NULL AND email IS NULL \
         AND phone IS NULL AND medical_condition_id IS NULL AND medical_condition_text IS NULL \
         AND payload = {empty_payload})"
    )
}

const APPEND_ONLY: &[&str] = &["erasures", "access_events", "access_event_patients"];

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let sql = match backend {
        DbBackend::Postgres => postgres(),
        _ => sqlite(),
    };
    sql.into_iter()
        .map(|s| Statement::from_string(backend, s))
        .collect()
}

fn postgres() -> Vec<String> {
    let mut out = vec![
        format!(
            "ALTER TABLE patients ADD COLUMN erased_at timestamptz NULL, \
             ADD CONSTRAINT ck_patients_erased CHECK ({PATIENT_ERASED}), \
             DROP CONSTRAINT ck_patients_reachable, \
             ADD CONSTRAINT ck_patients_reachable CHECK ({REACHABLE_AFTER})"
        ),
        format!(
            "ALTER TABLE intake_submissions ADD COLUMN erased_at timestamptz NULL, \
             ALTER COLUMN email DROP NOT NULL, \
             ADD CONSTRAINT ck_intake_submissions_reachable CHECK ({SUBMISSION_EMAIL}), \
             ADD CONSTRAINT ck_intake_submissions_erased CHECK ({})",
            submission_erased("'{}'::jsonb")
        ),
    ];
    out.extend(tables("uuid", "timestamptz"));
    out.push(
        "CREATE FUNCTION navigator_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
            .into(),
    );
    for table in APPEND_ONLY {
        out.push(format!(
            "CREATE TRIGGER tr_{table}_append_only BEFORE UPDATE OR DELETE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION navigator_append_only()"
        ));
        out.push(format!(
            "CREATE TRIGGER tr_{table}_no_truncate BEFORE TRUNCATE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION navigator_append_only()"
        ));
    }
    out
}

fn sqlite() -> Vec<String> {
    let mut out = vec![
        // Types as SeaORM's SQLite rendering names them, so the column
        // reads back like the others.
        format!(
            "ALTER TABLE patients ADD COLUMN erased_at timestamp_with_timezone_text NULL \
             CONSTRAINT ck_patients_erased CHECK ({PATIENT_ERASED})"
        ),
        format!(
            "ALTER TABLE intake_submissions ADD COLUMN erased_at timestamp_with_timezone_text NULL \
             CONSTRAINT ck_intake_submissions_reachable CHECK ({SUBMISSION_EMAIL}) \
             CONSTRAINT ck_intake_submissions_erased CHECK ({})",
            submission_erased("'{}'")
        ),
        "PRAGMA writable_schema = ON".into(),
        format!(
            "UPDATE sqlite_schema SET sql = replace(sql, \
             'CONSTRAINT \"ck_patients_reachable\" CHECK ({REACHABLE_BEFORE})', \
             'CONSTRAINT \"ck_patients_reachable\" CHECK ({REACHABLE_AFTER})') \
             WHERE type = 'table' AND name = 'patients'"
        ),
        "UPDATE sqlite_schema SET sql = replace(sql, \
         '\"email\" text NOT NULL CONSTRAINT \"ck_intake_submissions_email\"', \
         '\"email\" text NULL CONSTRAINT \"ck_intake_submissions_email\"') \
         WHERE type = 'table' AND name = 'intake_submissions'"
            .into(),
        "PRAGMA writable_schema = RESET".into(),
    ];
    // DDL after the edit: bumps the schema cookie for every connection.
    out.extend(tables("uuid_text", "timestamp_with_timezone_text"));
    for table in APPEND_ONLY {
        for action in ["UPDATE", "DELETE"] {
            out.push(format!(
                "CREATE TRIGGER tr_{table}_no_{} BEFORE {action} ON {table} \
                 BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
                action.to_lowercase()
            ));
        }
    }
    out
}

/// The new tables, in the backend's names for a uuid and a timestamp.
fn tables(uuid: &str, time: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE erasures ( \
             id {uuid} NOT NULL PRIMARY KEY, \
             patient_id {uuid} NOT NULL \
               CONSTRAINT fk_erasures_patient_id REFERENCES patients (id) \
               ON DELETE RESTRICT ON UPDATE RESTRICT, \
             actor text NOT NULL, \
             reason text NOT NULL CONSTRAINT ck_erasures_reason CHECK (length(trim(reason)) > 0), \
             erased_at {time} NOT NULL )"
        ),
        "CREATE UNIQUE INDEX uq_erasures_patient ON erasures (patient_id)".into(),
        format!(
            "CREATE TABLE access_events ( \
             id {uuid} NOT NULL PRIMARY KEY, \
             at {time} NOT NULL, \
             actor text NOT NULL, \
             route text NOT NULL )"
        ),
        format!(
            "CREATE TABLE access_event_patients ( \
             patient_id {uuid} NOT NULL, \
             event_id {uuid} NOT NULL, \
             PRIMARY KEY (patient_id, event_id) )"
        ),
    ]
}
