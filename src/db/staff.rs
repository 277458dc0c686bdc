//! Staff as records: everyone who signs in has one, made on their first
//! request from the token's subject, so that patients and calls can name
//! the navigator responsible for them.
//!
//! A subject's record id is derived from the subject (a hash), so the
//! server knows the caller's id without reading it (`navigator=me`), and
//! two servers signing in the same person at once make one record.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
};

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, TryInsertResult, prelude::Uuid,
};
use sha2::{Digest, Sha256};

use super::{begin_write, entities::staff, store};

/// The id of the staff record of `subject`: a version 8 UUID made of the
/// first 16 bytes of SHA-256 over a fixed prefix and the subject.
pub fn id_of(subject: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"navigator staff\0")
        .chain_update(subject.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Most subjects remembered as signed in; when full, the set starts again
/// (a forgotten subject costs one read).
const KNOWN: usize = 4096;

/// The subjects this process knows have a record in its database, so that
/// only a subject's first request costs a read (and a write, the first
/// time ever).
#[derive(Clone, Default)]
pub struct Roster(Arc<Mutex<HashSet<Box<str>>>>);

impl Roster {
    /// Makes sure `subject` has a staff record.
    pub async fn sign_in(&self, db: &DatabaseConnection, subject: &str) -> Result<(), DbErr> {
        if self.known().contains(subject) {
            return Ok(());
        }
        ensure(db, subject).await?;
        let mut known = self.known();
        if known.len() >= KNOWN {
            known.clear();
        }
        known.insert(subject.into());
        Ok(())
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<Box<str>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Creates `subject`'s record unless it exists, recording the creation in
/// history with the subject as its actor.
pub async fn ensure(db: &DatabaseConnection, subject: &str) -> Result<(), DbErr> {
    let id = id_of(subject);
    if staff::Entity::find_by_id(id).one(db).await?.is_some() {
        return Ok(());
    }
    let now = Utc::now();
    let row = staff::Model {
        id,
        subject: subject.to_owned(),
        display_name: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let changes = store::creation(serde_json::to_value(&row).unwrap_or_default());
    let tx = begin_write(db).await?;
    // Insert-or-nothing: a concurrent first request of the same subject
    // made it already.
    let inserted = staff::Entity::insert(staff::ActiveModel {
        id: Set(row.id),
        subject: Set(row.subject),
        display_name: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([staff::Column::Id])
    .exec_without_returning(&tx)
    .await?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        store::record_history(&tx, "staff", id, 1, "create", subject, changes).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_always_has_the_same_id_and_another_subject_another() {
        assert_eq!(id_of("alice"), id_of("alice"));
        assert_ne!(id_of("alice"), id_of("alicf"));
        assert_eq!(id_of("alice").get_version_num(), 8);
    }
}
