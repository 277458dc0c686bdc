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
        }

        /// The collection's routes with their OpenAPI operations.
        pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::http::AppState> {
            utoipa_axum::router::OpenApiRouter::new()
                $(.routes(utoipa_axum::routes!(operations::$name)))*
                $($(.routes(utoipa_axum::routes!($also)))*)?
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
            params($filters, crate::http::pagination::PageParams),
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

/// A collection's list filters, declared once: each line is a query
/// parameter, the column it matches and how (`eq`, `from` for "at or
/// after", `before`; or `search`, the collection's word search),
/// optionally normalised first (`| trimmed`), and
/// `reads` where it matches a field of the view, which a role that may not
/// read that field may not filter by. Writes `pub struct Filters` (with
/// the page and the refusal of unknown parameters) and its [`Filter`]
/// implementation.
///
/// [`Filter`]: crate::http::resources::common::Filter
#[macro_export]
macro_rules! list_filters {
    (
        entity: $entity:ty;
        $(
            $(#[$meta:meta])*
            $field:ident : $ty:ty => $op:ident $($col:path)? $(| $norm:path)? $(, $reads:ident)?;
        )*
    ) => {
        /// Filters of the list.
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        pub struct Filters {
            $( $(#[$meta])* pub $field: Option<$ty>, )*
            #[serde(flatten)]
            #[param(ignore)]
            pub page: $crate::http::pagination::PageParams,
            #[serde(flatten)]
            #[param(ignore)]
            pub rest: $crate::http::pagination::NoOtherParams,
        }

        impl $crate::http::resources::common::Filter<$entity> for Filters {
            #[allow(unused_mut)] // no filter on a withheld field
            fn reads(&self) -> Vec<&'static str> {
                let mut fields = Vec::new();
                $($(
                    let _ = stringify!($reads);
                    if self.$field.is_some() {
                        fields.push(stringify!($field));
                    }
                )?)*
                fields
            }

            fn page(&self) -> &$crate::http::pagination::PageParams {
                &self.page
            }

            #[allow(unused_mut)] // a collection with no filters
            fn select(
                self,
                mut select: sea_orm::Select<$entity>,
            ) -> $crate::http::ApiResult<sea_orm::Select<$entity>> {
                #[allow(unused_imports)]
                use sea_orm::{ColumnTrait, QueryFilter};
                $(
                    if let Some(value) = self.$field {
                        $(let value = $norm(value);)?
                        select = select.filter(
                            $crate::list_filters!(@op $op [$entity] $($col)?, value),
                        );
                    }
                )*
                Ok(select)
            }
        }
    };
    (@op eq [$entity:ty] $col:path, $value:ident) => { $col.eq($value) };
    (@op from [$entity:ty] $col:path, $value:ident) => { $col.gte($value) };
    (@op before [$entity:ty] $col:path, $value:ident) => { $col.lt($value) };
    (@op search [$entity:ty], $value:ident) => {
        $crate::http::resources::common::search::<$entity>(&$value)?
    };
}
