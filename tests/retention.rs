#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Retention over ten simulated days with a seven-day window.

mod common;

use chrono::{Duration, Utc};
use common::{parquet_query, record};
use flightrec::compact::Compactor;
use flightrec::compact::catalog::Source;
use flightrec::datadir::Layout;
use flightrec::retention::enforce;
use flightrec::workload::Generator;

#[test]
fn ten_days_seven_day_window_drops_exactly_the_old_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let now = Utc::now();
    // One segment a day, days 9.5 .. 0.5 ago, 50 events each, ten minutes apart at most.
    let mut generator = Generator::new(1, now, 1_000_000);
    let mut lines = Vec::new();
    for day in (0..10).rev() {
        generator.set_now(now - Duration::hours(day * 24 + 12));
        lines.extend((0..50).map(|_| generator.next_json()));
    }
    record(tmp.path(), &lines, 50);
    // A segment straddling the window's edge (7.5 and 6.5 days ago) must survive.
    generator.set_now(now - Duration::hours(7 * 24 + 12));
    let mut edge: Vec<String> = (0..5).map(|_| generator.next_json()).collect();
    generator.set_now(now - Duration::hours(6 * 24 + 12));
    edge.extend((0..5).map(|_| generator.next_json()));
    record(tmp.path(), &edge, 100);

    let layout = Layout::new(tmp.path());
    let mut compactor = Compactor::open(&layout).unwrap();
    compactor.run_once().unwrap();
    // Two more old days stay in the WAL, sealed but not compacted: retention drops them too.
    generator.set_now(now - Duration::hours(8 * 24 + 12));
    let stale: Vec<String> = (0..20).map(|_| generator.next_json()).collect();
    record(tmp.path(), &stale, 100);

    let dry = enforce(&mut compactor, Duration::days(7), now, true).unwrap();
    // Days 9, 8 and 7 (compacted, 150 events) and the stale WAL segment (20 events).
    assert_eq!(dry.events_purged, 170);
    assert_eq!(flightrec_count(tmp.path()), 510, "a dry run changes nothing");

    let report = enforce(&mut compactor, Duration::days(7), now, false).unwrap();
    assert_eq!(report.events_purged, 170);
    assert_eq!(report.dropped.len(), 4);
    assert_eq!(report.dropped.iter().filter(|d| d.source == Source::Wal).count(), 1);
    assert_eq!(flightrec_count(tmp.path()), 510 - 150, "exact survivors in Parquet");
    let oldest = parquet_query(tmp.path(), "SELECT epoch_us(min(timestamp))::VARCHAR FROM EVENTS");
    let oldest: i64 = oldest[0][0].as_ref().unwrap().parse().unwrap();
    assert!(oldest >= (now - Duration::days(8)).timestamp_micros(), "the edge segment and younger survive");

    let catalog = compactor.catalog().stats().unwrap();
    assert_eq!((catalog.dropped_segments, catalog.dropped_events), (4, 170));
    let log = compactor.catalog().retention_log().unwrap();
    assert_eq!(log.iter().filter(|d| d.source == Source::Wal).count(), 1, "the WAL segment is logged as such");
    assert!(catalog.dropped_index_rows > 0, "dropped traces and jobs stay findable as gaps");
    assert_eq!(catalog.events, 360);

    let again = enforce(&mut compactor, Duration::days(7), now, false).unwrap();
    assert_eq!(again.events_purged, 0, "a second run has nothing left to drop");
    let wal_files =
        std::fs::read_dir(tmp.path().join("wal")).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count();
    assert_eq!(wal_files, 1, "only the active segment is left, and it was never dropped");
}

fn flightrec_count(dir: &std::path::Path) -> u64 {
    parquet_query(dir, "SELECT count(*)::VARCHAR FROM EVENTS")[0][0].as_ref().unwrap().parse().unwrap()
}
