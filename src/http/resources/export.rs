//! `Accept: text/csv` on any list: every matching record (not one page),
//! in the list's order, with the columns the caller's role may read
//! (the view's declaration, as the JSON), streamed a page at a time so
//! memory stays flat however long the list. Each page's patients are
//! recorded in the access log before its rows are sent: a page that
//! cannot be recorded ends the download.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use sea_orm::{Select, prelude::Uuid};
use serde_json::Value;

use super::{
    common::{Filter, shown_all},
    declare::Declared,
};
use crate::{
    db::{
        access_log::AccessEvent,
        store::{self, DateOrder},
    },
    http::{ApiError, ApiResult, AppState, Principal, pagination::MAX_LIMIT},
};

/// Whether the request asks for CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("text/csv")))
}

/// Where the export has got to.
enum Position {
    Start,
    After(Option<chrono::DateTime<chrono::Utc>>, Uuid),
    Done,
}

/// The CSV export of the list `filters` selects, for `who`, logged as
/// `route` (`GET /v1/calls`).
pub fn csv<E, V, F>(
    state: AppState,
    who: &Principal,
    filters: F,
    route: &'static str,
) -> ApiResult<Response>
where
    E: store::Record,
    E::Model: Sync + Send,
    V: From<E::Model> + Declared + Send + 'static,
    F: Filter<E>,
{
    let filters = super::common::bound::<E, V, F>(who, filters)?;
    let order = filters.order()?;
    let select = filters.select(E::find())?;
    let columns: Vec<&'static str> = V::DECLARATION
        .fields
        .iter()
        .filter(|f| f.class.readable_by(who.role))
        .map(|f| f.name)
        .collect();
    let header_row = row(columns.iter().map(|c| Value::from(*c)));
    let who = who.clone();
    let pages = futures::stream::try_unfold(Position::Start, move |position| {
        let (state, who, select, columns) =
            (state.clone(), who.clone(), select.clone(), columns.clone());
        async move {
            if matches!(position, Position::Done) {
                return Ok::<_, ApiError>(None);
            }
            let (items, next) = page::<E>(&state, select, order, position).await?;
            let (shown, patients) = shown_all::<E::Model, V>(&who, items);
            state
                .access_log
                .record(AccessEvent {
                    actor: who.subject.clone(),
                    route: route.to_owned(),
                    patients,
                })
                .await?;
            let mut bytes = Vec::new();
            for record in &shown {
                let json = serde_json::to_value(record.view())
                    .map_err(|err| ApiError::Internal(format!("csv: {err}")))?;
                bytes.extend(row(columns.iter().map(|c| json[*c].clone())));
            }
            Ok(Some((Bytes::from(bytes), next)))
        }
    });
    let body = futures::stream::once(async move { Ok::<_, ApiError>(Bytes::from(header_row)) })
        .chain(pages);
    let mut response = Body::from_stream(futures::StreamExt::map(body, |chunk| {
        chunk.map_err(|err| std::io::Error::other(format!("{err:?}")))
    }))
    .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok(response)
}

use futures::StreamExt as _;

/// One page of the export after `position`, and where the next starts.
async fn page<E>(
    state: &AppState,
    select: Select<E>,
    order: Option<DateOrder<E::Column>>,
    position: Position,
) -> ApiResult<(Vec<E::Model>, Position)>
where
    E: store::Record,
    E::Model: Sync,
{
    let (after_at, after) = match position {
        Position::After(at, id) => (at, Some(id)),
        _ => (None, None),
    };
    let request = store::PageRequest {
        limit: MAX_LIMIT,
        after,
        count: false,
    };
    Ok(match order {
        None => {
            let listed = store::list(&state.db, select, request).await?;
            let next = listed
                .next_after
                .map_or(Position::Done, |id| Position::After(None, id));
            (listed.items, next)
        }
        Some(order) => {
            let listed = store::list_by_date(&state.db, select, order, request, after_at).await?;
            let next = listed
                .next_after
                .map_or(Position::Done, |(at, id)| Position::After(Some(at), id));
            (listed.items, next)
        }
    })
}

/// One CSV line of `values`: text as it is (a leading `=`, `+`, `-` or
/// `@` quoted with `'`, so that a spreadsheet does not run it as a
/// formula), null as empty, anything else as its JSON.
fn row(values: impl Iterator<Item = Value>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let cells: Vec<String> = values
        .map(|value| match value {
            Value::Null => String::new(),
            Value::String(text) if text.starts_with(['=', '+', '-', '@']) => format!("'{text}"),
            Value::String(text) => text,
            other => other.to_string(),
        })
        .collect();
    // Writing to memory cannot fail.
    let _ = writer.write_record(&cells);
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_quoted_as_csv_and_never_a_formula() {
        let line = row([
            Value::from("a,b"),
            Value::Null,
            Value::from("=1+1"),
            Value::from(3),
        ]
        .into_iter());
        assert_eq!(String::from_utf8(line).unwrap(), "\"a,b\",,'=1+1,3\n");
    }
}
