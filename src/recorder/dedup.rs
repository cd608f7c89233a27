//! Duplicate `event_id`s (FR-EVT.md): an id seen within the window (default 24 hours) is a
//! duplicate and is not stored twice, so a caller may retry safely. Memory stays bounded:
//! ids older than the window are forgotten, and beyond `capacity` the oldest go first. The
//! ids are kept as 16-byte UUIDs in an [`IdRing`], at most `idring::BYTES_PER_ID` (40) bytes
//! per id of capacity (2,000,000 ids by default: at most 80 MB).
//!
//! An id whose first append is still in flight is *pending*: a retry that arrives meanwhile
//! waits for that append's outcome instead of being answered `duplicate` at once, because the
//! first append may still fail (then the retry is the one that stores the event). Only a
//! successful append makes an id *seen*; a failed one leaves nothing behind.

use std::collections::HashMap;

use tokio::sync::watch;
use uuid::Uuid;

use super::idring::IdRing;

/// The ids seen recently, with when they were seen (microseconds), and the ids in flight.
#[derive(Debug)]
pub struct Dedup {
    seen: IdRing,
    /// Ids whose append is in flight, with the sender that tells waiters whether it was
    /// stored: made when the first retry comes to wait (rare; a channel per append cost more
    /// than the rest of the claim). Keyed like the ring's table (clients pick the ids).
    pending: HashMap<Uuid, Option<watch::Sender<Option<bool>>>, ahash::RandomState>,
    window_micros: i64,
}

/// What [`Dedup::claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// The id is new: the caller appends it and then calls [`Dedup::finish`].
    New,
    /// Stored within the window: nothing is to be stored.
    Duplicate,
    /// Another append of the id is in flight: wait ([`wait_for_outcome`]) and claim again.
    InFlight(watch::Receiver<Option<bool>>),
}

/// Waits until the in-flight append of a [`Claim::InFlight`] has an outcome.
pub async fn wait_for_outcome(mut rx: watch::Receiver<Option<bool>>) {
    // An error means the sender is gone, which also ends the append: claim again either way.
    let _ = rx.wait_for(Option::is_some).await;
}

impl Dedup {
    pub fn new(window: chrono::Duration, capacity: usize) -> Dedup {
        Dedup {
            seen: IdRing::new(capacity),
            pending: HashMap::with_hasher(ahash::RandomState::new()),
            window_micros: window.num_microseconds().unwrap_or(i64::MAX),
        }
    }

    /// Records `id` as seen at `now` (an event already stored: replay, Parquet); false when it
    /// was already seen within the window.
    pub fn insert(&mut self, id: Uuid, now_micros: i64) -> bool {
        self.finish_load(now_micros);
        self.expire(now_micros);
        self.seen.insert(id, now_micros)
    }

    /// Like [`Dedup::claim`], for an append whose outcome is known before this memory is let
    /// go (an `async` append is queued or refused at once): a new id is not marked pending;
    /// the caller appends it and, once the append is taken, calls [`Dedup::insert`], all
    /// under one lock. Spares such an append the pending entry and a second lock.
    pub fn claim_at_once(&mut self, id: Uuid, now_micros: i64) -> Claim {
        self.finish_load(now_micros);
        self.expire(now_micros);
        if self.seen.contains(id) {
            return Claim::Duplicate;
        }
        match self.pending.get_mut(&id) {
            Some(waiters) => Claim::InFlight(waiters.get_or_insert_with(|| watch::channel(None).0).subscribe()),
            None => Claim::New,
        }
    }

    /// Claims `id` for an append: new (now pending), a duplicate, or in flight elsewhere.
    pub fn claim(&mut self, id: Uuid, now_micros: i64) -> Claim {
        let claim = self.claim_at_once(id, now_micros);
        if matches!(claim, Claim::New) {
            self.pending.insert(id, None);
        }
        claim
    }

    /// Ends the append of a claimed id: stored ids become seen; a failed one is forgotten.
    /// Either way every waiting retry is woken.
    pub fn finish(&mut self, id: Uuid, stored: bool, now_micros: i64) {
        if stored {
            self.insert(id, now_micros);
        }
        if let Some(Some(sender)) = self.pending.remove(&id) {
            sender.send_replace(Some(stored));
        }
    }

    /// Ids remembered as stored.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    #[cfg_attr(not(feature = "internals"), expect(dead_code, reason = "the pair of len() for the internals API"))]
    pub fn is_empty(&self) -> bool {
        self.seen.len() == 0
    }

    /// Heap bytes the remembered ids hold (ids in flight aside): at most
    /// [`Dedup::budget_bytes`] of the capacity.
    pub fn heap_bytes(&self) -> usize {
        self.seen.heap_bytes()
    }

    /// Remembers `ids` of stored events (the Parquet files' and the WAL's, at open) the cheap
    /// way: appended now, looked up and placed all at once by [`Dedup::finish_load`] (see
    /// [`IdRing::load`]), which every other call makes first. `now` forgets ids older than
    /// the window when a load starts; the loaded ids are seen when it ends.
    pub fn load(&mut self, ids: &[Uuid], now_micros: i64) {
        if !self.seen.is_loading() {
            self.expire(now_micros);
        }
        self.seen.load(ids);
    }

    /// Ends a [`Dedup::load`]: every loaded id is seen at `now` and can be found.
    pub fn finish_load(&mut self, now_micros: i64) {
        self.seen.finish_load(now_micros);
    }

    /// The most heap bytes `capacity` remembered ids take.
    pub fn budget_bytes(capacity: usize) -> usize {
        IdRing::budget_bytes(capacity)
    }

    /// Ids whose append is in flight.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn expire(&mut self, now_micros: i64) {
        while self.seen.oldest_seen().is_some_and(|t| now_micros.saturating_sub(t) > self.window_micros) {
            self.seen.pop_oldest();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_the_window_only_and_memory_stays_bounded() {
        let mut d = Dedup::new(chrono::Duration::seconds(10), 3);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(d.insert(a, 0));
        assert!(!d.insert(a, 5_000_000), "seen 5 s ago");
        assert!(d.insert(a, 11_000_001), "forgotten after the window");
        for _ in 0..10 {
            d.insert(Uuid::new_v4(), 12_000_000);
        }
        assert!(d.len() <= 3);
        assert!(d.insert(b, 12_000_000));
    }

    #[tokio::test]
    async fn a_retry_waits_for_the_append_in_flight_and_stores_the_event_when_that_failed() {
        let mut d = Dedup::new(chrono::Duration::seconds(10), 100);
        let id = Uuid::new_v4();
        assert!(matches!(d.claim(id, 0), Claim::New));
        let Claim::InFlight(rx) = d.claim(id, 1) else { panic!("the first append is in flight") };
        let waiting = tokio::spawn(wait_for_outcome(rx));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the retry waits for the first append");
        d.finish(id, false, 2);
        waiting.await.unwrap();
        assert_eq!((d.len(), d.pending()), (0, 0), "a failed append leaves nothing behind");
        assert!(matches!(d.claim(id, 3), Claim::New), "the retry stores the event");
        let Claim::InFlight(rx) = d.claim(id, 4) else { panic!("the retry's append is in flight") };
        d.finish(id, true, 5);
        wait_for_outcome(rx).await;
        assert!(matches!(d.claim(id, 6), Claim::Duplicate), "once stored, a later retry is a duplicate");
        assert_eq!((d.len(), d.pending()), (1, 0));
    }

    #[tokio::test]
    async fn every_retry_in_flight_is_woken_and_an_append_nobody_waits_for_makes_no_channel() {
        let mut d = Dedup::new(chrono::Duration::seconds(10), 100);
        let (quiet, busy) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(matches!(d.claim(quiet, 0), Claim::New));
        assert!(matches!(d.pending.get(&quiet), Some(None)), "no channel until a retry waits");
        assert!(matches!(d.claim(busy, 0), Claim::New));
        let waits: Vec<_> = (0..3)
            .map(|_| match d.claim(busy, 1) {
                Claim::InFlight(rx) => tokio::spawn(wait_for_outcome(rx)),
                other => panic!("in flight, not {other:?}"),
            })
            .collect();
        d.finish(quiet, true, 2);
        tokio::task::yield_now().await;
        assert!(waits.iter().all(|w| !w.is_finished()), "another id's outcome wakes nobody");
        d.finish(busy, true, 3);
        for w in waits {
            w.await.unwrap();
        }
        assert_eq!((d.len(), d.pending()), (2, 0));
    }

    #[test]
    fn ids_loaded_from_parquet_and_the_wal_are_remembered_once_and_any_other_call_ends_the_load() {
        let mut d = Dedup::new(chrono::Duration::seconds(10), 1_000);
        let parquet: Vec<Uuid> = (0..300).map(|_| Uuid::new_v4()).collect();
        // A crash between compaction and the segment's deletion leaves ids in both.
        let wal: Vec<Uuid> = parquet.iter().skip(250).copied().chain((0..200).map(|_| Uuid::new_v4())).collect();
        parquet.iter().for_each(|id| d.load(std::slice::from_ref(id), 1_000_000));
        d.load(&wal, 2_000_000);
        assert!(matches!(d.claim(wal[0], 2_000_001), Claim::Duplicate), "the claim ends the load first");
        assert_eq!(d.len(), 500, "each id once");
        assert!(parquet.iter().chain(&wal).all(|id| !d.insert(*id, 2_000_002)), "all remembered");
        // Every loaded id is seen when the load ended, and forgotten a window after that.
        assert!(!d.insert(parquet[0], 12_000_001) && !d.insert(wal[249], 12_000_001), "still within the window");
        assert!(d.insert(parquet[0], 12_000_002) && d.insert(wal[249], 12_000_002), "forgotten after it");
    }
}
