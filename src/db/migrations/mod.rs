//! Versioned schema migrations, written once with sea-query and rendered for
//! whichever backend runs them.
//!
//! A migration, once applied anywhere, is never edited: a change is a new
//! migration appended to [`MIGRATIONS`]. Each runs in its own transaction
//! (both SQLite and PostgreSQL have transactional DDL) and is recorded in
//! `schema_migrations`. Migrations run from `navigator migrate`, from the
//! local `serve`, or from the deploy-time migration function; never on a
//! Lambda cold start.

mod m0001_initial_schema;
mod m0002_seed_medical_conditions;
mod m0003_legacy_ids;
mod m0004_privacy;
mod m0005_access_log_index;
mod m0006_erasure_outlives_the_record;
mod m0007_legacy_rows;
mod m0008_staff_and_work_queues;
mod m0009_metrics_summary;
mod m0010_metrics_per_statement;
mod m0011_search_terms_by_record;

pub use m0009_metrics_summary::rebuild as rebuild_metrics_summary;

use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement,
    sea_query::{ColumnDef, Expr, ExprTrait, Query, Table},
};

/// One step of the schema's history.
pub struct Migration {
    /// Strictly increasing; the order migrations run in.
    pub version: i64,
    /// What the step does, for people reading `schema_migrations`.
    pub name: &'static str,
    /// The statements of the step, rendered for a backend.
    pub statements: fn(DbBackend) -> Vec<Statement>,
}

/// Every migration, oldest first. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial schema",
        statements: m0001_initial_schema::statements,
    },
    Migration {
        version: 2,
        name: "seed the consolidated medical conditions",
        statements: m0002_seed_medical_conditions::statements,
    },
    Migration {
        version: 3,
        name: "legacy CRM ids of imported records",
        statements: m0003_legacy_ids::statements,
    },
    Migration {
        version: 4,
        name: "privacy: erasure and the access log",
        statements: m0004_privacy::statements,
    },
    Migration {
        version: 5,
        name: "access log: links found by a deduplicated index on the patient",
        statements: m0005_access_log_index::statements,
    },
    Migration {
        version: 6,
        name: "erasure outlives the patient's row; idempotency keys found by age",
        statements: m0006_erasure_outlives_the_record::statements,
    },
    Migration {
        version: 7,
        name: "legacy CRM rows as last imported",
        statements: m0007_legacy_rows::statements,
    },
    Migration {
        version: 8,
        name: "staff, owners and holders of calls, work-queue indexes",
        statements: m0008_staff_and_work_queues::statements,
    },
    Migration {
        version: 9,
        name: "funnel metrics' summary kept by triggers; converted-without-physician index",
        statements: m0009_metrics_summary::statements,
    },
    Migration {
        version: 10,
        name: "funnel metrics: PostgreSQL's INSERT triggers once per statement",
        statements: m0010_metrics_per_statement::statements,
    },
    Migration {
        version: 11,
        name: "search terms indexed by record and collection",
        statements: m0011_search_terms_by_record::statements,
    },
];

/// A transaction holding the migration lock: PostgreSQL's advisory lock
/// (released at commit), SQLite's write lock (`BEGIN IMMEDIATE`). Two
/// deploys migrating at once therefore take turns, and the second finds the
/// work done.
async fn locked(db: &DatabaseConnection) -> Result<super::WriteTransaction, DbErr> {
    let tx = super::begin_write(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        tx.execute_unprepared("SELECT pg_advisory_xact_lock(7326020421)")
            .await?;
    }
    Ok(tx)
}

/// Applies every migration the database has not seen yet and returns the
/// versions applied, oldest first.
pub async fn run(db: &DatabaseConnection) -> Result<Vec<i64>, DbErr> {
    run_through(db, i64::MAX).await
}

/// Like [`run`], but stops after version `last`: the schema as an older
/// release left it (to test what a later migration does to its rows).
pub async fn run_through(db: &DatabaseConnection, last: i64) -> Result<Vec<i64>, DbErr> {
    let tx = locked(db).await?;
    tx.execute(
        Table::create()
            .table("schema_migrations")
            .if_not_exists()
            .col(
                ColumnDef::new("version")
                    .big_integer()
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new("name").text().not_null())
            .col(
                ColumnDef::new("applied_at")
                    .timestamp_with_time_zone()
                    .not_null(),
            ),
    )
    .await?;
    tx.commit().await?;
    let backend = db.get_database_backend();
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().take_while(|m| m.version <= last) {
        let tx = locked(db).await?;
        if applied_versions(&tx).await?.contains(&migration.version) {
            tx.rollback().await?;
            continue;
        }
        for statement in (migration.statements)(backend) {
            tx.execute_raw(statement).await?;
        }
        tx.execute(
            Query::insert()
                .into_table("schema_migrations")
                .columns(["version", "name", "applied_at"])
                .values_panic([
                    migration.version.into(),
                    migration.name.into(),
                    Utc::now().into(),
                ]),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        done.push(migration.version);
    }
    Ok(done)
}

/// The versions recorded as applied.
pub async fn applied_versions(db: &impl ConnectionTrait) -> Result<Vec<i64>, DbErr> {
    let rows = db
        .query_all(
            Query::select()
                .column("version")
                .from("schema_migrations")
                .order_by("version", sea_orm::Order::Asc),
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get::<i64>("", "version"))
        .collect()
}

/// Whether every known migration has been applied (for readiness).
pub async fn is_current(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let row = db
        .query_one(
            Query::select()
                .expr(Expr::col("version").max())
                .from("schema_migrations"),
        )
        .await?;
    let latest = row.and_then(|r| r.try_get_by_index::<Option<i64>>(0).ok().flatten());
    Ok(latest == MIGRATIONS.last().map(|m| m.version))
}

#[cfg(test)]
mod tests {
    use super::m0001_initial_schema::frozen;
    use crate::domain::{
        CallStatus, Channel, Eligibility, EnrollmentStatus, PatientStatus, PractitionerKind,
        ProgramStatus, ReferralOutcome, TrialStatus,
    };

    /// An enum that gains a value needs a migration that widens its CHECK
    /// constraint: compare with the newest migration's frozen copy.
    #[test]
    fn every_stored_enum_has_exactly_the_values_its_constraint_allows() {
        assert_eq!(PatientStatus::texts(), frozen::PATIENT_STATUSES);
        assert_eq!(PractitionerKind::texts(), frozen::PRACTITIONER_KINDS);
        assert_eq!(CallStatus::texts(), frozen::CALL_STATUSES);
        assert_eq!(ProgramStatus::texts(), frozen::PROGRAM_STATUSES);
        assert_eq!(EnrollmentStatus::texts(), frozen::ENROLLMENT_STATUSES);
        assert_eq!(TrialStatus::texts(), frozen::TRIAL_STATUSES);
        assert_eq!(Eligibility::texts(), frozen::ELIGIBILITIES);
        assert_eq!(ReferralOutcome::texts(), frozen::REFERRAL_OUTCOMES);
        assert_eq!(Channel::texts(), frozen::CHANNELS);
        let open: Vec<&str> = EnrollmentStatus::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(open, frozen::OPEN_ENROLLMENT_STATUSES);
    }
}
