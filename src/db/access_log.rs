//! The access log: every read of a patient's personal data, with who read
//! it, when, through which route, and which patients it returned.
//!
//! A read must not wait for its log entry's own transaction, so the
//! server hands entries to one background writer, on its own thread and
//! connection ([`AccessLog::on_own_thread`]), that inserts them in batches
//! (one transaction per batch, many rows per statement). A batch is what
//! arrived while the previous one was written, plus what arrives in the
//! few milliseconds (`LINGER`, 10 ms) after its first read: under load, batches
//! grow and the cost per read falls. What waits to be written is bounded
//! in rows ([`PENDING_ROWS`]): when reads outpace the writer, they wait for
//! it (back-pressure) instead of growing memory or a backlog that would
//! stall every later request. [`AccessLog::flush`] waits until everything
//! recorded before it is written: the server calls it after a graceful
//! shutdown, and the access-log endpoint before it reads. On Lambda, where
//! a frozen sandbox may never run a background task again, entries are
//! written inline ([`AccessLog::inline`]).

use std::time::Duration;

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
    Batched {
        queue: mpsc::UnboundedSender<Message>,
        /// One permit per row not yet written.
        room: Arc<Semaphore>,
    },
    Inline(DatabaseConnection),
}

enum Message {
    Event(Stamped),
    Flush(oneshot::Sender<()>),
}

struct Stamped {
    id: Uuid,
    at: DateTime<Utc>,
    event: AccessEvent,
}

/// Rows (an event and one per patient it returned) that may wait to be
/// written; beyond them, reads wait for the writer. About 200 list pages
/// or 5,000 single reads: a second or less of the writer's work.
pub const PENDING_ROWS: usize = 10_000;
/// Most reads written in one transaction.
const BATCH: usize = 1024;
/// How long the writer lets a batch gather after its first read arrives.
/// Without it, under load, every read woke the writer thread and batches
/// held a handful of reads, each batch a transaction of four round trips
/// (7,000 GETs/s made 10,000 commits/s on PostgreSQL).
const LINGER: Duration = Duration::from_millis(10);
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
        let (log, receiver, room) = Self::queue();
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
                    // Made here, so that its connection belongs to this runtime.
                    // A long-lived writer, like the server it logs for:
                    // its commits must not checkpoint in its turn either.
                    let settings = super::PoolSettings {
                        max_connections: 1,
                        checkpoints: super::Checkpoints::Background(Default::default()),
                        ..Default::default()
                    };
                    match super::connect(&url, settings) {
                        Ok(db) => write_batches(db, receiver, room).await,
                        Err(err) => tracing::error!(error = %err, "access log database"),
                    }
                });
            })?;
        Ok(log)
    }

    fn queue() -> (Self, mpsc::UnboundedReceiver<Message>, Arc<Semaphore>) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(PENDING_ROWS));
        let log = Self {
            inner: Inner::Batched {
                queue,
                room: room.clone(),
            },
        };
        (log, receiver, room)
    }

    /// A log written before each read's response is sent.
    pub fn inline(db: DatabaseConnection) -> Self {
        Self {
            inner: Inner::Inline(db),
        }
    }

    /// Records a read. A read that returned no patient records nothing.
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
            Inner::Batched { queue, room } => {
                // Returned by the writer once the rows are written.
                room.acquire_many(stamped.rows())
                    .await
                    .map_err(|_| stopped())?
                    .forget();
                queue.send(Message::Event(stamped)).map_err(|_| stopped())
            }
        }
    }

    /// Waits until every read recorded before this call is written.
    pub async fn flush(&self) -> Result<(), DbErr> {
        let Inner::Batched { queue, .. } = &self.inner else {
            return Ok(());
        };
        let (done, written) = oneshot::channel();
        queue.send(Message::Flush(done)).map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())
    }
}

impl Stamped {
    /// Its rows, as counted against [`PENDING_ROWS`] (a read of more
    /// patients than that counts as that many).
    fn rows(&self) -> u32 {
        (1 + self.event.patients.len()).min(PENDING_ROWS) as u32
    }
}

fn stopped() -> DbErr {
    DbErr::Custom("the access log writer has stopped".into())
}

async fn write_batches(
    db: DatabaseConnection,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    room: Arc<Semaphore>,
) {
    let mut messages = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut messages, BATCH).await > 0 {
        // Let the batch gather before writing it: under load, a read
        // arriving while the writer sleeps wakes nothing, and one
        // transaction carries many reads. A flush is answered at once.
        if !messages.iter().any(|m| matches!(m, Message::Flush(_))) {
            tokio::time::sleep(LINGER).await;
            while messages.len() < BATCH {
                match receiver.try_recv() {
                    Ok(message) => messages.push(message),
                    Err(_) => break,
                }
            }
        }
        let mut events = Vec::with_capacity(messages.len());
        let mut waiting = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Event(event) => events.push(event),
                Message::Flush(done) => waiting.push(done),
            }
        }
        // An entry is never dropped: a failing database is retried with a
        // growing pause, and the bound on pending rows holds readers back
        // meanwhile.
        let mut pause = Duration::from_millis(50);
        while let Err(err) = write(&db, &events).await {
            tracing::error!(error = %err, events = events.len(), "access log write failed; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        room.add_permits(events.iter().map(|e| e.rows() as usize).sum());
        for done in waiting {
            let _ = done.send(());
        }
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
