//! The search terms of records written before `q` had an index
//! (migration 8), or by a writer that bypassed the store: without terms,
//! `q` does not find them.
//!
//! The terms are the words of each record's searched fields folded by
//! [`crate::domain::search`], which SQL cannot do on both databases
//! (accents), so this is not a migration but a step of `navigator
//! migrate` (and of the deploy-time migration function) after the
//! migrations, never of a cold start. It reads the records that have no
//! term, in pages by id, and writes theirs with [`store::index_terms`], a
//! page per transaction; run again, it finds nothing to do (records none of
//! whose searched fields holds a word are read again each time, and stay
//! without terms).

use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, QueryFilter, QueryOrder, QuerySelect,
    prelude::Uuid,
    sea_query::{Expr, ExprTrait, Query},
};
use serde::Serialize;

use super::{
    entities::{hospital, patient, practitioner},
    store::{self, Record},
};

/// Records read per transaction.
const PAGE: u64 = 1_000;

/// Writes the terms of every searched record that has none; returns how
/// many records were read.
pub async fn backfill_search_terms(db: &DatabaseConnection) -> Result<u64, DbErr> {
    Ok(backfill::<patient::Entity>(db).await?
        + backfill::<practitioner::Entity>(db).await?
        + backfill::<hospital::Entity>(db).await?)
}

async fn backfill<E>(db: &DatabaseConnection) -> Result<u64, DbErr>
where
    E: Record,
    E::Model: Serialize,
{
    let mut after = Uuid::nil();
    let mut read = 0;
    loop {
        let without_terms = Query::select()
            .expr(Expr::val(1))
            .from(store::SEARCH_TERMS)
            .and_where(Expr::col("record_id").equals((E::default(), E::id_column())))
            .and_where(Expr::col("collection").eq(E::COLLECTION))
            .take();
        let page = E::find()
            .filter(E::id_column().gt(after))
            .filter(Expr::exists(without_terms).not())
            .order_by_asc(E::id_column())
            .limit(PAGE)
            .all(db)
            .await?;
        let Some(last) = page.last() else {
            return Ok(read);
        };
        after = E::id_of(last);
        read += page.len() as u64;
        let tx = super::begin_write(db).await?;
        for model in &page {
            let json = serde_json::to_value(model).unwrap_or_default();
            store::index_terms::<E>(&tx, E::id_of(model), None, Some(&json)).await?;
        }
        tx.commit().await?;
    }
}
