//! The access log: every read of a patient's personal data, with who read
//! it, when, through which route, and which patients it returned.
//!
//! A response that carries personal data leaves only once its entry is
//! committed: if the process dies right after, the entry is in the
//! database (on PostgreSQL flushed to disk; on SQLite in its write-ahead
//! log, which survives the process and is replayed by the next start).
//! The server commits entries by group: one writer, on its own thread and
//! connection ([`AccessLog::on_own_thread`]), takes every entry that
//! arrived while its previous transaction was being written and commits
//! them together (many rows per statement), then tells each waiting
//! request whether its entry was committed. Under load, batches grow with
//! the number of requests waiting and the cost per read falls; an idle
//! server commits a lone read at once. A batch that fails is reported to
//! each of its requests, whose responses are then withheld (500).
//! [`AccessLog::flush`] waits until everything recorded before it is
//! written. On Lambda, where a frozen sandbox may never run a background
//! task again, entries are written inline ([`AccessLog::inline`]).

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, Value,
    prelude::Uuid,
    sea_query::{Expr, Query},
};
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{
    begin_write,
    entities::{access_event, access_event_patient},
    store::{Listed, PageRequest, SqlPerBackend, end_of_page},
};

/// One read to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    /// The caller's subject.
    pub actor: String,
    /// Method and route template, e.g. `GET /v1/patients/{id}`.
    pub route: String,
    /// The patients whose data the response carried.
    pub patients: Vec<Uuid>,
}

/// Where recorded reads go. Cheap to clone.
#[derive(Clone)]
pub struct AccessLog {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Batched(mpsc::UnboundedSender<Message>),
    Inline(DatabaseConnection),
}

enum Message {
    /// An entry, and the request waiting for its commit.
    Event(Stamped, oneshot::Sender<Result<(), DbErr>>),
    Flush(oneshot::Sender<()>),
}

struct Stamped {
    id: Uuid,
    at: DateTime<Utc>,
    event: AccessEvent,
}

/// Most reads written in one transaction. Every request waits for its
/// own entry's commit, so what waits is bounded by the requests in flight.
const BATCH: usize = 1024;
/// Batches written at once, each on its own connection: while one waits
/// for its commit to reach the disk, the next is inserted, and
/// PostgreSQL's one WAL flush may cover both commits. On SQLite they take
/// turns at the write lock, and a commit does not wait for the disk.
const WRITERS: usize = 2;
/// Rows per INSERT statement, largest first: powers of two, so that a
/// batch of n rows takes at most one statement per set bit of n, plus one
/// per 256 (a batch of 200 links: 3 statements, where sizes 1024/128/16/1
/// took 13, each one more round trip and executor start on the database).
/// At most 256: on SQLite, a statement inside a transaction keeps a copy
/// of every page it changes (its statement journal, held in memory), and
/// 1,024 links land on as many random pages of their index, 4 MB under a
/// load of list pages. Fixed sizes, so that the drivers' per-connection
/// statement caches hold at most 18 statements instead of one per batch
/// length (each a large prepared statement). 4 parameters per event and 2
/// per link stay far below SQLite's 32,766 and PostgreSQL's 65,535.
const EVENT_ROWS: &[usize] = &[256, 128, 64, 32, 16, 8, 4, 2, 1];
const LINK_ROWS: &[usize] = EVENT_ROWS;

impl AccessLog {
    /// A log written in batches by a thread of its own, with its own
    /// runtime and its own connection to the database at `url`: under load,
    /// a writer sharing the server's runtime waits behind every request
    /// task at each of its awaits, and falls far behind the reads it logs.
    /// The thread ends when every handle is dropped.
    pub fn on_own_thread(url: &str) -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::unbounded_channel();
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        tracing::error!(error = %err, "cannot start the access log's runtime");
                        return;
                    }
                };
                runtime.block_on(async move {
                    // Made here, so that its connections belong to this runtime.
                    // A long-lived writer, like the server it logs for:
                    // its commits must not checkpoint in its turn either.
                    let settings = super::PoolSettings {
                        max_connections: WRITERS as u32,
                        checkpoints: super::Checkpoints::Background(Default::default()),
                        ..Default::default()
                    };
                    match super::connect(&url, settings) {
                        Ok(db) => write_batches(db, receiver).await,
                        Err(err) => tracing::error!(error = %err, "access log database"),
                    }
                });
            })?;
        Ok(Self {
            inner: Inner::Batched(queue),
        })
    }

    /// A log written before each read's response is sent.
    pub fn inline(db: DatabaseConnection) -> Self {
        Self {
            inner: Inner::Inline(db),
        }
    }

    /// Records a read, and returns once its entry is committed (an error
    /// if it was not). A read that returned no patient records nothing.
    pub async fn record(&self, event: AccessEvent) -> Result<(), DbErr> {
        if event.patients.is_empty() {
            return Ok(());
        }
        let stamped = Stamped {
            id: Uuid::now_v7(),
            at: Utc::now(),
            event,
        };
        match &self.inner {
            Inner::Inline(db) => write(db, std::slice::from_ref(&stamped)).await,
            Inner::Batched(queue) => {
                let (done, committed) = oneshot::channel();
                queue
                    .send(Message::Event(stamped, done))
                    .map_err(|_| stopped())?;
                committed.await.map_err(|_| stopped())?
            }
        }
    }

    /// Waits until every read recorded before this call is written.
    pub async fn flush(&self) -> Result<(), DbErr> {
        let Inner::Batched(queue) = &self.inner else {
            return Ok(());
        };
        let (done, written) = oneshot::channel();
        queue.send(Message::Flush(done)).map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())
    }
}

fn stopped() -> DbErr {
    DbErr::Custom("the access log writer has stopped".into())
}

async fn write_batches(db: DatabaseConnection, mut receiver: mpsc::UnboundedReceiver<Message>) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    let mut messages = Vec::with_capacity(BATCH);
    // A batch is what arrived while every writer was busy: no waiting for
    // more, since every read in it waits for the commit.
    while let Ok(writer) = writers.clone().acquire_owned().await
        && receiver.recv_many(&mut messages, BATCH).await > 0
    {
        let mut events = Vec::with_capacity(messages.len());
        let mut waiting = Vec::with_capacity(messages.len());
        let mut flushes = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Event(event, done) => {
                    events.push(event);
                    waiting.push(done);
                }
                Message::Flush(done) => flushes.push(done),
            }
        }
        if flushes.is_empty() {
            let db = db.clone();
            tokio::spawn(async move {
                write_and_answer(&db, events, waiting).await;
                drop(writer);
            });
        } else {
            // A flush is answered after every batch before it, including
            // those still being written.
            drop(writer);
            let Ok(all) = writers.acquire_many(WRITERS as u32).await else {
                break;
            };
            write_and_answer(&db, events, waiting).await;
            drop(all);
            for done in flushes {
                let _ = done.send(());
            }
        }
    }
    // Whatever is still being written is answered before the thread ends.
    let _ = writers.acquire_many(WRITERS as u32).await;
}

/// Writes one batch and tells each of its requests whether it committed.
/// A failed batch is not retried: its requests answer 500 without the
/// data, so there is no disclosure left to record.
async fn write_and_answer(
    db: &DatabaseConnection,
    events: Vec<Stamped>,
    waiting: Vec<oneshot::Sender<Result<(), DbErr>>>,
) {
    let failed = write(db, &events).await.err().map(|err| {
        tracing::error!(error = %err, events = events.len(), "access log write failed");
        err.to_string()
    });
    for done in waiting {
        let outcome = match &failed {
            None => Ok(()),
            Some(err) => Err(DbErr::Custom(format!("access log write failed: {err}"))),
        };
        let _ = done.send(outcome);
    }
}

async fn write(db: &DatabaseConnection, events: &[Stamped]) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let tx = begin_write(db).await?;
    insert_chunks(
        &tx,
        "access_events",
        ["id", "at", "actor", "route"],
        EVENT_ROWS,
        &EVENT_SQL,
        events,
        |e| {
            [
                e.id.into(),
                e.at.into(),
                e.event.actor.as_str().into(),
                e.event.route.as_str().into(),
            ]
        },
    )
    .await?;
    // In the index's order: consecutive inserts land on the same leaf
    // pages of the index on `patient_id`, whose maintenance is most of
    // what a link costs the database.
    let mut links: Vec<(Uuid, Uuid)> = events
        .iter()
        .flat_map(|e| e.event.patients.iter().map(move |&p| (p, e.id)))
        .collect();
    links.sort_unstable();
    links.dedup();
    insert_chunks(
        &tx,
        "access_event_patients",
        ["patient_id", "event_id"],
        LINK_ROWS,
        &LINK_SQL,
        &links,
        |&(patient, event)| [patient.into(), event.into()],
    )
    .await?;
    tx.commit().await
}

/// The INSERT of each chunk size, per table and backend, rendered once:
/// sea-query built every batch's statements anew, values and all.
static EVENT_SQL: [SqlPerBackend; EVENT_ROWS.len()] =
    [const { SqlPerBackend::new() }; EVENT_ROWS.len()];
static LINK_SQL: [SqlPerBackend; LINK_ROWS.len()] =
    [const { SqlPerBackend::new() }; LINK_ROWS.len()];

/// Inserts `rows` into `table`, one statement per chunk of `sizes` rows;
/// each chunk size's SQL comes from `cache` (one per size), rendered by
/// sea-query the first time, and only the chunk's `values` are bound.
async fn insert_chunks<T, const N: usize>(
    tx: &impl ConnectionTrait,
    table: &'static str,
    columns: [&'static str; N],
    sizes: &'static [usize],
    cache: &'static [SqlPerBackend],
    rows: &[T],
    values: impl Fn(&T) -> [Value; N],
) -> Result<(), DbErr> {
    let backend = tx.get_database_backend();
    for chunk in chunks(rows, sizes) {
        let bound: Vec<Value> = chunk.iter().flat_map(&values).collect();
        let size = sizes
            .iter()
            .position(|&size| size == chunk.len())
            .expect("chunks() cuts only the given sizes");
        let sql = cache[size].get_or_build(backend, || {
            let mut insert = Query::insert();
            insert.into_table(table).columns(columns);
            for row in bound.chunks(N) {
                insert.values_panic(row.iter().cloned().map(Expr::from));
            }
            backend.build(&insert).sql
        });
        tx.execute_raw(Statement::from_sql_and_values(backend, sql, bound))
            .await?;
    }
    Ok(())
}

/// `rows` cut into chunks of the given sizes (largest that fits first).
fn chunks<'a, T>(mut rows: &'a [T], sizes: &'static [usize]) -> impl Iterator<Item = &'a [T]> {
    std::iter::from_fn(move || {
        let size = sizes.iter().copied().find(|&size| size <= rows.len())?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// The reads of one patient's data, oldest first, a page at a time.
pub async fn reads_of(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    page: PageRequest,
) -> Result<Listed<access_event::Model>, DbErr> {
    let links = access_event_patient::Entity::find()
        .filter(access_event_patient::Column::PatientId.eq(patient_id));
    let total = if page.count {
        Some(links.clone().count(db).await?)
    } else {
        None
    };
    let mut ids = links;
    if let Some(after) = page.after {
        ids = ids.filter(access_event_patient::Column::EventId.gt(after));
    }
    let mut ids: Vec<Uuid> = ids
        .order_by_asc(access_event_patient::Column::EventId)
        .limit(page.limit + 1)
        .all(db)
        .await?
        .into_iter()
        .map(|link| link.event_id)
        .collect();
    let next_after = end_of_page(&mut ids, page.limit, |id| *id);
    let items = access_event::Entity::find()
        .filter(access_event::Column::Id.is_in(ids))
        .order_by_asc(access_event::Column::Id)
        .all(db)
        .await?;
    Ok(Listed {
        items,
        next_after,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_into_power_of_two_chunks_of_at_most_256() {
        let rows: Vec<u32> = (0..1203).collect();
        let sizes: Vec<usize> = chunks(&rows, LINK_ROWS).map(<[u32]>::len).collect();
        assert_eq!(sizes, [256, 256, 256, 256, 128, 32, 16, 2, 1]);
        assert_eq!(sizes.iter().sum::<usize>(), 1203);
        assert_eq!(chunks(&rows[..0], LINK_ROWS).count(), 0);
    }
}
