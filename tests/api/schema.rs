//! The schema is the guarantee: rows written around the API (as a script
//! or a future importer could) are refused by the database's own
//! constraints, on both backends.

use chrono::Utc;
use navigator::{
    db::entities::{clinical_trial, patient, practitioner, trial_referral},
    domain::{Eligibility, PatientStatus, PractitionerKind, ReferralOutcome, TrialStatus},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, Statement, prelude::Uuid,
};

use crate::{helpers::TestApp, on_both_databases};

fn lead(email: Option<&str>, phone: Option<&str>) -> patient::ActiveModel {
    let now = Utc::now();
    patient::ActiveModel {
        id: Set(Uuid::now_v7()),
        status: Set(PatientStatus::Lead),
        first_name: Set(None),
        last_name: Set(None),
        email: Set(email.map(Into::into)),
        phone: Set(phone.map(Into::into)),
        medical_condition_id: Set(None),
        physician_id: Set(None),
        physician_kind: Set(PractitionerKind::Physician),
        first_contact_at: Set(None),
        initial_consult_at: Set(None),
        converted_at: Set(None),
        erased_at: Set(None),
        owner_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

fn practitioner(kind: PractitionerKind) -> practitioner::ActiveModel {
    let now = Utc::now();
    practitioner::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind),
        first_name: Set("Eva".into()),
        last_name: Set("Jansen".into()),
        email: Set(None),
        phone: Set(None),
        job_title: Set(None),
        specialization_id: Set(None),
        license_number: Set(None),
        hospital_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, DbErr>) {
    let err = result.expect_err("the database accepted a row that breaks the model");
    assert!(
        navigator::db::conflict(&err).is_some(),
        "not a constraint error: {err}"
    );
}

async fn referral(
    app: &TestApp,
    patient: Uuid,
    physician: Uuid,
    eligibility: Eligibility,
    reason: Option<&str>,
) -> Result<trial_referral::Model, DbErr> {
    referral_by(app, patient, Some(physician), false, eligibility, reason).await
}

async fn referral_by(
    app: &TestApp,
    patient: Uuid,
    physician: Option<Uuid>,
    imported: bool,
    eligibility: Eligibility,
    reason: Option<&str>,
) -> Result<trial_referral::Model, DbErr> {
    let now = Utc::now();
    let trial = clinical_trial::ActiveModel {
        id: Set(Uuid::now_v7()),
        registry_id: Set(
            format!("NCT{}", &Uuid::now_v7().simple().to_string()[24..]).to_uppercase()
        ),
        title: Set(None),
        medical_condition_id: Set(None),
        status: Set(TrialStatus::Recruiting),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await?;
    trial_referral::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        patient_status: Set(PatientStatus::Patient),
        trial_id: Set(trial.id),
        physician_id: Set(physician),
        physician_kind: Set(PractitionerKind::Physician),
        imported: Set(imported),
        referred_at: Set(None),
        eligibility: Set(eligibility),
        ineligible_reason: Set(reason.map(Into::into)),
        outcome: Set(ReferralOutcome::Pending),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
}

on_both_databases! {
    async fn the_database_refuses_an_email_that_is_not_normalised(app) {
        refused(lead(Some("Ann@Example.org"), None).insert(&app.db).await);
        refused(lead(Some(" ann@example.org"), None).insert(&app.db).await);
        lead(Some("ann@example.org"), None).insert(&app.db).await.unwrap();
    }

    async fn the_database_refuses_an_unreachable_person(app) {
        refused(lead(None, None).insert(&app.db).await);
    }

    async fn the_database_refuses_an_unknown_status(app) {
        // The entity cannot hold one: written as SQL, as a script would.
        let ann = lead(Some("ann@example.org"), None).insert(&app.db).await.unwrap();
        let backend = app.db.get_database_backend();
        let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
        let sql = format!("UPDATE patients SET status = 'vip' WHERE id = {placeholder}");
        let result = app
            .db
            .execute_raw(Statement::from_sql_and_values(backend, sql, [ann.id.into()]))
            .await;
        refused(result);
    }

    async fn the_database_refuses_a_patient_status_without_a_conversion_time(app) {
        let mut row = lead(Some("ann@example.org"), None);
        row.status = Set(PatientStatus::Patient);
        refused(row.insert(&app.db).await);
    }

    async fn the_database_refuses_a_pharmacist_as_a_patients_physician(app) {
        let pharmacist = practitioner(PractitionerKind::Pharmacist).insert(&app.db).await.unwrap();
        let mut row = lead(Some("ann@example.org"), None);
        row.physician_id = Set(Some(pharmacist.id));
        refused(row.insert(&app.db).await);
    }

    async fn the_database_refuses_a_referral_for_a_lead(app) {
        let physician = practitioner(PractitionerKind::Physician).insert(&app.db).await.unwrap();
        let lead = lead(Some("ann@example.org"), None).insert(&app.db).await.unwrap();
        refused(referral(app, lead.id, physician.id, Eligibility::Pending, None).await);
    }

    async fn the_database_requires_a_physician_on_a_referral_unless_it_was_imported(app) {
        let mut converted = lead(Some("ann@example.org"), None);
        converted.status = Set(PatientStatus::Patient);
        converted.converted_at = Set(Some(Utc::now()));
        let patient = converted.insert(&app.db).await.unwrap();
        refused(referral_by(app, patient.id, None, false, Eligibility::Pending, None).await);
        referral_by(app, patient.id, None, true, Eligibility::Pending, None).await.unwrap();
    }

    async fn the_database_requires_a_reason_exactly_when_ineligible(app) {
        let physician = practitioner(PractitionerKind::Physician).insert(&app.db).await.unwrap();
        let mut converted = lead(Some("ann@example.org"), None);
        converted.status = Set(PatientStatus::Patient);
        converted.converted_at = Set(Some(Utc::now()));
        let patient = converted.insert(&app.db).await.unwrap();
        refused(referral(app, patient.id, physician.id, Eligibility::Ineligible, None).await);
        refused(referral(app, patient.id, physician.id, Eligibility::Eligible, Some("too old")).await);
        referral(app, patient.id, physician.id, Eligibility::Ineligible, Some("Outside the age range")).await.unwrap();
    }
}

/// Two deploys migrating an empty database at once: both succeed, each step
/// is applied exactly once.
async fn race_migrations(url: &str) {
    use navigator::db::{self, PoolSettings, migrations};
    let settings = PoolSettings {
        max_connections: 2,
        ..Default::default()
    };
    let (a, b) = (
        db::connect(url, settings).unwrap(),
        db::connect(url, settings).unwrap(),
    );
    let (first, second) = tokio::join!(migrations::run(&a), migrations::run(&b));
    let (first, second) = (first.expect("first runner"), second.expect("second runner"));
    let mut all: Vec<i64> = first.iter().chain(&second).copied().collect();
    all.sort();
    let expected: Vec<i64> = migrations::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        all, expected,
        "every step applied once: {first:?} + {second:?}"
    );
    assert!(migrations::is_current(&a).await.unwrap());
    a.close().await.ok();
    b.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_each_step_once_on_sqlite() {
    on_an_empty_sqlite(async |url| race_migrations(url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_each_step_once_on_postgres() {
    on_an_empty_postgres(async |url| race_migrations(url).await).await;
}

/// Migration 5 replaces the links' primary key by an index on the patient
/// (on SQLite, by rebuilding the table): the reads logged before it are
/// still there after it, still found by patient, and still append-only.
async fn reads_logged_before_migration_5_survive_it(url: &str) {
    use navigator::db::{
        self, PoolSettings,
        access_log::reads_of,
        entities::{access_event, access_event_patient},
        migrations,
        store::PageRequest,
    };
    use sea_orm::{ConnectionTrait, EntityTrait};
    let db = db::connect(url, PoolSettings::default()).unwrap();
    migrations::run_through(&db, 4).await.unwrap();
    let (patient, event) = (Uuid::now_v7(), Uuid::now_v7());
    access_event::Entity::insert(access_event::ActiveModel {
        id: Set(event),
        at: Set(Utc::now()),
        actor: Set("before-5".into()),
        route: Set("GET /v1/patients/{id}".into()),
    })
    .exec_without_returning(&db)
    .await
    .unwrap();
    access_event_patient::Entity::insert(access_event_patient::ActiveModel {
        patient_id: Set(patient),
        event_id: Set(event),
    })
    .exec_without_returning(&db)
    .await
    .unwrap();

    assert_eq!(migrations::run_through(&db, 5).await.unwrap(), [5]);
    let page = PageRequest {
        limit: 10,
        after: None,
        count: true,
    };
    let listed = reads_of(&db, patient, page).await.unwrap();
    assert_eq!(listed.total, Some(1));
    assert_eq!(listed.items[0].actor, "before-5");
    let refused = db
        .execute_unprepared("DELETE FROM access_event_patients")
        .await
        .expect_err("the links stay append-only");
    assert!(refused.to_string().contains("append-only"), "{refused}");
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_logged_before_migration_5_survive_it_on_sqlite() {
    on_an_empty_sqlite(async |url| reads_logged_before_migration_5_survive_it(url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_logged_before_migration_5_survive_it_on_postgres() {
    on_an_empty_postgres(async |url| reads_logged_before_migration_5_survive_it(url).await).await;
}

/// Migration 6 drops the erasures' foreign key to patients (on SQLite, by
/// rebuilding the table): an erasure recorded before it is still there,
/// still one per person and append-only, and a patient deleted afterwards
/// can be erased.
async fn erasures_recorded_before_migration_6_survive_it(url: &str) {
    use navigator::db::{
        self, PoolSettings,
        entities::{erasure, patient},
        migrations,
    };
    use sea_orm::{ConnectionTrait, EntityTrait};
    let db = db::connect(url, PoolSettings::default()).unwrap();
    migrations::run_through(&db, 5).await.unwrap();
    // The patient as migration 5 left the table: without the columns later
    // migrations add (its owner, migration 8).
    let mut row = lead(None, Some("+31 6 1234 5678"));
    row.owner_id = sea_orm::ActiveValue::NotSet;
    let erased_id = row.id.clone().unwrap();
    patient::Entity::insert(row)
        .exec_without_returning(&db)
        .await
        .unwrap();
    let record = |id: Uuid, patient_id: Uuid| erasure::ActiveModel {
        id: Set(id),
        patient_id: Set(patient_id),
        actor: Set("admin-before-6".into()),
        reason: Set("request".into()),
        erased_at: Set(Utc::now()),
    };
    record(Uuid::now_v7(), erased_id).insert(&db).await.unwrap();
    let gone = Uuid::now_v7();
    assert!(
        record(Uuid::now_v7(), gone).insert(&db).await.is_err(),
        "before migration 6, an erasure needs a live patient"
    );

    assert_eq!(migrations::run_through(&db, 6).await.unwrap(), [6]);
    let kept = erasure::Entity::find().all(&db).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].patient_id, kept[0].actor.as_str()),
        (erased_id, "admin-before-6")
    );
    record(Uuid::now_v7(), gone).insert(&db).await.unwrap();
    assert!(
        record(Uuid::now_v7(), erased_id).insert(&db).await.is_err(),
        "still one erasure per person"
    );
    let refused = db
        .execute_unprepared("DELETE FROM erasures")
        .await
        .expect_err("erasures stay append-only");
    assert!(refused.to_string().contains("append-only"), "{refused}");
    migrations::run(&db).await.unwrap();
    patient::Entity::delete_by_id(erased_id)
        .exec(&db)
        .await
        .unwrap();
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasures_recorded_before_migration_6_survive_it_on_sqlite() {
    on_an_empty_sqlite(async |url| erasures_recorded_before_migration_6_survive_it(url).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasures_recorded_before_migration_6_survive_it_on_postgres() {
    on_an_empty_postgres(async |url| erasures_recorded_before_migration_6_survive_it(url).await)
        .await;
}

/// Runs `check` against the URL of a new, empty SQLite file.
async fn on_an_empty_sqlite(check: impl AsyncFnOnce(&str)) {
    let dir = std::env::temp_dir().join(format!("navigator-migrate-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    check(&format!("sqlite://{}/empty.db", dir.display())).await;
    std::fs::remove_dir_all(dir).ok();
}

/// Runs `check` against the URL of a new, empty PostgreSQL schema.
async fn on_an_empty_postgres(check: impl AsyncFnOnce(&str)) {
    use navigator::db::{self, PoolSettings};
    use sea_orm::ConnectionTrait;
    if !crate::helpers::postgres_available() {
        return;
    }
    let admin_url = crate::helpers::postgres_admin_url();
    let schema = format!("m_{}", Uuid::now_v7().simple());
    let admin = db::connect(
        &admin_url,
        PoolSettings {
            max_connections: 1,
            ..Default::default()
        },
    )
    .unwrap();
    admin
        .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .unwrap();
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    check(&format!(
        "{admin_url}{separator}options=-c%20search_path%3D{schema}"
    ))
    .await;
    admin
        .execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
