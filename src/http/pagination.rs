//! Keyset pagination shared by every list: `limit`, an opaque `cursor`,
//! `next_cursor` in the page, and an optional `total`.
//!
//! Ids are UUIDv7, so ordering by id is creation order and a page is
//! "the next `limit` ids after the cursor": an index range scan whose cost
//! does not grow with the table.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, FieldError};
use crate::db::store::{Listed, PageRequest};

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u64 = 50;
/// Largest page size.
pub const MAX_LIMIT: u64 = 200;

/// The paging parameters of a list request. Numbers and booleans are read
/// from their text, so the struct also works flattened into a resource's
/// filters (where serde hands every value over as a string).
#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    #[schema(minimum = 1, maximum = 200)]
    #[serde(default, deserialize_with = "parsed")]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    #[schema(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
    /// Also return the total number of matching records (costs a count).
    #[serde(default, deserialize_with = "parsed")]
    pub count: Option<bool>,
}

/// A query value parsed from its text.
pub fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
{
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "invalid value, expected {}",
            std::any::type_name::<T>()
        ))
    })
}

/// A filter's value of any type, from the text of the query string.
/// Flattened filter structs receive every value as text, which serde
/// turns into strings, ids, dates and enum variants but not booleans;
/// this reads `true`/`false` as well, so every filter declares its plain
/// type.
pub fn query<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let text = String::deserialize(d)?;
    T::deserialize(QueryText(&text))
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// One query value's text, as a deserializer.
struct QueryText<'a>(&'a str);

impl<'de> serde::Deserializer<'de> for QueryText<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_str(self.0)
    }

    fn deserialize_bool<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            "true" => v.visit_bool(true),
            "false" => v.visit_bool(false),
            _ => Err(serde::de::Error::custom("expected true or false")),
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_some(self)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        use serde::de::IntoDeserializer;
        v.visit_enum(self.0.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// Flattened last into a filter struct, refuses any query parameter the
/// struct did not take: a misspelt filter is a 400, not a silently
/// unfiltered list.
#[derive(Debug, Default)]
pub struct NoOtherParams;

impl<'de> Deserialize<'de> for NoOtherParams {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rest = std::collections::BTreeMap::<String, serde::de::IgnoredAny>::deserialize(d)?;
        match rest.keys().next() {
            None => Ok(NoOtherParams),
            Some(key) => Err(serde::de::Error::custom(format!(
                "unknown parameter `{key}`"
            ))),
        }
    }
}

impl PageParams {
    /// Checks the limit and decodes the cursor.
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let limit = self.parse_limit()?;
        let after = match &self.cursor {
            None => None,
            Some(cursor) => Some(
                decode_cursor(cursor)
                    .ok_or_else(|| bad("cursor", "is not a cursor this API issued"))?,
            ),
        };
        Ok(PageRequest {
            limit,
            after,
            count: self.count.unwrap_or(false),
        })
    }

    /// Checks the limit and decodes the cursor of a list ordered by a
    /// date: the page, and the date of the record it continues after.
    pub fn parse_by_date(&self) -> Result<(PageRequest, Option<DateTime<Utc>>), ApiError> {
        let limit = self.parse_limit()?;
        let (at, after) = match &self.cursor {
            None => (None, None),
            Some(cursor) => {
                let (at, id) = decode_date_cursor(cursor).ok_or_else(|| {
                    bad("cursor", "is not a cursor this API issued for this order")
                })?;
                (Some(at), Some(id))
            }
        };
        let page = PageRequest {
            limit,
            after,
            count: self.count.unwrap_or(false),
        };
        Ok((page, at))
    }

    fn parse_limit(&self) -> Result<u64, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(bad("limit", "must be between 1 and 200"));
        }
        Ok(limit)
    }
}

/// Encodes the date and id a page ordered by a date ended on: 8 bytes of
/// microseconds since the epoch, then the id's 16.
pub fn encode_date_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&at.timestamp_micros().to_be_bytes());
    bytes[8..].copy_from_slice(id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_date_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    if bytes.len() != 24 {
        return None;
    }
    let micros = i64::from_be_bytes(bytes[..8].try_into().ok()?);
    let at = DateTime::from_timestamp_micros(micros)?;
    Some((at, Uuid::from_slice(&bytes[8..]).ok()?))
}

fn bad(field: &str, message: &str) -> ApiError {
    ApiError::BadRequest(
        "The query string is invalid.".into(),
        vec![FieldError::new(field, message)],
    )
}

/// Encodes the id a page ended on.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The records, oldest first.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The number of matching records, when `count=true` was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Turns a store page into an API page of views.
pub fn page<M, T>(listed: Listed<M>, view: impl FnMut(M) -> T) -> Page<T> {
    Page {
        items: listed.items.into_iter().map(view).collect(),
        next_cursor: listed.next_after.map(encode_cursor),
        total: listed.total,
    }
}

impl<T> Page<T> {
    /// Converts the items, keeping the paging.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let params = PageParams {
            cursor: Some(encode_cursor(id)),
            ..Default::default()
        };
        assert_eq!(params.parse().unwrap().after, Some(id));
        let params = PageParams {
            cursor: Some("not-a-cursor".into()),
            ..Default::default()
        };
        assert!(params.parse().is_err());
    }

    #[test]
    fn a_date_cursor_round_trips_and_an_id_cursor_is_not_one() {
        let (at, id) = (Utc::now(), Uuid::now_v7());
        let params = PageParams {
            cursor: Some(encode_date_cursor(at, id)),
            ..Default::default()
        };
        let (page, after_at) = params.parse_by_date().unwrap();
        assert_eq!(page.after, Some(id));
        assert_eq!(
            after_at.map(|t| t.timestamp_micros()),
            Some(at.timestamp_micros())
        );
        assert!(params.parse().is_err());
        let params = PageParams {
            cursor: Some(encode_cursor(id)),
            ..Default::default()
        };
        assert!(params.parse_by_date().is_err());
    }

    #[test]
    fn the_page_size_is_capped() {
        assert!(
            PageParams {
                limit: Some(201),
                ..Default::default()
            }
            .parse()
            .is_err()
        );
        assert!(
            PageParams {
                limit: Some(0),
                ..Default::default()
            }
            .parse()
            .is_err()
        );
        assert_eq!(PageParams::default().parse().unwrap().limit, 50);
    }
}
