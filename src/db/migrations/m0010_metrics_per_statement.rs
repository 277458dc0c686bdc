//! PostgreSQL's metric triggers on INSERT run once per statement instead of
//! once per row (migration 9 keeps the summary; this changes only when its
//! PostgreSQL triggers run).
//!
//! A row-level trigger calls its PL/pgSQL function for every row: a
//! statement inserting 100 patients ran 100 upserts of the summary, and
//! in the legacy import those calls took a third of PostgreSQL's time.
//! A statement-level trigger sees the statement's rows as a transition
//! table (`new_rows`) and bumps each cell once with their count. The summary
//! stays exactly what the rows say (the metrics tests compare it with a
//! rebuild after every kind of write). SQLite has no statement-level
//! triggers: its row-level ones, run inline without a function call, stay.
//! UPDATE and DELETE triggers stay row-level: their WHEN clauses skip the
//! rows whose counted columns did not change, which a transition table
//! cannot. So do the durations (see below), and the row-level trigger of
//! patients inserted converted already.

use sea_orm::{DbBackend, Statement};

use super::m0009_metrics_summary::Sql;

/// The statements of the migration (none on SQLite).
pub fn statements(backend: DbBackend) -> Vec<Statement> {
    if backend != DbBackend::Postgres {
        return Vec::new();
    }
    let sql = Sql { backend };
    let mut out = Vec::new();

    // Patients, in the cell of their month, condition and status.
    let cells = sql.leads("n", "FROM new_rows n");
    out.extend(replace("patients", &[sql.bump(1, &cells)]));

    // Calls, by their patient's condition.
    let cells = sql.calls(
        "c",
        "p.medical_condition_id",
        "FROM new_rows c JOIN patients p ON p.id = c.patient_id",
    );
    out.extend(replace("calls", &[sql.bump(1, &cells)]));

    // Referrals (by the trial's condition) and enrollments (by the
    // patient's). The durations of their patients stay recomputed row by
    // row, by the patient's id: over a transition table PostgreSQL's
    // planner scanned the referrals, enrollments and durations whole.
    let referrals = sql.referrals(
        "r",
        "t.medical_condition_id",
        "FROM new_rows r JOIN clinical_trials t ON t.id = r.trial_id",
    );
    let enrollments = sql.enrollments(
        "e",
        "p.medical_condition_id",
        "FROM new_rows e JOIN patients p ON p.id = e.patient_id",
    );
    for (table, cells) in [
        ("trial_referrals", referrals),
        ("eap_enrollments", enrollments),
    ] {
        out.extend(replace(table, &[sql.bump(1, &cells)]));
        let refresh = sql.refresh("NEW.patient_id");
        out.extend(sql.named_trigger("insert_durations", table, "INSERT", "true", &refresh));
    }

    out.into_iter()
        .map(|s| Statement::from_string(backend, s))
        .collect()
}

/// Drops migration 9's row-level INSERT trigger of `table` (and its
/// function) and creates a statement-level one running `body`.
fn replace(table: &str, body: &[String]) -> Vec<String> {
    let old = format!("metrics_{table}_insert");
    let mut out = vec![
        format!("DROP TRIGGER {old} ON {table}"),
        format!("DROP FUNCTION {old}()"),
    ];
    let name = format!("metrics_{table}_inserted");
    let body: String = body.iter().map(|s| format!("{s};\n")).collect();
    out.push(format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n\
         BEGIN\n{body}RETURN NULL;\nEND\n$$"
    ));
    out.push(format!(
        "CREATE TRIGGER {name} AFTER INSERT ON {table} \
         REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
    ));
    out
}
