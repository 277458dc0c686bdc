//! The whole model of product.md: reference data, people, the patient
//! journey, history and idempotency. Rules that must always hold are
//! constraints here, so no code path (API, importer, a hand-written SQL
//! session) can break them:
//!
//! - one record per person: `patients` and `practitioners` are separate
//!   tables, each with a unique normalised email (CHECK: stored lower-case
//!   and trimmed);
//! - a patient's physician must be a practitioner of kind `physician`, and a
//!   referral or enrollment needs a converted patient: both by composite
//!   foreign keys onto `(id, kind)` / `(id, status)` with a constant column;
//! - a referral or enrollment names a physician, unless it was imported
//!   from the CRM, which did not require one (CHECK on `imported`);
//! - many referrals and enrollments per patient (child tables), one
//!   referral per patient and trial, one open enrollment per patient and
//!   program (partial unique index);
//! - every enumeration, `ineligible_reason` exactly when ineligible, and
//!   `converted_at` exactly when converted are CHECKs;
//! - deletes never cascade: a referenced row is a conflict.

use sea_orm::{
    DbBackend, Statement,
    sea_query::{
        ColumnDef, ConditionalStatement, Expr, ExprTrait, ForeignKey, ForeignKeyAction,
        ForeignKeyCreateStatement, Index, IndexCreateStatement, Table, TableCreateStatement,
    },
};

use frozen::{
    CALL_STATUSES, CHANNELS, ELIGIBILITIES, ENROLLMENT_STATUSES, OPEN_ENROLLMENT_STATUSES,
    PATIENT_STATUSES, PRACTITIONER_KINDS, PROGRAM_STATUSES, REFERRAL_OUTCOMES, TRIAL_STATUSES,
};

/// The values this migration's CHECK constraints allow, as they were when
/// it was written: an applied migration must do the same thing forever, so
/// it does not read the enums of `crate::domain`, which may grow. A value
/// added there needs a new migration that widens the constraint (the
/// enums' test in `migrations` fails until then).
pub(super) mod frozen {
    pub const PATIENT_STATUSES: &[&str] = &["lead", "patient"];
    pub const PRACTITIONER_KINDS: &[&str] = &["physician", "pharmacist"];
    pub const CALL_STATUSES: &[&str] = &["scheduled", "completed", "no_show", "cancelled"];
    pub const PROGRAM_STATUSES: &[&str] = &["planned", "open", "closed"];
    pub const ENROLLMENT_STATUSES: &[&str] = &["pending", "active", "completed", "withdrawn"];
    pub const OPEN_ENROLLMENT_STATUSES: &[&str] = &["pending", "active"];
    pub const TRIAL_STATUSES: &[&str] = &[
        "not_yet_recruiting",
        "recruiting",
        "active_not_recruiting",
        "completed",
        "terminated",
        "withdrawn",
    ];
    pub const ELIGIBILITIES: &[&str] = &["pending", "eligible", "ineligible"];
    pub const REFERRAL_OUTCOMES: &[&str] = &[
        "pending",
        "enrolled",
        "not_enrolled",
        "screen_failure",
        "withdrawn",
    ];
    pub const CHANNELS: &[&str] = &["contact_form", "landing_page", "phone", "legacy_import"];
}

fn uuid(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().take()
}

fn uuid_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().null().take()
}

fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}

fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}

fn time(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

fn time_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

/// A text column whose value must be one of `values`.
fn one_of(table: &str, name: &'static str, values: &[&'static str]) -> ColumnDef {
    ColumnDef::new(name)
        .text()
        .not_null()
        .check((
            format!("ck_{table}_{name}"),
            Expr::col(name).is_in(values.iter().copied()),
        ))
        .take()
}

/// A column that always holds `value`: the constant half of a composite
/// foreign key such as `(physician_id, physician_kind)`.
fn constant(table: &str, name: &'static str, value: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .text()
        .not_null()
        .default(value)
        .check((format!("ck_{table}_{name}"), Expr::col(name).eq(value)))
        .take()
}

/// A table of mutable records: uuid id, optimistic-concurrency version,
/// creation and update times.
fn record(table: &'static str) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(ColumnDef::new("id").uuid().not_null().primary_key())
        .col(
            ColumnDef::new("version")
                .integer()
                .not_null()
                .default(1)
                .check((format!("ck_{table}_version"), Expr::col("version").gte(1))),
        )
        .col(time("created_at"))
        .col(time("updated_at"))
        .take()
}

fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, "id")
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .take()
}

/// `(id_col, const_col)` must name a row of `target` whose `(id, target_col)`
/// matches: the physician is a physician, the patient is converted.
fn fk_pair(
    table: &'static str,
    columns: (&'static str, &'static str),
    target: &'static str,
    target_col: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{}", columns.0))
        .from(table, columns)
        .to(target, ("id", target_col))
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .take()
}

fn index(table: &'static str, name: &str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(format!("ix_{table}_{name}")).table(table);
    for column in columns {
        index.col(*column);
    }
    index
}

fn unique(table: &'static str, name: &str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = index(table, name, columns);
    index.name(format!("uq_{table}_{name}")).unique();
    index
}

/// The email column of a person table: optional, stored normalised.
fn email_col(table: &str, required: bool) -> ColumnDef {
    let mut column = ColumnDef::new("email");
    column.text();
    if required {
        column.not_null()
    } else {
        column.null()
    };
    column
        .check((
            format!("ck_{table}_email"),
            Expr::cust("email = lower(trim(email)) AND email LIKE '%_@_%'"),
        ))
        .take()
}

pub fn statements(backend: DbBackend) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    let mut add = |s: &dyn sea_orm::StatementBuilder| out.push(s.build(&backend));

    // Reference data.
    add(&record("medical_conditions")
        .col(text("name"))
        .col(text("abbreviation"))
        .check((
            "ck_medical_conditions_abbreviation",
            Expr::cust("abbreviation = upper(abbreviation)"),
        ))
        .take());
    add(&unique("medical_conditions", "name", &["name"]));
    add(&unique(
        "medical_conditions",
        "abbreviation",
        &["abbreviation"],
    ));

    add(&record("hospitals")
        .col(text("name"))
        .col(text("city"))
        .col(text_null("country"))
        .take());
    add(&unique("hospitals", "name_city", &["name", "city"]));

    add(&record("specializations").col(text("name")).take());
    add(&unique("specializations", "name", &["name"]));

    // Healthcare professionals.
    add(&record("practitioners")
        .col(one_of("practitioners", "kind", PRACTITIONER_KINDS))
        .col(text("first_name"))
        .col(text("last_name"))
        .col(email_col("practitioners", false))
        .col(text_null("phone"))
        .col(text_null("job_title"))
        .col(uuid_null("specialization_id"))
        .col(text_null("license_number"))
        .col(uuid_null("hospital_id"))
        .foreign_key(&mut fk(
            "practitioners",
            "specialization_id",
            "specializations",
        ))
        .foreign_key(&mut fk("practitioners", "hospital_id", "hospitals"))
        .take());
    add(&unique("practitioners", "email", &["email"]));
    // Target of the (physician_id, physician_kind) foreign keys.
    add(&unique("practitioners", "id_kind", &["id", "kind"]));
    add(&index("practitioners", "kind", &["kind", "id"]));
    add(&index("practitioners", "hospital", &["hospital_id", "id"]));
    add(&index(
        "practitioners",
        "specialization",
        &["specialization_id"],
    ));

    // Leads and patients: one record per person, whose status changes.
    add(&record("patients")
        .col(one_of("patients", "status", PATIENT_STATUSES))
        .col(text_null("first_name"))
        .col(text_null("last_name"))
        .col(email_col("patients", false))
        .col(text_null("phone"))
        .col(uuid_null("medical_condition_id"))
        .col(uuid_null("physician_id"))
        .col(constant("patients", "physician_kind", "physician"))
        .col(time_null("first_contact_at"))
        .col(time_null("initial_consult_at"))
        .col(time_null("converted_at"))
        .check((
            "ck_patients_reachable",
            Expr::cust("email IS NOT NULL OR phone IS NOT NULL"),
        ))
        .check((
            "ck_patients_converted",
            Expr::cust("(status = 'patient') = (converted_at IS NOT NULL)"),
        ))
        .foreign_key(&mut fk(
            "patients",
            "medical_condition_id",
            "medical_conditions",
        ))
        .foreign_key(&mut fk_pair(
            "patients",
            ("physician_id", "physician_kind"),
            "practitioners",
            "kind",
        ))
        .take());
    add(&unique("patients", "email", &["email"]));
    // Target of the (patient_id, patient_status) foreign keys.
    add(&unique("patients", "id_status", &["id", "status"]));
    add(&index("patients", "status", &["status", "id"]));
    add(&index(
        "patients",
        "condition",
        &["medical_condition_id", "id"],
    ));
    add(&index("patients", "physician", &["physician_id", "id"]));

    // Every form submission, kept whole and never changed.
    add(&Table::create()
        .table("intake_submissions")
        .col(ColumnDef::new("id").uuid().not_null().primary_key())
        .col(uuid("patient_id"))
        .col(one_of("intake_submissions", "channel", CHANNELS))
        .col(text_null("first_name"))
        .col(text_null("last_name"))
        .col(email_col("intake_submissions", true))
        .col(text_null("phone"))
        .col(uuid_null("medical_condition_id"))
        .col(text_null("medical_condition_text"))
        .col(time_null("requested_call_at"))
        .col(ColumnDef::new("payload").json_binary().not_null())
        .col(time("submitted_at"))
        .foreign_key(&mut fk("intake_submissions", "patient_id", "patients"))
        .foreign_key(&mut fk(
            "intake_submissions",
            "medical_condition_id",
            "medical_conditions",
        ))
        .take());
    add(&index(
        "intake_submissions",
        "patient",
        &["patient_id", "id"],
    ));
    add(&index(
        "intake_submissions",
        "submitted_at",
        &["submitted_at"],
    ));

    // Every call, with its outcome.
    add(&record("calls")
        .col(uuid("patient_id"))
        .col(text_null("navigator"))
        .col(time("scheduled_at"))
        .col(time_null("reminder_at"))
        .col(one_of("calls", "status", CALL_STATUSES))
        .col(text_null("notes"))
        .foreign_key(&mut fk("calls", "patient_id", "patients"))
        .take());
    add(&index("calls", "patient", &["patient_id", "id"]));
    add(&index("calls", "status", &["status", "id"]));
    add(&index("calls", "scheduled_at", &["scheduled_at"]));

    // Expanded Access Programs and enrollments.
    add(&record("expanded_access_programs")
        .col(text("eap_number"))
        .col(text("product"))
        .col(uuid_null("medical_condition_id"))
        .col(one_of(
            "expanded_access_programs",
            "status",
            PROGRAM_STATUSES,
        ))
        .foreign_key(&mut fk(
            "expanded_access_programs",
            "medical_condition_id",
            "medical_conditions",
        ))
        .take());
    add(&unique(
        "expanded_access_programs",
        "eap_number",
        &["eap_number"],
    ));
    add(&index(
        "expanded_access_programs",
        "condition",
        &["medical_condition_id"],
    ));

    add(&record("eap_enrollments")
        .col(uuid("patient_id"))
        .col(constant("eap_enrollments", "patient_status", "patient"))
        .col(uuid("program_id"))
        .col(uuid_null("physician_id"))
        .col(constant("eap_enrollments", "physician_kind", "physician"))
        .col(
            ColumnDef::new("imported")
                .boolean()
                .not_null()
                .default(false),
        )
        .check((
            "ck_eap_enrollments_physician",
            Expr::cust("physician_id IS NOT NULL OR imported"),
        ))
        .col(time_null("enrolled_at"))
        .col(one_of("eap_enrollments", "status", ENROLLMENT_STATUSES))
        .foreign_key(&mut fk_pair(
            "eap_enrollments",
            ("patient_id", "patient_status"),
            "patients",
            "status",
        ))
        .foreign_key(&mut fk(
            "eap_enrollments",
            "program_id",
            "expanded_access_programs",
        ))
        .foreign_key(&mut fk_pair(
            "eap_enrollments",
            ("physician_id", "physician_kind"),
            "practitioners",
            "kind",
        ))
        .take());
    let open = OPEN_ENROLLMENT_STATUSES;
    add(
        &unique("eap_enrollments", "open", &["patient_id", "program_id"])
            .cond_where(Expr::col("status").is_in(open.iter().copied()))
            .take(),
    );
    add(&index("eap_enrollments", "patient", &["patient_id", "id"]));
    add(&index("eap_enrollments", "program", &["program_id", "id"]));
    add(&index("eap_enrollments", "physician", &["physician_id"]));

    // Clinical trials and referrals.
    add(&record("clinical_trials")
        .col(text("registry_id"))
        .col(text_null("title"))
        .col(uuid_null("medical_condition_id"))
        .col(one_of("clinical_trials", "status", TRIAL_STATUSES))
        .check((
            "ck_clinical_trials_registry_id",
            Expr::cust("registry_id = upper(trim(registry_id))"),
        ))
        .foreign_key(&mut fk(
            "clinical_trials",
            "medical_condition_id",
            "medical_conditions",
        ))
        .take());
    add(&unique("clinical_trials", "registry_id", &["registry_id"]));
    add(&index(
        "clinical_trials",
        "condition",
        &["medical_condition_id"],
    ));

    add(&record("trial_referrals")
        .col(uuid("patient_id"))
        .col(constant("trial_referrals", "patient_status", "patient"))
        .col(uuid("trial_id"))
        .col(uuid_null("physician_id"))
        .col(constant("trial_referrals", "physician_kind", "physician"))
        .col(
            ColumnDef::new("imported")
                .boolean()
                .not_null()
                .default(false),
        )
        .check((
            "ck_trial_referrals_physician",
            Expr::cust("physician_id IS NOT NULL OR imported"),
        ))
        .col(time_null("referred_at"))
        .col(one_of("trial_referrals", "eligibility", ELIGIBILITIES))
        .col(text_null("ineligible_reason"))
        .col(one_of("trial_referrals", "outcome", REFERRAL_OUTCOMES))
        .check((
            "ck_trial_referrals_ineligible_reason",
            Expr::cust("(eligibility = 'ineligible') = (ineligible_reason IS NOT NULL)"),
        ))
        .foreign_key(&mut fk_pair(
            "trial_referrals",
            ("patient_id", "patient_status"),
            "patients",
            "status",
        ))
        .foreign_key(&mut fk("trial_referrals", "trial_id", "clinical_trials"))
        .foreign_key(&mut fk_pair(
            "trial_referrals",
            ("physician_id", "physician_kind"),
            "practitioners",
            "kind",
        ))
        .take());
    add(&unique(
        "trial_referrals",
        "patient_trial",
        &["patient_id", "trial_id"],
    ));
    add(&index("trial_referrals", "trial", &["trial_id", "id"]));
    add(&index("trial_referrals", "physician", &["physician_id"]));

    // Who changed what, when; append-only.
    add(&Table::create()
        .table("history")
        .col(ColumnDef::new("id").uuid().not_null().primary_key())
        .col(text("collection"))
        .col(uuid("record_id"))
        .col(ColumnDef::new("version").integer().not_null())
        .col(one_of("history", "action", &["create", "update", "delete"]))
        .col(text("actor"))
        .col(time("at"))
        .col(ColumnDef::new("changes").json_binary().not_null())
        .take());
    add(&index(
        "history",
        "record",
        &["collection", "record_id", "id"],
    ));

    // First responses to POSTs that carried an Idempotency-Key.
    add(&Table::create()
        .table("idempotency_keys")
        .col(text("scope"))
        .col(text("key"))
        .col(text("request_hash"))
        .col(ColumnDef::new("status").integer().not_null())
        .col(text_null("location"))
        .col(text_null("etag"))
        .col(text("body"))
        .col(time("created_at"))
        .primary_key(Index::create().col("scope").col("key"))
        .take());

    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_renders_for_both_backends() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let sql: Vec<String> = statements(backend).into_iter().map(|s| s.sql).collect();
            assert!(
                sql.iter()
                    .any(|s| s.contains("CREATE TABLE") && s.contains("trial_referrals"))
            );
            assert!(
                sql.iter()
                    .any(|s| s.contains("uq_eap_enrollments_open") && s.contains("WHERE"))
            );
        }
    }
}
