//! Staff and the navigators' work queues (issue 24).
//!
//! - `staff`: everyone who signs in, one row per token subject, made on
//!   first sign-in; an admin sets the display name.
//! - `patients.owner_id` (the navigator responsible) and `calls.navigator_id`
//!   (who holds the call) name staff; `calls.navigator` keeps the CRM's
//!   free text as imported. Deleting staff who own records is a conflict.
//! - Indexes that keep each work queue's page an index range whatever the
//!   table's size, sorted by its date (`sort=`): a navigator's calls by
//!   date, calls by date and by status and date, reminders due (status,
//!   then reminder time), a navigator's patients, leads by first contact
//!   and patients by conversion (status, then date), referrals awaiting a
//!   decision or an outcome by referral date.
//! - `search_terms`: the folded words of the names, emails, phone numbers,
//!   license numbers and cities that `q` searches (`domain::search`),
//!   written by the store with each change; a prefix is an index range.
//! - Indexes on patients' phone and names, for possible duplicates.
//!
//! SQLite adds a column with a `REFERENCES` clause in place (its default
//! is NULL); PostgreSQL names the constraint like migration 1 does.

use sea_orm::{
    DbBackend, Statement,
    sea_query::{ColumnDef, Expr, ExprTrait, Index, Table},
};

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    let table = Table::create()
        .table("staff")
        .col(ColumnDef::new("id").uuid().not_null().primary_key())
        .col(
            ColumnDef::new("version")
                .integer()
                .not_null()
                .default(1)
                .check(("ck_staff_version", Expr::col("version").gte(1))),
        )
        .col(
            ColumnDef::new("created_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(
            ColumnDef::new("updated_at")
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(ColumnDef::new("subject").text().not_null())
        .col(ColumnDef::new("display_name").text().null())
        .take();
    out.push(backend.build(&table));
    let uuid = match backend {
        DbBackend::Postgres => "uuid",
        _ => "uuid_text",
    };
    for (table, column) in [("patients", "owner_id"), ("calls", "navigator_id")] {
        out.push(Statement::from_string(
            backend,
            format!(
                "ALTER TABLE {table} ADD COLUMN {column} {uuid} \
                 CONSTRAINT fk_{table}_{column} REFERENCES staff (id) \
                 ON DELETE RESTRICT ON UPDATE RESTRICT"
            ),
        ));
    }
    let indexes: [(&str, &str, bool, &[&str]); 13] = [
        ("staff", "uq_staff_subject", true, &["subject"]),
        ("patients", "ix_patients_owner", false, &["owner_id", "id"]),
        (
            "calls",
            "ix_calls_navigator_scheduled",
            false,
            &["navigator_id", "scheduled_at", "id"],
        ),
        (
            "calls",
            "ix_calls_scheduled_id",
            false,
            &["scheduled_at", "id"],
        ),
        (
            "calls",
            "ix_calls_status_reminder",
            false,
            &["status", "reminder_at", "id"],
        ),
        (
            "calls",
            "ix_calls_status_scheduled",
            false,
            &["status", "scheduled_at", "id"],
        ),
        (
            "patients",
            "ix_patients_status_first_contact",
            false,
            &["status", "first_contact_at", "id"],
        ),
        (
            "patients",
            "ix_patients_status_converted",
            false,
            &["status", "converted_at", "id"],
        ),
        (
            "trial_referrals",
            "ix_trial_referrals_awaiting",
            false,
            &["eligibility", "outcome", "referred_at", "id"],
        ),
        ("patients", "ix_patients_phone", false, &["phone"]),
        (
            "patients",
            "ix_patients_name",
            false,
            &["last_name", "first_name"],
        ),
        (
            "search_terms",
            "ix_search_terms_term",
            false,
            &["collection", "term", "record_id"],
        ),
        (
            "search_terms",
            "ix_search_terms_record",
            false,
            &["record_id"],
        ),
    ];
    // Byte order ("C") on PostgreSQL, as SQLite's BINARY: a prefix is then
    // one index range on both, `term >= 'mul' AND term < 'mul\u{10FFFF}'`.
    let term = match backend {
        DbBackend::Postgres => "text COLLATE \"C\"",
        _ => "text",
    };
    out.push(Statement::from_string(
        backend,
        format!(
            "CREATE TABLE search_terms (collection text NOT NULL, \
             record_id {uuid} NOT NULL, term {term} NOT NULL)"
        ),
    ));
    for (table, name, unique, columns) in indexes {
        let mut index = Index::create();
        index.name(name).table(table);
        if unique {
            index.unique();
        }
        for column in columns {
            index.col(*column);
        }
        out.push(backend.build(&index));
    }
    out
}
