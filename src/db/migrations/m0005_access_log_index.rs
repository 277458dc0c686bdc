//! The access log's links, found by patient through a plain index instead
//! of the primary key `(patient_id, event_id)`.
//!
//! Every logged read adds a link, for a patient drawn at random from all of
//! them, so each insert lands on a random page of the index that finds a
//! person's reads. As a 32-byte composite key, that index outgrew
//! PostgreSQL's buffer cache soon after the log passed a few million
//! links (203 MB for 3.2 million), and on the bench's GET by id the
//! writer's connection spent 63% of its CPU inserting into it, most of
//! that reading evicted pages back. An index on `patient_id` alone repeats
//! one key per patient, which PostgreSQL stores once with a list of its
//! rows (B-tree deduplication, PostgreSQL 13): 31 MB for the same links,
//! which stays cached, at about half the cost per insert.
//!
//! What the key guarded, that an event names each patient once, the one
//! writer already ensures (it deduplicates each event's patients), and the
//! table takes no other writes: the append-only triggers stay. A person's
//! reads are still one index range, read in event order by a sort of just
//! their rows.
//!
//! SQLite cannot drop a primary key, so there the table is rebuilt (its
//! append-only triggers with it); `DROP TABLE` fires no trigger.

use sea_orm::{DbBackend, Statement};

const INDEX: &str =
    "CREATE INDEX ix_access_event_patients_patient_id ON access_event_patients (patient_id)";

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let sql = match backend {
        DbBackend::Postgres => vec![
            "ALTER TABLE access_event_patients DROP CONSTRAINT access_event_patients_pkey".into(),
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
        "CREATE TABLE access_event_patients_new ( \
         patient_id uuid_text NOT NULL, \
         event_id uuid_text NOT NULL )"
            .to_owned(),
        "INSERT INTO access_event_patients_new (patient_id, event_id) \
         SELECT patient_id, event_id FROM access_event_patients ORDER BY event_id"
            .into(),
        "DROP TABLE access_event_patients".into(),
        "ALTER TABLE access_event_patients_new RENAME TO access_event_patients".into(),
        INDEX.into(),
    ];
    for action in ["UPDATE", "DELETE"] {
        out.push(format!(
            "CREATE TRIGGER tr_access_event_patients_no_{} BEFORE {action} \
             ON access_event_patients \
             BEGIN SELECT RAISE(ABORT, 'access_event_patients is append-only'); END",
            action.to_lowercase()
        ));
    }
    out
}
