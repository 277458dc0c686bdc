//! The schema is the guarantee: rows written around the API (as a script
//! or a future importer could) are refused by the database's own
//! constraints, on both backends.

use chrono::Utc;
use navigator::db::entities::{clinical_trial, patient, practitioner, trial_referral};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr, prelude::Uuid};

use crate::{helpers::TestApp, on_both_databases};

fn lead(email: Option<&str>, phone: Option<&str>) -> patient::ActiveModel {
    let now = Utc::now();
    patient::ActiveModel {
        id: Set(Uuid::now_v7()),
        status: Set("lead".into()),
        first_name: Set(None),
        last_name: Set(None),
        email: Set(email.map(Into::into)),
        phone: Set(phone.map(Into::into)),
        medical_condition_id: Set(None),
        physician_id: Set(None),
        physician_kind: Set("physician".into()),
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

fn practitioner(kind: &str) -> practitioner::ActiveModel {
    let now = Utc::now();
    practitioner::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.into()),
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
    eligibility: &str,
    reason: Option<&str>,
) -> Result<trial_referral::Model, DbErr> {
    referral_by(app, patient, Some(physician), false, eligibility, reason).await
}

async fn referral_by(
    app: &TestApp,
    patient: Uuid,
    physician: Option<Uuid>,
    imported: bool,
    eligibility: &str,
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
        status: Set("recruiting".into()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await?;
    trial_referral::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        patient_status: Set("patient".into()),
        trial_id: Set(trial.id),
        physician_id: Set(physician),
        physician_kind: Set("physician".into()),
        imported: Set(imported),
        referred_at: Set(None),
        eligibility: Set(eligibility.into()),
        ineligible_reason: Set(reason.map(Into::into)),
        outcome: Set("pending".into()),
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
        let mut row = lead(Some("ann@example.org"), None);
        row.status = Set("vip".into());
        refused(row.insert(&app.db).await);
    }

    async fn the_database_refuses_a_patient_status_without_a_conversion_time(app) {
        let mut row = lead(Some("ann@example.org"), None);
        row.status = Set("patient".into());
        refused(row.insert(&app.db).await);
    }

    async fn the_database_refuses_a_pharmacist_as_a_patients_physician(app) {
        let pharmacist = practitioner("pharmacist").insert(&app.db).await.unwrap();
        let mut row = lead(Some("ann@example.org"), None);
        row.physician_id = Set(Some(pharmacist.id));
        refused(row.insert(&app.db).await);
    }

    async fn the_database_refuses_a_referral_for_a_lead(app) {
        let physician = practitioner("physician").insert(&app.db).await.unwrap();
        let lead = lead(Some("ann@example.org"), None).insert(&app.db).await.unwrap();
        refused(referral(app, lead.id, physician.id, "pending", None).await);
    }

    async fn the_database_requires_a_physician_on_a_referral_unless_it_was_imported(app) {
        let mut converted = lead(Some("ann@example.org"), None);
        converted.status = Set("patient".into());
        converted.converted_at = Set(Some(Utc::now()));
        let patient = converted.insert(&app.db).await.unwrap();
        refused(referral_by(app, patient.id, None, false, "pending", None).await);
        referral_by(app, patient.id, None, true, "pending", None).await.unwrap();
    }

    async fn the_database_requires_a_reason_exactly_when_ineligible(app) {
        let physician = practitioner("physician").insert(&app.db).await.unwrap();
        let mut converted = lead(Some("ann@example.org"), None);
        converted.status = Set("patient".into());
        converted.converted_at = Set(Some(Utc::now()));
        let patient = converted.insert(&app.db).await.unwrap();
        refused(referral(app, patient.id, physician.id, "ineligible", None).await);
        refused(referral(app, patient.id, physician.id, "eligible", Some("too old")).await);
        referral(app, patient.id, physician.id, "ineligible", Some("Outside the age range")).await.unwrap();
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
