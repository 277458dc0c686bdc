//! The operations of a collection, declared once: each line names an
//! operation, the role it needs and its doc, and [`resource_routes!`]
//! writes its handler (with its `Caller` check and OpenAPI annotation, the
//! same role as the bearer scope) around the shared flows of
//! [`common`](super::common). A collection's module holds only what is its
//! own.

/// The routes of a collection from its declaration of operations:
///
/// ```ignore
/// resource_routes! {
///     entity: Entity, view: View, tag: TAG, collection: "calls", also: [other];
///     /// List calls.
///     list_calls: list(Filters) for "viewer";
///     /// Book or log a call (navigator).
///     create_call: create(Create) for "navigator";
///     /// Read a call.
///     get_call: read for "viewer";
///     /// Change a call (navigator).
///     update_call: update(Patch) for "navigator";
///     /// Delete a call (admin).
///     delete_call: delete for "admin";
///     /// A call's history.
///     get_call_history: history for "navigator";
/// }
/// ```
///
/// Writes one handler per line and `pub fn routes()`, which serves them and
/// the handlers named in `also` (the collection's own operations).
// `crate::` rather than `$crate::`: the macro serves this crate only, and
// the paths also go into `#[utoipa::path]`, whose parser takes plain paths.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! resource_routes {
    (
        entity: $entity:ty, view: $view:ty, tag: $tag:expr, collection: $collection:literal
        $(, also: [$($also:ident),* $(,)?])?;
        $( $(#[$doc:meta])* $name:ident : $op:ident $(($body:ty))? for $role:tt; )*
    ) => {
        /// The handlers `resource_routes!` writes.
        mod operations {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use crate::http::{history::HistoryEntry, pagination::Page};
            $(
                $crate::resource_routes!(@role $role $op $name { $(#[$doc])* }
                    [$entity, $view, $tag, $collection] $($body)?);
            )*

            /// The handlers above, served.
            pub(super) fn served(
                router: axum::Router<crate::http::AppState>,
            ) -> axum::Router<crate::http::AppState> {
                $( let router = $crate::served!(router, $name); )*
                router
            }
        }

        /// The collection's routes with their OpenAPI operations.
        pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::http::AppState> {
            utoipa_axum::router::OpenApiRouter::new()
                $(.routes(utoipa_axum::routes!(operations::$name)))*
                $($(.routes(utoipa_axum::routes!($also)))*)?
        }

        /// The collection's routes as served: the same handlers at the
        /// same paths, without their OpenAPI operations.
        pub fn served() -> axum::Router<crate::http::AppState> {
            let router = operations::served(axum::Router::new());
            $($( let router = $crate::served!(router, $also); )*)?
            router
        }
    };

    // The role's marker type, written as a plain path for utoipa.
    (@role "viewer" $op:ident $name:ident $attr:tt [$($args:tt)*] $($body:ty)?) => {
        $crate::resource_routes!(@op $op $name $attr [$($args)*, "viewer", Viewer] $($body)?);
    };
    (@role "navigator" $op:ident $name:ident $attr:tt [$($args:tt)*] $($body:ty)?) => {
        $crate::resource_routes!(@op $op $name $attr [$($args)*, "navigator", Navigator] $($body)?);
    };
    (@role "admin" $op:ident $name:ident $attr:tt [$($args:tt)*] $($body:ty)?) => {
        $crate::resource_routes!(@op $op $name $attr [$($args)*, "admin", Admin] $($body)?);
    };

    (@op list $name:ident { $($attr:tt)* }
        [$entity:ty, $view:ty, $tag:expr, $collection:literal, $role:tt, $caller:ident] $filters:ty) => {
        $($attr)*
        #[utoipa::path(get, path = concat!("/v1/", $collection), tag = $tag,
            params($filters, FilterDates, crate::http::pagination::PageParams),
            responses((status = 200, description = "A page; with `Accept: text/csv`, every matching record as CSV (columns as the role may read them)",
                content((Page<$view> = "application/json"), (String = "text/csv")))),
            security(("bearer" = [$role])))]
        pub(super) async fn $name(
            axum::extract::State(state): axum::extract::State<crate::http::AppState>,
            who: crate::http::auth::Caller<crate::http::auth::$caller>,
            headers: axum::http::HeaderMap,
            crate::http::extract::ApiQuery(filters): crate::http::extract::ApiQuery<$filters>,
        ) -> axum::response::Response {
            use axum::response::IntoResponse;
            if crate::http::resources::export::wants_csv(&headers) {
                let route = concat!("GET /v1/", $collection);
                return crate::http::resources::export::csv::<$entity, $view, $filters>(
                    state, &who, filters, route,
                )
                .into_response();
            }
            crate::http::resources::common::list::<$entity, $view, $filters>(&state, &who, filters)
                .await
                .into_response()
        }
    };

    (@op create $name:ident { $($attr:tt)* }
        [$entity:ty, $view:ty, $tag:expr, $collection:literal, $role:tt, $caller:ident] $body:ty) => {
        $($attr)*
        #[utoipa::path(post, path = concat!("/v1/", $collection), tag = $tag,
            params(crate::http::idempotency::IdempotencyKeyHeader),
            request_body = $body,
            responses((status = 201, body = $view,
                headers(("Location" = String), ("ETag" = String)))),
            security(("bearer" = [$role])))]
        pub(super) async fn $name(
            axum::extract::State(state): axum::extract::State<crate::http::AppState>,
            who: crate::http::auth::Caller<crate::http::auth::$caller>,
            idempotency: crate::http::idempotency::Idempotency,
            crate::http::extract::ApiJson(body, digest): crate::http::extract::ApiJson<$body>,
        ) -> impl axum::response::IntoResponse {
            crate::http::resources::common::create::<$entity, $view, $body>(
                &state, &who, &idempotency, &digest, body,
            )
            .await
        }
    };

    (@op read $name:ident { $($attr:tt)* }
        [$entity:ty, $view:ty, $tag:expr, $collection:literal, $role:tt, $caller:ident]) => {
        $($attr)*
        #[utoipa::path(get, path = concat!("/v1/", $collection, "/{id}"), tag = $tag,
            params(("id" = Uuid, Path)),
            responses((status = 200, body = $view, headers(("ETag" = String)))),
            security(("bearer" = [$role])))]
        pub(super) async fn $name(
            axum::extract::State(state): axum::extract::State<crate::http::AppState>,
            who: crate::http::auth::Caller<crate::http::auth::$caller>,
            crate::http::extract::ApiPath(id): crate::http::extract::ApiPath<sea_orm::prelude::Uuid>,
        ) -> impl axum::response::IntoResponse {
            crate::http::resources::common::get::<$entity, $view>(&state, &who, id).await
        }
    };

    (@op update $name:ident { $($attr:tt)* }
        [$entity:ty, $view:ty, $tag:expr, $collection:literal, $role:tt, $caller:ident] $body:ty) => {
        $($attr)*
        #[utoipa::path(patch, path = concat!("/v1/", $collection, "/{id}"), tag = $tag,
            params(("id" = Uuid, Path), crate::http::versioning::IfMatchHeader),
            request_body = $body,
            responses((status = 200, body = $view, headers(("ETag" = String)))),
            security(("bearer" = [$role])))]
        pub(super) async fn $name(
            axum::extract::State(state): axum::extract::State<crate::http::AppState>,
            who: crate::http::auth::Caller<crate::http::auth::$caller>,
            crate::http::extract::ApiPath(id): crate::http::extract::ApiPath<sea_orm::prelude::Uuid>,
            if_match: crate::http::versioning::IfMatch,
            crate::http::extract::ApiJson(body, _): crate::http::extract::ApiJson<$body>,
        ) -> impl axum::response::IntoResponse {
            crate::http::resources::common::update::<$entity, $view, $body>(
                &state, &who, id, &if_match, body,
            )
            .await
        }
    };

    (@op delete $name:ident { $($attr:tt)* }
        [$entity:ty, $view:ty, $tag:expr, $collection:literal, $role:tt, $caller:ident]) => {
        $($attr)*
        #[utoipa::path(delete, path = concat!("/v1/", $collection, "/{id}"), tag = $tag,
            params(("id" = Uuid, Path), crate::http::versioning::IfMatchHeader),
            responses((status = 204, description = "Deleted")),
            security(("bearer" = [$role])))]
        pub(super) async fn $name(
            axum::extract::State(state): axum::extract::State<crate::http::AppState>,
            who: crate::http::auth::Caller<crate::http::auth::$caller>,
            crate::http::extract::ApiPath(id): crate::http::extract::ApiPath<sea_orm::prelude::Uuid>,
            if_match: crate::http::versioning::IfMatch,
        ) -> impl axum::response::IntoResponse {
            crate::http::resources::common::delete::<$entity>(&state, &who, id, &if_match).await
        }
    };

    (@op history $name:ident { $($attr:tt)* }
        [$entity:ty, $view:ty, $tag:expr, $collection:literal, $role:tt, $caller:ident]) => {
        $($attr)*
        #[utoipa::path(get, path = concat!("/v1/", $collection, "/{id}/history"), tag = $tag,
            params(("id" = Uuid, Path), crate::http::pagination::PageParams),
            responses((status = 200,
                body = Page<HistoryEntry>)),
            security(("bearer" = [$role])))]
        pub(super) async fn $name(
            axum::extract::State(state): axum::extract::State<crate::http::AppState>,
            who: crate::http::auth::Caller<crate::http::auth::$caller>,
            crate::http::extract::ApiPath(id): crate::http::extract::ApiPath<sea_orm::prelude::Uuid>,
            crate::http::extract::ApiQuery(page): crate::http::extract::ApiQuery<crate::http::pagination::PageParams>,
        ) -> impl axum::response::IntoResponse {
            crate::http::resources::common::history::<$entity, $view>(&state, &who, id, &page).await
        }
    };
}

/// Adds to `router` a handler documented with `#[utoipa::path]`, at the
/// path and for the methods its documentation declares, without building
/// its OpenAPI operation: a server builds no document until one is asked
/// for (`/openapi.json`), which keeps its start-up quick and its idle
/// memory small.
#[macro_export]
macro_rules! served {
    ($router:expr, $handler:ident) => {{
        use utoipa_axum::PathItemExt as _;
        let (path, methods) = utoipa_axum::paste! {
            (
                <[<__path_ $handler>] as utoipa::Path>::path(),
                <[<__path_ $handler>] as utoipa::Path>::methods(),
            )
        };
        let handler = methods
            .iter()
            .fold(axum::routing::MethodRouter::new(), |router, method| {
                router.on(method.to_method_filter(), $handler)
            });
        $router.route(&path, handler)
    }};
}

/// A module's handlers documented with `#[utoipa::path]`, listed once:
/// writes `routes()`, with their OpenAPI operations, and `served()`,
/// the same routes as the server serves them.
#[macro_export]
macro_rules! handler_routes {
    ($($handler:ident),+ $(,)?) => {
        /// The module's routes with their OpenAPI operations.
        pub fn routes() -> utoipa_axum::router::OpenApiRouter<$crate::http::AppState> {
            utoipa_axum::router::OpenApiRouter::new()
                $(.routes(utoipa_axum::routes!($handler)))+
        }

        /// The module's routes as served, without their OpenAPI operations.
        pub fn served() -> axum::Router<$crate::http::AppState> {
            let router = axum::Router::new();
            $( let router = $crate::served!(router, $handler); )+
            router
        }
    };
}

/// A collection's list filters, declared once. Each line is a query
/// parameter of its plain type, the column it matches and how: `eq`,
/// `search` (the collection's word search), `someone` (a member of staff, `me` being the caller),
/// `present` (`true`: the column has a value, `false`: it has none) or
/// `with f` (the collection's own rule, `f(value, me)`); optionally
/// normalised first (`| trimmed`), and `reads(fields)` where it matches
/// fields of the view, which a role that may not read them may not filter
/// by. `dates { .. }` names the collection's dates, each with its range
/// parameters (`scheduled_at (scheduled_from, scheduled_to):
/// Column::ScheduledAt`), all of which `sort=` may order by; `versioned` adds
/// `created_at` and `updated_at`.
///
/// Writes `pub struct Filters` (with the dates, the page and the refusal of
/// unknown parameters) and its [`Filter`] implementation.
///
/// [`Filter`]: crate::http::resources::common::Filter
#[macro_export]
macro_rules! list_filters {
    (
        entity: $entity:ty, versioned
            $(, dates { $($date:ident ($from:ident, $to:ident) : $dcol:expr),+ $(,)? })?;
        $($filters:tt)*
    ) => {
        $crate::list_filters! {
            entity: $entity, dates {
                $($($date ($from, $to): $dcol,)+)?
                created_at (created_from, created_to):
                    <$entity as sea_orm::EntityTrait>::Column::CreatedAt,
                updated_at (updated_from, updated_to):
                    <$entity as sea_orm::EntityTrait>::Column::UpdatedAt,
            };
            $($filters)*
        }
    };
    (
        entity: $entity:ty
            $(, dates { $($date:ident ($from:ident, $to:ident) : $dcol:expr),+ $(,)? })?;
        $(
            $(#[$meta:meta])*
            $field:ident : $ty:ty => $op:ident $($col:path)? $(| $norm:path)?
                $(, reads($($reads:ident),+))?;
        )*
    ) => {
        /// Filters of the list.
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        pub struct Filters {
            $(
                $(#[$meta])*
                #[serde(default, deserialize_with = "crate::http::pagination::query")]
                pub $field: Option<$ty>,
            )*
            #[serde(flatten)]
            #[param(ignore)]
            pub dates: FilterDates,
            #[serde(flatten)]
            #[param(ignore)]
            pub page: $crate::http::pagination::PageParams,
            #[serde(flatten)]
            #[param(ignore)]
            pub rest: $crate::http::pagination::NoOtherParams,
            /// The caller's staff id, for `me`.
            #[serde(skip)]
            #[param(ignore)]
            pub me: sea_orm::prelude::Uuid,
        }

        /// The list's date ranges and its order (`sort=`).
        #[derive(Debug, serde::Deserialize)]
        pub struct FilterDates {
            $($(
                #[serde(default, deserialize_with = "crate::http::pagination::query")]
                pub $from: Option<chrono::DateTime<chrono::Utc>>,
                #[serde(default, deserialize_with = "crate::http::pagination::query")]
                pub $to: Option<chrono::DateTime<chrono::Utc>>,
            )+)?
            pub sort: Option<String>,
        }

        impl FilterDates {
            /// Each date with its range parameters.
            const DATES: &[(&str, &str, &str)] =
                &[$($((stringify!($date), stringify!($from), stringify!($to))),+)?];
        }

        impl utoipa::IntoParams for FilterDates {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                $crate::http::resources::common::date_params(Self::DATES)
            }
        }

        impl $crate::http::resources::common::Filter<$entity> for Filters {
            #[allow(unused_mut)] // no filter on a withheld field
            fn reads(&self) -> Vec<&'static str> {
                let mut fields = Vec::new();
                $($(
                    if self.$field.is_some() {
                        fields.extend([$(stringify!($reads)),+]);
                    }
                )?)*
                fields
            }

            fn bind_caller(&mut self, who: &$crate::http::Principal) {
                self.me = who.staff_id();
            }

            fn page(&self) -> &$crate::http::pagination::PageParams {
                &self.page
            }

            fn order(
                &self,
            ) -> $crate::http::ApiResult<
                Option<$crate::db::store::DateOrder<<$entity as sea_orm::EntityTrait>::Column>>,
            > {
                $crate::http::resources::common::date_order(
                    self.dates.sort.as_deref(),
                    &[$($((stringify!($date), $dcol)),+)?],
                )
            }

            #[allow(unused_mut, unused_variables)] // a collection with no filters
            fn select(
                self,
                mut select: sea_orm::Select<$entity>,
            ) -> $crate::http::ApiResult<sea_orm::Select<$entity>> {
                #[allow(unused_imports)]
                use sea_orm::{ColumnTrait, QueryFilter};
                let me = self.me;
                $(
                    if let Some(value) = self.$field {
                        $(let value = $norm(value);)?
                        select = select.filter(
                            $crate::list_filters!(@op $op [$entity] $($col)?, value, me),
                        );
                    }
                )*
                $($(
                    select = $crate::http::resources::common::between(
                        select, $dcol, self.dates.$from, self.dates.$to,
                    );
                )+)?
                Ok(select)
            }
        }
    };
    (@op eq [$entity:ty] $col:path, $value:ident, $me:ident) => { $col.eq($value) };
    (@op someone [$entity:ty] $col:path, $value:ident, $me:ident) => { $col.eq($value.id($me)) };
    (@op present [$entity:ty] $col:path, $value:ident, $me:ident) => {
        if $value { $col.is_not_null() } else { $col.is_null() }
    };
    (@op with [$entity:ty] $rule:path, $value:ident, $me:ident) => { $rule($value, $me) };
    (@op search [$entity:ty], $value:ident, $me:ident) => {
        $crate::http::resources::common::search::<$entity>(&$value)?
    };
}
