//! Erasure reaches deleted patients, and stored idempotent responses expire.
//!
//! - `erasures.patient_id` loses its foreign key to `patients`: a patient
//!   deleted before their erasure is erased all the same (their history
//!   and stored responses still hold their data), and the record of it,
//!   like the access log, outlives the patient's row. The unique index
//!   keeps one erasure per person.
//! - `ix_idempotency_keys_created_at`: keys expire after a day, and the
//!   writes that purge expired ones find the oldest by this index instead
//!   of scanning the table.
//!
//! PostgreSQL drops the constraint. SQLite cannot, so there the table is
//! rebuilt, its unique index and append-only triggers with it (`DROP
//! TABLE` fires no trigger), as migration 5 did for the access log's
//! links.

use sea_orm::{DbBackend, Statement};

const INDEX: &str = "CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at)";

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let sql = match backend {
        DbBackend::Postgres => vec![
            "ALTER TABLE erasures DROP CONSTRAINT fk_erasures_patient_id".into(),
            INDEX.into(),
        ],
        _ => sqlite(),
    };
    sql.into_iter()
        .map(|s| Statement::from_string(backend, s))
        .collect()
}

fn sqlite() -> Vec<String> {
    let mut out = vec![
        // As migration 4 created it, without the foreign key.
        "CREATE TABLE erasures_new ( \
         id uuid_text NOT NULL PRIMARY KEY, \
         patient_id uuid_text NOT NULL, \
         actor text NOT NULL, \
         reason text NOT NULL CONSTRAINT ck_erasures_reason CHECK (length(trim(reason)) > 0), \
         erased_at timestamp_with_timezone_text NOT NULL )"
            .to_owned(),
        "INSERT INTO erasures_new (id, patient_id, actor, reason, erased_at) \
         SELECT id, patient_id, actor, reason, erased_at FROM erasures"
            .into(),
        "DROP TABLE erasures".into(),
        "ALTER TABLE erasures_new RENAME TO erasures".into(),
        "CREATE UNIQUE INDEX uq_erasures_patient ON erasures (patient_id)".into(),
        INDEX.into(),
    ];
    for action in ["UPDATE", "DELETE"] {
        out.push(format!(
            "CREATE TRIGGER tr_erasures_no_{} BEFORE {action} ON erasures \
             BEGIN SELECT RAISE(ABORT, 'erasures is append-only'); END",
            action.to_lowercase()
        ));
    }
    out
}
