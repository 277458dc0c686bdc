//! The operations every resource shares, written once and generic over the
//! entity: read by id, insert, versioned update and delete (each recording
//! its history row in the same transaction), and keyset-paginated lists.
//! What differs between resources (their rules) stays in their handlers.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, FromQueryResult, Iterable, ModelTrait, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, Statement,
    prelude::Uuid,
    sea_query::{Expr, ExprTrait, Query, ValueType},
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::entities::history;

/// A table of records with a uuid id, and the name of its API collection.
pub trait Record: EntityTrait {
    /// The collection's name in the API (`patients`) and in history.
    const COLLECTION: &'static str;
    /// The `id` column.
    fn id_column() -> Self::Column;
    /// A model's id.
    fn id_of(model: &Self::Model) -> Uuid;
    /// The SQL of the read by id ([`find`]) on `backend`, built once.
    fn select_by_id(backend: DbBackend) -> &'static str;
    /// The fields whose words find a record (`q`), kept in `search_terms`
    /// by every write of the store.
    const SEARCHED: &'static [&'static str] = &[];
}

/// A statement's SQL for each backend, built by sea-query on first use, for
/// the statements run most: reads by id, the commonest request, where
/// building the `SELECT` each time (sea-query's statement tree, then its
/// SQL) cost more of a GET's CPU than decoding the row; and the access
/// log's INSERTs. Only the SQL is kept; the values are bound per call.
pub struct SqlPerBackend([OnceLock<String>; 3]);

impl SqlPerBackend {
    /// Nothing built yet.
    #[allow(clippy::new_without_default)] // a `static`'s initialiser: `const`
    pub const fn new() -> Self {
        Self([const { OnceLock::new() }; 3])
    }

    /// The SQL on `backend`: `build`'s the first time.
    pub fn get_or_build(&self, backend: DbBackend, build: impl FnOnce() -> String) -> &str {
        let slot = match backend {
            DbBackend::Postgres => 0,
            DbBackend::Sqlite => 1,
            _ => 2,
        };
        self.0[slot].get_or_init(build)
    }

    /// `E`'s read by id on `backend`.
    pub fn select_by_id<E: Record>(&self, backend: DbBackend) -> &str {
        self.get_or_build(backend, || {
            // A placeholder id: the statement's one value, bound per call.
            E::find()
                .filter(E::id_column().eq(Uuid::nil()))
                .build(backend)
                .sql
        })
    }
}

/// A record that can change: it has a version and an update time.
pub trait Mutable: Record {
    /// The `version` column.
    fn version_column() -> Self::Column;
    /// The `updated_at` column.
    fn updated_at_column() -> Self::Column;
    /// The `created_at` column.
    fn created_at_column() -> Self::Column;
    /// A model's version.
    fn version_of(model: &Self::Model) -> i32;
}

/// Implements [`Record`] and [`Mutable`] for entities with the standard
/// columns.
macro_rules! record {
    ($module:ident, $collection:literal $(, searched: $searched:expr)?) => {
        impl crate::db::store::Record for crate::db::entities::$module::Entity {
            const COLLECTION: &'static str = $collection;
            $(const SEARCHED: &'static [&'static str] = $searched;)?
            fn id_column() -> Self::Column {
                crate::db::entities::$module::Column::Id
            }
            fn id_of(model: &Self::Model) -> sea_orm::prelude::Uuid {
                model.id
            }
            fn select_by_id(backend: sea_orm::DbBackend) -> &'static str {
                static SQL: crate::db::store::SqlPerBackend =
                    crate::db::store::SqlPerBackend::new();
                SQL.select_by_id::<Self>(backend)
            }
        }
    };
    ($module:ident, $collection:literal, mutable $(, searched: $searched:expr)?) => {
        record!($module, $collection $(, searched: $searched)?);
        impl crate::db::store::Mutable for crate::db::entities::$module::Entity {
            fn version_column() -> Self::Column {
                crate::db::entities::$module::Column::Version
            }
            fn updated_at_column() -> Self::Column {
                crate::db::entities::$module::Column::UpdatedAt
            }
            fn created_at_column() -> Self::Column {
                crate::db::entities::$module::Column::CreatedAt
            }
            fn version_of(model: &Self::Model) -> i32 {
                model.version
            }
        }
    };
}

record!(medical_condition, "medical-conditions", mutable);
record!(hospital, "hospitals", mutable, searched: &["name", "city"]);
record!(specialization, "specializations", mutable);
record!(
    practitioner,
    "practitioners",
    mutable,
    searched: &["first_name", "last_name", "email", "license_number"]
);
record!(
    patient,
    "patients",
    mutable,
    searched: &["first_name", "last_name", "email", "phone"]
);
record!(call, "calls", mutable);
record!(expanded_access_program, "expanded-access-programs", mutable);
record!(eap_enrollment, "eap-enrollments", mutable);
record!(clinical_trial, "clinical-trials", mutable);
record!(trial_referral, "trial-referrals", mutable);
record!(intake_submission, "intake-submissions");
record!(legacy_id, "legacy-ids");
record!(staff, "staff", mutable);

/// A new record's row with what every record starts with: a fresh id
/// (UUIDv7: time-ordered, so id order is creation order), version 1, and
/// created and updated now. A collection sets its own columns and takes
/// the rest from here (`..store::new_row::<Entity>()`).
pub fn new_row<E>() -> E::ActiveModel
where
    E: Mutable,
    E::ActiveModel: ActiveModelTrait<Entity = E>,
{
    let now = Utc::now();
    let mut row = <E::ActiveModel as ActiveModelTrait>::default();
    row.set(E::id_column(), Uuid::now_v7().into());
    row.set(E::version_column(), 1.into());
    row.set(E::created_at_column(), now.into());
    row.set(E::updated_at_column(), now.into());
    row
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record has that id.
    #[error("not found")]
    NotFound,
    /// The record changed between read and write (its version moved on).
    #[error("stale version")]
    Stale,
    /// The database refused or failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Who made a change: a token's subject, `anonymous`, or `legacy-import`.
pub type Actor<'a> = &'a str;

/// Reads one record.
pub async fn find<E: Record>(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<E::Model, StoreError> {
    let backend = conn.get_database_backend();
    let statement = Statement::from_sql_and_values(backend, E::select_by_id(backend), [id.into()]);
    // Straight to the model: `E::find().from_raw_sql(..)` first built the
    // whole `SELECT` (an expression per column) only to discard it.
    E::Model::find_by_statement(statement)
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Reads one record to change it in this write transaction. On PostgreSQL
/// the row stays locked (`FOR UPDATE`) until the transaction ends, so a
/// concurrent writer of it waits its turn, and the versioned write that
/// follows cannot find a version it never read: without the lock, a PATCH
/// with no `If-Match` that lost such a race failed with 412, naming a
/// precondition it never set. SQLite's write transaction already holds
/// the database's write lock (and sea-query renders no `FOR UPDATE` for
/// it).
pub async fn find_for_update<E: Record>(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<E::Model, StoreError> {
    E::find()
        .filter(E::id_column().eq(id))
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Inserts a record and records its creation.
pub async fn insert<E>(
    conn: &impl ConnectionTrait,
    actor: Actor<'_>,
    model: E::ActiveModel,
) -> Result<E::Model, StoreError>
where
    E: Record,
    E::Model: Serialize + sea_orm::IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let created = model.insert(conn).await?;
    let after = to_json(&created);
    index_terms::<E>(conn, E::id_of(&created), None, Some(&after)).await?;
    let changes = creation(after);
    record_history(
        conn,
        E::COLLECTION,
        E::id_of(&created),
        1,
        "create",
        actor,
        changes,
    )
    .await?;
    Ok(created)
}

/// Applies the fields set in `changes` to `before`, if `before` is still
/// the current version, bumping the version; records what changed. A change
/// that sets every field to its current value writes nothing.
pub async fn update<E>(
    conn: &impl ConnectionTrait,
    actor: Actor<'_>,
    before: &E::Model,
    mut changes: E::ActiveModel,
) -> Result<E::Model, StoreError>
where
    E: Mutable,
    E::Model: Serialize,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    for column in E::Column::iter() {
        if let ActiveValue::Set(value) = changes.get(column)
            && before.get(column) == value
        {
            changes.not_set(column);
        }
    }
    if !changes.is_changed() {
        return Ok(before.clone());
    }
    let (id, version) = (E::id_of(before), E::version_of(before));
    changes.set(E::version_column(), (version + 1).into());
    changes.set(E::updated_at_column(), Utc::now().into());
    // One round trip: the row as written comes back with the UPDATE.
    let after = E::update_many()
        .set(changes)
        .filter(E::id_column().eq(id))
        .filter(E::version_column().eq(version))
        .exec_with_returning(conn)
        .await?
        .pop()
        .ok_or(StoreError::Stale)?;
    let (old, new) = (to_json(before), to_json(&after));
    index_terms::<E>(conn, id, Some(&old), Some(&new)).await?;
    let changes = diff(Some(&old), Some(&new));
    record_history(
        conn,
        E::COLLECTION,
        id,
        version + 1,
        "update",
        actor,
        changes,
    )
    .await?;
    Ok(after)
}

/// Deletes `before` if it is still the current version; records the
/// deletion. A record still referred to is a foreign-key conflict.
pub async fn delete<E>(
    conn: &impl ConnectionTrait,
    actor: Actor<'_>,
    before: &E::Model,
) -> Result<(), StoreError>
where
    E: Mutable,
    E::Model: Serialize,
{
    let (id, version) = (E::id_of(before), E::version_of(before));
    let result = E::delete_many()
        .filter(E::id_column().eq(id))
        .filter(E::version_column().eq(version))
        .exec(conn)
        .await?;
    if result.rows_affected == 0 {
        return Err(StoreError::Stale);
    }
    let old = to_json(before);
    index_terms::<E>(conn, id, Some(&old), None).await?;
    let changes = diff(Some(&old), None);
    record_history(
        conn,
        E::COLLECTION,
        id,
        version + 1,
        "delete",
        actor,
        changes,
    )
    .await?;
    Ok(())
}

/// What a list asks for: a page size, the id to start after, and whether
/// to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// How many records.
    pub limit: u64,
    /// Records after this id.
    pub after: Option<Uuid>,
    /// Whether to count the matching records.
    pub count: bool,
}

/// One page of records, the id to continue after, and the total if asked.
pub struct Listed<M> {
    /// The records, in id (creation) order.
    pub items: Vec<M>,
    /// The last id of this page when more follow.
    pub next_after: Option<Uuid>,
    /// The number of matching records.
    pub total: Option<u64>,
}

/// Runs a filtered select one page at a time, by id.
pub async fn list<E, C>(
    conn: &C,
    select: Select<E>,
    page: PageRequest,
) -> Result<Listed<E::Model>, StoreError>
where
    E: Record,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let total = if page.count {
        Some(select.clone().count(conn).await?)
    } else {
        None
    };
    let mut select = select;
    if let Some(after) = page.after {
        select = select.filter(E::id_column().gt(after));
    }
    let mut items = select
        .order_by_asc(E::id_column())
        .limit(page.limit + 1)
        .all(conn)
        .await?;
    let next_after = end_of_page(&mut items, page.limit, E::id_of);
    Ok(Listed {
        items,
        next_after,
        total,
    })
}

/// A list's order by a date column, then id; `descending` for newest first.
#[derive(Debug, Clone, Copy)]
pub struct DateOrder<C> {
    /// The date column.
    pub column: C,
    /// Newest first.
    pub descending: bool,
}

/// One page of records ordered by a date, and the position to continue
/// after when more follow.
pub struct ListedByDate<M> {
    /// The records, in the order asked.
    pub items: Vec<M>,
    /// The date and id of this page's last record when more follow.
    pub next_after: Option<(DateTime<Utc>, Uuid)>,
    /// The number of matching records, if asked.
    pub total: Option<u64>,
}

/// Runs a filtered select one page at a time ordered by a date column and
/// then id (keyset pagination: each page is an index range after the
/// previous page's last `(date, id)`, so its cost does not grow with the
/// table where an index on the filter's columns, the date and id exists).
/// Records without the date are not listed.
pub async fn list_by_date<E, C>(
    conn: &C,
    select: Select<E>,
    order: DateOrder<E::Column>,
    page: PageRequest,
    after_at: Option<DateTime<Utc>>,
) -> Result<ListedByDate<E::Model>, StoreError>
where
    E: Record,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let DateOrder { column, descending } = order;
    let select = select.filter(column.is_not_null());
    let total = if page.count {
        Some(select.clone().count(conn).await?)
    } else {
        None
    };
    let mut select = select;
    if let (Some(at), Some(id)) = (after_at, page.after) {
        // `date >= at` as well as the exact condition: both planners then
        // start the index range at the cursor.
        select = if descending {
            select.filter(column.lte(at)).filter(
                Condition::any()
                    .add(column.lt(at))
                    .add(E::id_column().lt(id)),
            )
        } else {
            select.filter(column.gte(at)).filter(
                Condition::any()
                    .add(column.gt(at))
                    .add(E::id_column().gt(id)),
            )
        };
    }
    let direction = if descending { Order::Desc } else { Order::Asc };
    let mut items = select
        .order_by(column, direction.clone())
        .order_by(E::id_column(), direction)
        .limit(page.limit + 1)
        .all(conn)
        .await?;
    let mut next_after = None;
    if items.len() as u64 > page.limit {
        items.truncate(page.limit as usize);
        if let Some(last) = items.last() {
            let at = <DateTime<Utc> as ValueType>::try_from(last.get(column))
                .map_err(|_| DbErr::Type("a list's sort column is not a date".into()))?;
            next_after = Some((at, E::id_of(last)));
        }
    }
    Ok(ListedByDate {
        items,
        next_after,
        total,
    })
}

/// Cuts a query's `limit + 1` rows to `limit`; the id to continue after
/// when there were more.
pub fn end_of_page<T>(rows: &mut Vec<T>, limit: u64, id_of: impl Fn(&T) -> Uuid) -> Option<Uuid> {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(id_of)
    } else {
        None
    }
}

/// Rewrites the search terms of record `id` of `E` when the words of its
/// searched fields changed between `before` and `after` (its JSON; `None`:
/// not yet created, or deleted). The store's writes call it; a write that
/// bypasses them calls it too.
pub async fn index_terms<E: Record>(
    conn: &impl ConnectionTrait,
    id: Uuid,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<(), DbErr> {
    if E::SEARCHED.is_empty() {
        return Ok(());
    }
    let (old, new) = (terms_of::<E>(before), terms_of::<E>(after));
    if old == new {
        return Ok(());
    }
    if !old.is_empty() {
        conn.execute(
            Query::delete()
                .from_table(SEARCH_TERMS)
                .and_where(Expr::col("record_id").eq(id))
                .and_where(Expr::col("collection").eq(E::COLLECTION)),
        )
        .await?;
    }
    let rows: Vec<TermRow> = (new.into_iter())
        .map(|term| (E::COLLECTION, id, term))
        .collect();
    insert_terms(conn, &rows).await
}

/// A row of `search_terms`: collection, record, term.
pub type TermRow = (&'static str, Uuid, String);

/// The search terms of a record of `E` whose JSON is `record`.
pub fn terms_of<E: Record>(record: Option<&Value>) -> std::collections::BTreeSet<String> {
    E::SEARCHED
        .iter()
        .filter_map(|field| record?.get(field)?.as_str())
        .flat_map(crate::domain::search::terms)
        .collect()
}

/// Inserts search-term rows, many per statement (a bulk writer such as the
/// import gathers those of many records).
pub async fn insert_terms(conn: &impl ConnectionTrait, rows: &[TermRow]) -> Result<(), DbErr> {
    // 3 parameters a row: far below SQLite's 32,766.
    for rows in rows.chunks(500) {
        let mut insert = Query::insert();
        insert
            .into_table(SEARCH_TERMS)
            .columns(["collection", "record_id", "term"]);
        for (collection, id, term) in rows {
            insert.values_panic([(*collection).into(), (*id).into(), term.clone().into()]);
        }
        conn.execute(&insert).await?;
    }
    Ok(())
}

/// The table of search terms (migration 8).
pub const SEARCH_TERMS: &str = "search_terms";

/// Appends a history row. Without `RETURNING`: nothing reads the row back,
/// and on every write that saved decoding it, its `changes` JSON included.
pub async fn record_history(
    conn: &impl ConnectionTrait,
    collection: &str,
    record_id: Uuid,
    version: i32,
    action: &str,
    actor: Actor<'_>,
    changes: Value,
) -> Result<(), DbErr> {
    history::Entity::insert(history::ActiveModel {
        id: ActiveValue::Set(Uuid::now_v7()),
        collection: ActiveValue::Set(collection.to_owned()),
        record_id: ActiveValue::Set(record_id),
        version: ActiveValue::Set(version),
        action: ActiveValue::Set(action.to_owned()),
        actor: ActiveValue::Set(actor.to_owned()),
        at: ActiveValue::Set(Utc::now()),
        changes: ActiveValue::Set(changes),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The changes of a creation: `{field: {"to": value}}` for each non-null
/// field; consumes the record's JSON instead of copying it (the importer
/// makes hundreds of thousands).
pub fn creation(after: Value) -> Value {
    let Value::Object(fields) = after else {
        return json!({});
    };
    let changes: Map<String, Value> = fields
        .into_iter()
        .filter(|(k, v)| !v.is_null() && !UNTRACKED.contains(&k.as_str()))
        .map(|(k, v)| (k, json!({ "to": v })))
        .collect();
    Value::Object(changes)
}

fn to_json<M: Serialize>(model: &M) -> Value {
    serde_json::to_value(model).unwrap_or(Value::Null)
}

/// Bookkeeping columns that change on every write and say nothing, and a
/// submission's `payload`: the submission keeps it whole and never changes,
/// so history would only copy it.
const UNTRACKED: &[&str] = &["id", "version", "created_at", "updated_at", "payload"];

/// `{field: {"from": old, "to": new}}` for every field that differs; a
/// created record has only `to`s (its non-null fields), a deleted one only
/// `from`s.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Value {
    let empty = Map::new();
    let before = before.and_then(Value::as_object).unwrap_or(&empty);
    let after = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut changes = Map::new();
    let keys = before
        .keys()
        .chain(after.keys().filter(|k| !before.contains_key(*k)));
    for key in keys.filter(|k| !UNTRACKED.contains(&k.as_str())) {
        let (old, new) = (
            before.get(key).unwrap_or(&Value::Null),
            after.get(key).unwrap_or(&Value::Null),
        );
        if old == new {
            continue;
        }
        let mut change = Map::new();
        if !old.is_null() {
            change.insert("from".into(), old.clone());
        }
        if !new.is_null() {
            change.insert("to".into(), new.clone());
        }
        changes.insert(key.clone(), Value::Object(change));
    }
    json!(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::entities::{patient, practitioner};

    #[test]
    fn each_entity_keeps_its_own_read_by_id_for_each_backend() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let built = |select: sea_orm::Statement| select.sql;
            assert_eq!(
                patient::Entity::select_by_id(backend),
                built(patient::Entity::find_by_id(Uuid::nil()).build(backend))
            );
            assert_eq!(
                practitioner::Entity::select_by_id(backend),
                built(practitioner::Entity::find_by_id(Uuid::nil()).build(backend))
            );
        }
        assert!(patient::Entity::select_by_id(DbBackend::Postgres).contains("$1"));
        assert!(patient::Entity::select_by_id(DbBackend::Sqlite).contains('?'));
    }

    #[test]
    fn a_diff_names_only_the_fields_that_changed() {
        let before =
            json!({"id": 1, "version": 1, "first_name": "Ann", "phone": null, "email": "a@b.co"});
        let after = json!({"id": 1, "version": 2, "first_name": "Anne", "phone": "12345", "email": "a@b.co"});
        assert_eq!(
            diff(Some(&before), Some(&after)),
            json!({"first_name": {"from": "Ann", "to": "Anne"}, "phone": {"to": "12345"}})
        );
    }

    #[test]
    fn a_creation_lists_its_non_null_fields() {
        let after = json!({"id": 1, "name": "GBM", "country": null});
        assert_eq!(diff(None, Some(&after)), json!({"name": {"to": "GBM"}}));
        assert_eq!(creation(after), json!({"name": {"to": "GBM"}}));
    }
}
