//! The request flows every collection shares, generic over the entity and
//! its declared view: read, list, create, update, delete and history, with
//! `If-Match` and `Idempotency-Key`. Every record they answer with is
//! [`Shown`] as the caller's role may see it, and every answer that
//! discloses a patient is marked for the access log, here and nowhere
//! else. (The role an operation needs is checked earlier, by its handler's
//! `Caller` extractor, which `resource_routes!` writes.) A collection
//! supplies only what is its own: its view, its filters, how a body
//! becomes columns, and its rules.

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::{ActiveModelTrait, Condition, EntityTrait, IntoActiveModel, Select, prelude::Uuid};
use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};

use super::declare::{Declared, Shown};
use crate::{
    db::{
        self,
        store::{self, DateOrder},
    },
    http::{
        ApiError, ApiResult, AppState, Principal,
        access_log::Disclosed,
        extract::BodyDigest,
        history::HistoryEntry,
        idempotency::{Created, Idempotency},
        pagination::{self, Page, PageParams},
        versioning::{IfMatch, Tagged, Versioned},
    },
};

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> Self {
        match err {
            store::StoreError::NotFound => ApiError::NotFound,
            store::StoreError::Stale => ApiError::PreconditionFailed,
            store::StoreError::Db(err) => err.into(),
        }
    }
}

/// A list's query: its filters and its page. Each collection's `Filters`.
pub trait Filter<E: EntityTrait>: DeserializeOwned + Send {
    /// The fields of the view this query matches on: a role that may not
    /// read one may not filter by it either (a match would tell it the
    /// value).
    fn reads(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Binds what the filters say of the caller (`navigator=me`) to `who`.
    fn bind_caller(&mut self, _who: &Principal) {}
    /// The page asked for.
    fn page(&self) -> &PageParams;
    /// The order `sort=` asks for, by one of the collection's dates;
    /// `None`: by id (creation order).
    fn order(&self) -> ApiResult<Option<DateOrder<E::Column>>> {
        Ok(None)
    }
    /// `select` narrowed by the filters.
    fn select(self, select: Select<E>) -> ApiResult<Select<E>>;
}

/// A text filter's value without surrounding spaces.
pub fn trimmed(value: String) -> String {
    value.trim().to_owned()
}

/// A code's filter value as stored: trimmed, upper-case.
pub fn code(value: String) -> String {
    value.trim().to_uppercase()
}

/// An email filter's value as stored: trimmed, lower-case.
pub fn email(value: String) -> String {
    value.trim().to_lowercase()
}

/// The order a list's `sort` names among its `dates` (the date's field,
/// `-` before it for newest first); an unknown name is a 400.
pub fn date_order<C: Copy>(
    sort: Option<&str>,
    dates: &[(&str, C)],
) -> ApiResult<Option<DateOrder<C>>> {
    let Some(sort) = sort else { return Ok(None) };
    let (name, descending) = match sort.strip_prefix('-') {
        Some(name) => (name, true),
        None => (sort, false),
    };
    match dates.iter().find(|(field, _)| *field == name) {
        Some(&(_, column)) => Ok(Some(DateOrder { column, descending })),
        None => {
            let names: Vec<&str> = dates.iter().map(|(field, _)| *field).collect();
            Err(ApiError::BadRequest(
                "The query string is invalid.".into(),
                vec![crate::http::error::FieldError::new(
                    "sort",
                    format!(
                        "must be one of {}, each optionally after `-`",
                        names.join(", ")
                    ),
                )],
            ))
        }
    }
}

/// The OpenAPI parameters of a list's dates (each with its range) and of
/// `sort=`, which orders by any of them.
pub fn date_params(dates: &[(&str, &str, &str)]) -> Vec<utoipa::openapi::path::Parameter> {
    use utoipa::openapi::{
        ObjectBuilder, Required,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::{KnownFormat, SchemaFormat, Type},
    };
    let parameter = |name: &str, description: String, schema: ObjectBuilder| -> Parameter {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(schema))
            .build()
    };
    let moment = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
    };
    let mut params = Vec::new();
    for (date, from, to) in dates {
        params.push(parameter(from, format!("`{date}` at or after."), moment()));
        params.push(parameter(to, format!("`{date}` before."), moment()));
    }
    if let Some((first, _, _)) = dates.first() {
        let names: Vec<&str> = dates.iter().map(|(date, _, _)| *date).collect();
        let pattern = format!("^-?({})$", names.join("|"));
        params.push(parameter(
            "sort",
            format!(
                "Order by a date, oldest first, or newest first after `-` \
                 (`-{first}`); records without that date are not listed. \
                 Default: creation order."
            ),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern)),
        ));
    }
    params
}

/// What `q` matches on a collection `E` whose fields `E::SEARCHED` are
/// indexed: records where every word of `q` starts one of their words
/// (folded: case and accents do not matter). Each word is one range of
/// the index of `search_terms`. More than 200 characters is a 400.
pub fn search<E: store::Record>(q: &str) -> ApiResult<Condition> {
    use sea_orm::{
        ColumnTrait,
        sea_query::{Expr, ExprTrait, Query},
    };
    if q.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "The query string is invalid.".into(),
            vec![crate::http::error::FieldError::new(
                "q",
                "must be at most 200 characters",
            )],
        ));
    }
    let mut all = Condition::all();
    for word in crate::domain::search::words(q) {
        // Every folded term starting with `word` sorts (bytewise) between
        // `word` and `word` followed by the last code point.
        let end = format!("{word}{}", char::MAX);
        let matching = Query::select()
            .column("record_id")
            .from(store::SEARCH_TERMS)
            .and_where(Expr::col("collection").eq(E::COLLECTION))
            .and_where(Expr::col("term").gte(word))
            .and_where(Expr::col("term").lt(end))
            .take();
        all = all.add(E::id_column().in_subquery(matching));
    }
    Ok(all)
}

/// `select` narrowed to `column` at or after `from` and before `to`.
pub fn between<E: EntityTrait>(
    select: Select<E>,
    column: E::Column,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Select<E> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let select = match from {
        Some(from) => select.filter(column.gte(from)),
        None => select,
    };
    match to {
        Some(to) => select.filter(column.lt(to)),
        None => select,
    }
}

/// What a write names besides its own record, checked only when the
/// database refuses the write ([`refused`]).
pub type References<'a> = BoxFuture<'a, ApiResult<()>>;

/// A create body: the row it becomes, by the collection's rules.
pub trait NewRecord<E: EntityTrait>: DeserializeOwned + Send {
    /// The row to insert (its bookkeeping from `store::new_row`)
    /// and the courtesy checks of the records it names.
    fn into_row<'a>(
        self,
        state: &'a AppState,
    ) -> impl Future<Output = ApiResult<(E::ActiveModel, References<'a>)>> + Send + 'a;
}

/// What a PATCH body declared with [`changes!`](crate::changes) writes:
/// each column it carries.
pub trait Writes<E: EntityTrait> {
    /// Sets on `row` each column the body changes.
    fn write(self, row: &mut E::ActiveModel);
}

/// A PATCH body: the changes it makes, by the collection's rules.
pub trait Change<E: EntityTrait>: Writes<E> + DeserializeOwned + Send + Sized {
    /// The courtesy checks of the records the body names.
    fn references<'a>(&self, _state: &'a AppState) -> References<'a> {
        Box::pin(no_references())
    }
    /// Checks the collection's rules against the `current` record, then
    /// writes the changed columns on `row`. Without rules, just writes.
    fn apply(self, _current: &E::Model, row: &mut E::ActiveModel) -> ApiResult<()> {
        self.write(row);
        Ok(())
    }
}

/// The pattern of a [`Someone`] in the OpenAPI document.
pub const SOMEONE: &str =
    "^(me|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";

/// A member of staff named in a filter: `me` (the caller) or an id (the
/// filter's OpenAPI pattern says the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Someone {
    /// The caller.
    Me,
    /// The staff record with this id.
    Id(Uuid),
}

impl std::str::FromStr for Someone {
    type Err = uuid::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "me" => Ok(Someone::Me),
            id => id.parse().map(Someone::Id),
        }
    }
}

impl<'de> Deserialize<'de> for Someone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("expected `me` or a staff id"))
    }
}

impl utoipa::PartialSchema for Someone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(SOMEONE))
            .examples(["me"])
            .into()
    }
}

impl utoipa::ToSchema for Someone {}

impl Someone {
    /// The staff id, `me` being the staff id `me`.
    pub fn id(self, me: Uuid) -> Uuid {
        match self {
            Someone::Me => me,
            Someone::Id(id) => id,
        }
    }
}

/// A record's view as the caller may see it, with its ETag, recorded in
/// the access log where it discloses a patient.
pub fn shown<V: Declared + Versioned>(who: &Principal, view: V) -> Disclosed<Tagged<Shown<V>>> {
    let shown = Shown::new(view, who.role);
    Disclosed::new(who, shown.disclosed_patient(), Tagged(shown))
}

/// `GET /v1/{collection}/{id}`.
pub async fn get<E, V>(
    state: &AppState,
    who: &Principal,
    id: Uuid,
) -> ApiResult<Disclosed<Tagged<Shown<V>>>>
where
    E: store::Record,
    V: From<E::Model> + Declared + Versioned,
{
    Ok(shown(who, V::from(store::find::<E>(&state.db, id).await?)))
}

/// Records as the caller may see them, and the patients they disclose.
pub fn shown_all<M, V: From<M> + Declared>(
    who: &Principal,
    records: impl IntoIterator<Item = M>,
) -> (Vec<Shown<V>>, Vec<Uuid>) {
    let shown: Vec<Shown<V>> = records
        .into_iter()
        .map(|m| Shown::new(V::from(m), who.role))
        .collect();
    let patients = shown.iter().filter_map(Shown::disclosed_patient).collect();
    (shown, patients)
}

/// `filters` bound to the caller (`me`), unless they match on a field the
/// caller may not read (403: a match would tell the value).
pub fn bound<E, V, F>(who: &Principal, mut filters: F) -> ApiResult<F>
where
    E: EntityTrait,
    V: Declared,
    F: Filter<E>,
{
    filters.bind_caller(who);
    if filters
        .reads()
        .iter()
        .any(|field| !V::DECLARATION.readable(who.role, field))
    {
        return Err(ApiError::Forbidden);
    }
    Ok(filters)
}

/// `GET /v1/{collection}`, filtered by `F`.
pub async fn list<E, V, F>(
    state: &AppState,
    who: &Principal,
    filters: F,
) -> ApiResult<Disclosed<Json<Page<Shown<V>>>>>
where
    E: store::Record,
    E::Model: Sync,
    V: From<E::Model> + Declared,
    F: Filter<E>,
{
    let found = listed::<E, V, F>(state, who, filters).await?;
    Ok(page_of(who, found, V::from))
}

/// One page of a list's records and the cursor to the next.
pub struct Found<M> {
    /// The records.
    pub items: Vec<M>,
    /// Where the next page starts, when one follows.
    pub next_cursor: Option<String>,
    /// The number of matching records, when asked.
    pub total: Option<u64>,
}

/// The records of a list's page, by id or by the date its `sort` names;
/// for a list that adds to its views. A role may not filter by a field of
/// `V` it may not read.
pub async fn listed<E, V, F>(
    state: &AppState,
    who: &Principal,
    filters: F,
) -> ApiResult<Found<E::Model>>
where
    E: store::Record,
    E::Model: Sync,
    V: Declared,
    F: Filter<E>,
{
    let filters = bound::<E, V, F>(who, filters)?;
    Ok(match filters.order()? {
        None => {
            let page = filters.page().parse()?;
            let listed = store::list(&state.db, filters.select(E::find())?, page).await?;
            Found {
                next_cursor: listed.next_after.map(pagination::encode_cursor),
                items: listed.items,
                total: listed.total,
            }
        }
        Some(order) => {
            let (page, after_at) = filters.page().parse_by_date()?;
            let select = filters.select(E::find())?;
            let listed = store::list_by_date(&state.db, select, order, page, after_at).await?;
            Found {
                next_cursor: listed
                    .next_after
                    .map(|(at, id)| pagination::encode_date_cursor(at, id)),
                items: listed.items,
                total: listed.total,
            }
        }
    })
}

/// A page of records as views the caller may see, marked with the patients
/// they show.
pub fn page_of<M, V: Declared>(
    who: &Principal,
    found: Found<M>,
    view: impl FnMut(M) -> V,
) -> Disclosed<Json<Page<Shown<V>>>> {
    let (items, patients) = shown_all(who, found.items.into_iter().map(view));
    let page = Page {
        items,
        next_cursor: found.next_cursor,
        total: found.total,
    };
    Disclosed::new(who, patients, Json(page))
}

/// `POST /v1/{collection}`: inserts the body's row as the caller
/// (replaying the first response for a repeated `Idempotency-Key`).
pub async fn create<E, V, B>(
    state: &AppState,
    who: &Principal,
    idempotency: &Idempotency,
    digest: &BodyDigest,
    body: B,
) -> ApiResult<Disclosed<Response>>
where
    E: store::Record,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    V: From<E::Model> + Declared + Versioned,
    B: NewRecord<E>,
{
    let (row, references) = body.into_row(state).await?;
    let tx = db::begin_write(&state.db).await?;
    if let Some(replayed) = idempotency.replay(&tx, &who.subject, digest).await? {
        // A replay discloses what the first response did.
        let field = V::DECLARATION
            .patient
            .filter(|_| V::DECLARATION.is_logged());
        return disclosed_by_body(who, field, replayed).await;
    }
    let created = match store::insert::<E>(&tx, &who.subject, row).await {
        Ok(created) => created,
        Err(err) => return Err(refused(tx, err, references).await),
    };
    let location = format!("/v1/{}/{}", E::COLLECTION, E::id_of(&created));
    let shown = Shown::new(V::from(created), who.role);
    let response = idempotency
        .respond(
            &tx,
            &who.subject,
            Created::new(location, shown.version(), &shown)?,
        )
        .await?;
    tx.commit().await?;
    Ok(Disclosed::new(who, shown.disclosed_patient(), response))
}

/// A stored response (a replayed creation, an intake receipt) marked for
/// the access log with the patient its body names in `field`, if any.
pub async fn disclosed_by_body(
    who: &Principal,
    field: Option<&str>,
    response: Response,
) -> ApiResult<Disclosed<Response>> {
    let Some(field) = field else {
        return Ok(Disclosed::new(who, None, response));
    };
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|err| ApiError::Internal(format!("stored body: {err}")))?;
    let patient = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|json| json.get(field)?.as_str()?.parse().ok());
    let response = Response::from_parts(parts, axum::body::Body::from(bytes));
    Ok(Disclosed::new(who, patient, response))
}

/// `PATCH /v1/{collection}/{id}`.
pub async fn update<E, V, B>(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    body: B,
) -> ApiResult<Disclosed<Tagged<Shown<V>>>>
where
    E: store::Mutable,
    E::Model: Serialize + IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    V: From<E::Model> + Declared + Versioned,
    B: Change<E>,
{
    let references = body.references(state);
    let tx = db::begin_write(&state.db).await?;
    let current = store::find_for_update::<E>(&tx, id).await?;
    if_match.check(E::version_of(&current))?;
    let mut row = current.clone().into_active_model();
    body.apply(&current, &mut row)?;
    let updated = match store::update::<E>(&tx, &who.subject, &current, row).await {
        Ok(updated) => updated,
        Err(err) => return Err(refused(tx, err, references).await),
    };
    tx.commit().await?;
    Ok(shown(who, V::from(updated)))
}

/// `GET /v1/{collection}/{id}/history`: each entry's changes as the caller
/// may see the record's fields, recorded in the access log where they
/// disclose the patient. 404 if the record never existed (a deleted record
/// keeps its history).
pub async fn history<E, V>(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    params: &PageParams,
) -> ApiResult<Disclosed<Json<Page<HistoryEntry>>>>
where
    E: store::Record,
    V: Declared,
{
    let declaration = V::DECLARATION;
    let mut page = crate::http::history::list(state, E::COLLECTION, id, params).await?;
    let mut patients = Vec::new();
    for entry in &mut page.items {
        if let serde_json::Value::Object(changes) = &mut entry.changes {
            if declaration.is_logged() {
                patients.extend(declaration.patient.and_then(|field| {
                    match field {
                        "id" => Some(id),
                        _ => changes
                            .get(field)
                            .and_then(|c| c.get("to").or_else(|| c.get("from")))
                            .and_then(|v| v.as_str()?.parse().ok()),
                    }
                }));
            }
            declaration.redact(who.role, changes);
        }
    }
    patients.sort_unstable();
    patients.dedup();
    Ok(Disclosed::new(who, patients, Json(page)))
}

/// `DELETE /v1/{collection}/{id}`: a record still referred to is a 409,
/// never a cascade.
pub async fn delete<E>(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> ApiResult<StatusCode>
where
    E: store::Mutable,
    E::Model: Serialize,
{
    let tx = db::begin_write(&state.db).await?;
    let current = store::find_for_update::<E>(&tx, id).await?;
    if_match.check(E::version_of(&current))?;
    store::delete::<E>(&tx, &who.subject, &current).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// For a write that names no other record: nothing to explain.
pub fn no_references() -> std::future::Ready<ApiResult<()>> {
    std::future::ready(Ok(()))
}

/// The answer to a write the database refused. On a foreign key, the
/// courtesy checks name the field at fault (a 422), once the transaction
/// has ended (its connection, and on SQLite the write turn, are not held
/// while they read). The foreign keys guarantee what the checks would, so
/// a write that succeeds never runs them. If they all pass (a record went
/// away meanwhile), the schema's 409 stands.
async fn refused(
    tx: db::WriteTransaction,
    err: store::StoreError,
    references: impl Future<Output = ApiResult<()>>,
) -> ApiError {
    drop(tx);
    let on_foreign_key = matches!(&err, store::StoreError::Db(err)
        if matches!(db::conflict(err), Some(db::Conflict::ForeignKey(_))));
    if !on_foreign_key {
        return err.into();
    }
    match references.await {
        Err(named) => named,
        Ok(()) => err.into(),
    }
}

/// A PATCH field the body carried: absent → `None` (the field's
/// default), a value → `Some(v)`. For a field that may be cleared `T` is
/// an `Option`, so `null` → `Some(None)`; for one that may not, `null` is
/// an error rather than silently ignored.
pub fn given<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A PATCH body, declared once: each field the body may change, named as
/// its column, with `| null` where `null` clears it. Writes the struct
/// (unknown fields refused; an absent field changes nothing) and its
/// [`Writes`] implementation; the collection's rules go in its [`Change`]
/// implementation.
///
/// ```ignore
/// changes! {
///     /// Changes to a call.
///     pub struct Patch as CallPatch for Entity {
///         scheduled_at: DateTime<Utc>,
///         notes: Text | null,
///     }
/// }
/// ```
#[macro_export]
macro_rules! changes {
    (
        $(#[$meta:meta])*
        pub struct $name:ident as $schema:ident for $entity:ty { $($fields:tt)* }
    ) => {
        $crate::changes!(@field [[$(#[$meta])*] $name $schema $entity] [] [] $($fields)*);
    };
    (@field $head:tt [$($def:tt)*] [$($set:tt)*]
        $(#[$fmeta:meta])* $field:ident : $ty:ty | null $(, $($rest:tt)*)?) => {
        $crate::changes!(@field $head
            [$($def)*
                $(#[$fmeta])*
                #[serde(default, deserialize_with = "crate::http::resources::common::given")]
                pub $field: Option<Option<$ty>>,]
            [$($set)* $field (cleared)]
            $($($rest)*)?);
    };
    (@field $head:tt [$($def:tt)*] [$($set:tt)*]
        $(#[$fmeta:meta])* $field:ident : $ty:ty $(, $($rest:tt)*)?) => {
        $crate::changes!(@field $head
            [$($def)*
                $(#[$fmeta])*
                #[serde(default, deserialize_with = "crate::http::resources::common::given")]
                #[schema(nullable = false)]
                pub $field: Option<$ty>,]
            [$($set)* $field (kept)]
            $($($rest)*)?);
    };
    (@field [[$($meta:tt)*] $name:ident $schema:ident $entity:ty] [$($def:tt)*]
        [$($field:ident $how:tt)*]) => {
        $($meta)*
        #[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[schema(as = $schema)]
        pub struct $name { $($def)* }

        impl $crate::http::resources::common::Writes<$entity> for $name {
            fn write(self, row: &mut <$entity as sea_orm::EntityTrait>::ActiveModel) {
                $( $crate::changes!(@set row self.$field $how); )*
            }
        }
    };
    (@set $row:ident $self:ident . $field:ident (kept)) => {
        if let Some(value) = $self.$field {
            $row.$field = sea_orm::ActiveValue::Set(value.into());
        }
    };
    (@set $row:ident $self:ident . $field:ident (cleared)) => {
        if let Some(value) = $self.$field {
            $row.$field = sea_orm::ActiveValue::Set(value.map(Into::into));
        }
    };
}

/// Courtesy check of a record a write names: a missing record is a 422 on
/// `field`, where the foreign key gives a less precise 409. A write's
/// references are checked after the database refused it ([`refused`]); a
/// rule that needs the record reads it first.
pub async fn referenced<E: store::Record>(
    state: &AppState,
    field: &str,
    id: Option<Uuid>,
) -> ApiResult<Option<E::Model>> {
    let Some(id) = id else { return Ok(None) };
    match store::find::<E>(&state.db, id).await {
        Ok(model) => Ok(Some(model)),
        Err(store::StoreError::NotFound) => {
            Err(ApiError::invalid(field, "names no existing record"))
        }
        Err(err) => Err(err.into()),
    }
}

/// [`referenced`], for a write's references.
pub async fn exists<E: store::Record>(
    state: &AppState,
    field: &str,
    id: Option<Uuid>,
) -> ApiResult<()> {
    referenced::<E>(state, field, id).await.map(drop)
}

/// The courtesy check of a write's `medical_condition_id`.
pub fn condition(state: &AppState, id: Option<Uuid>) -> References<'_> {
    use crate::db::entities::medical_condition;
    Box::pin(exists::<medical_condition::Entity>(
        state,
        "/medical_condition_id",
        id,
    ))
}

/// Courtesy check that `id` names a practitioner of kind physician.
pub async fn physician(state: &AppState, field: &str, id: Option<Uuid>) -> ApiResult<()> {
    use crate::db::entities::practitioner;
    match referenced::<practitioner::Entity>(state, field, id).await? {
        Some(p) if p.kind != crate::domain::PractitionerKind::Physician => Err(ApiError::invalid(
            field,
            "must name a practitioner of kind physician",
        )),
        _ => Ok(()),
    }
}

/// The rules every referral and enrollment shares: the patient exists
/// (else 422), is converted (else 409), and has a physician: the one given
/// (which must be a physician) or, by default, the patient's own (else
/// 409). Returns the physician's id. The schema enforces the same through
/// its composite foreign keys.
pub async fn journey_physician(
    state: &AppState,
    patient_id: Uuid,
    physician_id: Option<Uuid>,
) -> ApiResult<Uuid> {
    use crate::{db::entities::patient, domain::PatientStatus};
    let patient = referenced::<patient::Entity>(state, "/patient_id", Some(patient_id))
        .await?
        .ok_or_else(|| ApiError::invalid("/patient_id", "names no existing record"))?;
    if patient.status != PatientStatus::Patient {
        return Err(ApiError::Conflict("The patient must be converted (POST /v1/patients/{id}/convert) before referrals or enrollments.".into()));
    }
    match physician_id.or(patient.physician_id) {
        Some(id) => {
            physician(state, "/physician_id", Some(id)).await?;
            Ok(id)
        }
        None => Err(ApiError::Conflict(
            "The patient has no physician: assign one to the patient or give physician_id.".into(),
        )),
    }
}
