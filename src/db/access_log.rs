//! The access log: every read of a patient's personal data, with who read
//! it, when, through which route, and which patients it returned.
//!
//! A read must not wait for its log entry's own transaction, so the
//! server hands entries to one background writer that inserts them in
//! batches (one transaction per batch, many rows per statement). A batch
//! forms from whatever arrived while the previous one was written: under
//! load, batches grow and the cost per read falls. [`AccessLog::flush`]
//! waits until everything recorded before it is written: the server calls
//! it after a graceful shutdown, and the access-log endpoint before it
//! reads. On Lambda, where a frozen sandbox may never run a background
//! task again, entries are written inline ([`AccessLog::inline`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
    prelude::Uuid,
    sea_query::{InsertStatement, Query},
};
use tokio::sync::{mpsc, oneshot};

use super::{
    begin_write,
    entities::{access_event, access_event_patient},
    store::{Listed, PageRequest},
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
    Batched(mpsc::Sender<Message>),
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

/// Reads waiting beyond this many make callers wait (back-pressure), so a
/// slow database cannot grow memory without bound.
const QUEUE: usize = 8192;
/// Most reads written in one transaction.
const BATCH: usize = 1024;
/// Rows per INSERT statement: 4 parameters per event and 2 per link stay
/// far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const EVENT_ROWS: usize = 1000;
const LINK_ROWS: usize = 4000;

impl AccessLog {
    /// A log written by a background task, in batches. Must be called
    /// inside a Tokio runtime; the task ends when every handle is dropped.
    pub fn batched(db: DatabaseConnection) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(db, receiver));
        Self {
            inner: Inner::Batched(sender),
        }
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
            Inner::Batched(sender) => sender
                .send(Message::Event(stamped))
                .await
                .map_err(|_| stopped()),
        }
    }

    /// Waits until every read recorded before this call is written.
    pub async fn flush(&self) -> Result<(), DbErr> {
        let Inner::Batched(sender) = &self.inner else {
            return Ok(());
        };
        let (done, written) = oneshot::channel();
        sender
            .send(Message::Flush(done))
            .await
            .map_err(|_| stopped())?;
        written.await.map_err(|_| stopped())
    }
}

fn stopped() -> DbErr {
    DbErr::Custom("the access log writer has stopped".into())
}

async fn write_batches(db: DatabaseConnection, mut receiver: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut messages, BATCH).await > 0 {
        let mut events = Vec::with_capacity(messages.len());
        let mut waiting = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Event(event) => events.push(event),
                Message::Flush(done) => waiting.push(done),
            }
        }
        // An entry is never dropped: a failing database is retried with a
        // growing pause, and the queue's bound holds readers back meanwhile.
        let mut pause = Duration::from_millis(50);
        while let Err(err) = write(&db, &events).await {
            tracing::error!(error = %err, events = events.len(), "access log write failed; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
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
    for chunk in events.chunks(EVENT_ROWS) {
        let mut insert = Query::insert();
        insert
            .into_table("access_events")
            .columns(["id", "at", "actor", "route"]);
        for e in chunk {
            insert.values_panic([
                e.id.into(),
                e.at.into(),
                e.event.actor.clone().into(),
                e.event.route.clone().into(),
            ]);
        }
        tx.execute(&insert).await?;
    }
    let links: Vec<(Uuid, Uuid)> = events
        .iter()
        .flat_map(|e| {
            let mut patients = e.event.patients.clone();
            patients.sort_unstable();
            patients.dedup();
            patients.into_iter().map(move |p| (p, e.id))
        })
        .collect();
    for chunk in links.chunks(LINK_ROWS) {
        tx.execute(&link_insert(chunk)).await?;
    }
    tx.commit().await
}

fn link_insert(links: &[(Uuid, Uuid)]) -> InsertStatement {
    let mut insert = Query::insert();
    insert
        .into_table("access_event_patients")
        .columns(["patient_id", "event_id"]);
    for (patient, event) in links {
        insert.values_panic([(*patient).into(), (*event).into()]);
    }
    insert
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
    let next_after = if ids.len() as u64 > page.limit {
        ids.truncate(page.limit as usize);
        ids.last().copied()
    } else {
        None
    };
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
