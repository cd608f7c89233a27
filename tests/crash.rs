#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Crash tests with a real child process: the test-support ack writer (tests/support) appends
//! from eight concurrent writers in sync mode and prints each acknowledged event_id; the test kills
//! it with SIGKILL at a random moment, reopens the WAL, and checks that every acknowledged
//! event is there exactly once. Twenty rounds on one data directory, so recovery also runs
//! over the damage of earlier rounds.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use flightrec::wal::{Wal, WalHooks, WalOptions};

fn stored_ids(data_dir: &Path) -> HashMap<String, u32> {
    #[derive(serde::Deserialize)]
    struct Id {
        event_id: String,
    }
    let mut counts = HashMap::new();
    let dir = flightrec::datadir::DataDir::open(data_dir).unwrap();
    let (wal, report) = Wal::open_replaying(
        &dir.layout().wal_dir(),
        WalOptions::default(),
        WalHooks::default(),
        &|_| None,
        &mut |_, rec, _| {
            let id: Id = serde_json::from_slice(rec.json).unwrap();
            *counts.entry(id.event_id).or_insert(0) += 1;
        },
    )
    .unwrap();
    assert_eq!(report.damage_count(), 0, "a crash leaves at most a torn tail: {report:?}");
    wal.close().unwrap();
    counts
}

#[test]
fn every_acknowledged_event_survives_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut acked: Vec<String> = Vec::new();
    for round in 0..20 {
        // Killed at a random moment after the child is up (its first acknowledgement), so every
        // round kills a process in the middle of group commits, not one still starting.
        let args = ["--writers", "8", "--durability", "sync", "--segment-bytes", "65536"];
        let round_acks = common::ingest_then_kill_9(&data_dir, &args, Duration::from_millis(fastrand::u64(0..500)));
        assert!(!round_acks.is_empty(), "round {round}: the child acknowledged nothing");
        acked.extend(round_acks);

        let stored = stored_ids(&data_dir);
        for id in &acked {
            assert_eq!(
                stored.get(id).copied(),
                Some(1),
                "round {round}: acknowledged {id} must be stored exactly once"
            );
        }
        assert!(stored.values().all(|&n| n == 1), "round {round}: no event is stored twice");
    }
}
