//! Opening the WAL for the recorder: every record recovery replays goes into the query tail
//! (kept in place when its segment is memory-mapped, decoded by the first query) and its
//! event id into the de-duplication window. The ids are stored beside each record's JSON
//! (payload version 2; for records of earlier builds the threads that scan the segments read
//! them from the JSON, [`crate::wal::ReadAhead`]) and appended to the window by a third
//! thread as they come, to be looked up and placed all at once at the end ([`Dedup::load`]);
//! all of it is done before the WAL accepts its first append. `flightrec-bench recovery`
//! measures exactly this function.

use std::path::Path;
use std::sync::mpsc::sync_channel;

use uuid::Uuid;

use super::dedup::Dedup;
use crate::query::tail::TailIndex;
use crate::wal::{Wal, WalError, WalHooks, WalOptions, WalReport};

/// Event ids handed to the de-duplication thread at a time, and batches in flight.
const ID_BATCH: usize = 4_096;
const ID_BATCHES_IN_FLIGHT: usize = 4;

/// Opens (recovering) the WAL in `wal_dir`, replaying it into `tail` and `dedup`.
pub fn open_wal(
    wal_dir: &Path,
    opts: WalOptions,
    hooks: WalHooks,
    tail: &mut TailIndex,
    dedup: &mut Dedup,
    now_micros: i64,
) -> Result<(Wal, WalReport), WalError> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Uuid>>(ID_BATCHES_IN_FLIGHT);
        let remember = move |dedup: &mut Dedup, batches: std::sync::mpsc::Receiver<Vec<Uuid>>| {
            batches.into_iter().for_each(|ids| dedup.load(&ids, now_micros));
            dedup.finish_load(now_micros);
        };
        let remembering = std::thread::Builder::new()
            .name("flightrec-replay-ids".into())
            .spawn_scoped(scope, move || remember(dedup, rx))
            .map_err(|source| WalError::Io { op: "start replay thread", path: wal_dir.to_path_buf(), source })?;
        let mut ids = Vec::with_capacity(ID_BATCH);
        let opened = Wal::open_replaying(wal_dir, opts, hooks, &crate::stored::event_id_of, &mut |mapped, rec, id| {
            tail.push_replayed(mapped, &rec);
            if let Some(id) = id {
                ids.push(id);
                if ids.len() == ID_BATCH {
                    let _ = tx.send(std::mem::replace(&mut ids, Vec::with_capacity(ID_BATCH)));
                }
            }
        });
        let _ = tx.send(ids);
        drop(tx);
        if remembering.join().is_err() {
            tracing::error!("the replay thread stopped early: some recovered event ids may not be de-duplicated");
        }
        opened
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_replayed_id_is_remembered_and_every_record_reaches_the_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let events = 2 * ID_BATCH + 123; // two full batches of ids and a partial one
        let written = crate::testing::wal_with_sealed_and_active(tmp.path(), 9, ID_BATCH, events - ID_BATCH);

        let (mut tail, mut dedup) = (TailIndex::default(), Dedup::new(chrono::Duration::hours(1), 1_000_000));
        let (wal, report) =
            open_wal(tmp.path(), WalOptions::default(), WalHooks::default(), &mut tail, &mut dedup, 0).unwrap();
        wal.close().unwrap();
        assert_eq!(report.segments.iter().map(|s| s.records).sum::<u64>(), events as u64);
        assert_eq!(dedup.len(), events, "every id was handed to the de-duplication thread");
        assert!(written.iter().all(|p| !dedup.insert(p.event_id, 1)), "each is a duplicate now");
        assert_eq!(tail.len(), events, "every record is in the query tail");
    }
}
