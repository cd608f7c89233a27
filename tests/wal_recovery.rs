#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! WAL recovery: every appended record comes back in order; torn tails are cut; damaged
//! records are reported, quarantined and skipped while their neighbours are kept.

mod common;

use std::path::Path;

use common::{copy_dir, segments};

use flightrec::wal::format::segment_file_name;
use flightrec::wal::{Corruption, Durability, Wal, WalError, WalHooks, WalOptions, WalReport, event_payload, inspect};
use proptest::prelude::*;

fn opts(segment_bytes: u64) -> WalOptions {
    WalOptions { segment_bytes, ..WalOptions::default() }
}

/// Opens the WAL and returns it with every replayed record body and the report.
fn open(dir: &Path, o: WalOptions) -> (Wal, Vec<Vec<u8>>, WalReport) {
    let mut got = Vec::new();
    let (wal, report) =
        Wal::open_replaying(dir, o, WalHooks::default(), &|_| None, &mut |_, rec, _| got.push(rec.json.to_vec()))
            .unwrap();
    (wal, got, report)
}

fn body(i: usize) -> Vec<u8> {
    format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 50)).into_bytes()
}

fn write_records(dir: &Path, range: std::ops::Range<usize>, o: WalOptions) {
    let (wal, _, _) = open(dir, o);
    for i in range {
        wal.append_blocking(event_payload(false, &body(i)), Durability::Sync).unwrap();
    }
    wal.close().unwrap();
}

/// Offsets of the records of the newest segment.
fn record_offsets(dir: &Path) -> Vec<(u64, u64)> {
    let mut offsets = Vec::new();
    inspect(dir, &mut |seg_first, rec| offsets.push((seg_first, rec.offset))).unwrap();
    offsets
}

#[test]
fn appended_records_come_back_in_order_across_seals_and_reopens() {
    let tmp = tempfile::tempdir().unwrap();
    write_records(tmp.path(), 0..100, opts(2_000));
    write_records(tmp.path(), 100..150, opts(2_000));
    let (wal, got, report) = open(tmp.path(), opts(2_000));
    assert_eq!(got, (0..150).map(body).collect::<Vec<_>>());
    assert!(report.segments.len() > 3, "small segments must have sealed: {}", report.segments.len());
    assert!(report.segments[..report.segments.len() - 1].iter().all(|s| s.sealed));
    assert_eq!(report.damage_count(), 0);
    assert_eq!(wal.stats().next_lsn, 151);
}

#[test]
fn torn_tail_is_cut_at_every_byte_of_the_last_record() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    write_records(&template, 0..5, opts(1 << 20));
    let seg = segments(&template).pop().unwrap();
    let last_start = record_offsets(&template).last().unwrap().1;
    let last_end = last_start + 16 + 2 + body(4).len() as u64;
    for cut in last_start..last_end {
        for zero_fill in [false, true] {
            let dir = tmp.path().join(format!("cut-{cut}-{zero_fill}"));
            copy_dir(&template, &dir);
            let path = dir.join(seg.file_name().unwrap());
            let mut bytes = std::fs::read(&path).unwrap();
            if zero_fill {
                bytes[cut as usize..last_end as usize].fill(0);
            } else {
                bytes.truncate(cut as usize);
            }
            std::fs::write(&path, &bytes).unwrap();

            let (wal, got, report) = open(&dir, opts(1 << 20));
            assert_eq!(got, (0..4).map(body).collect::<Vec<_>>(), "cut at {cut}, zero fill {zero_fill}");
            let torn = report.segments.last().unwrap().torn_tail.is_some();
            let leftover = bytes.get(last_start as usize..).is_some_and(|b| b.iter().any(|&x| x != 0));
            assert_eq!(torn, leftover, "torn tail reported iff bytes of the record remain (cut {cut})");
            wal.append_blocking(event_payload(false, b"{\"after\":1}"), Durability::Sync).unwrap();
            wal.close().unwrap();
            drop(wal);
            let (_, got, report) = open(&dir, opts(1 << 20));
            assert_eq!(got.len(), 5);
            assert_eq!(got[4], b"{\"after\":1}");
            assert!(report.segments.last().unwrap().torn_tail.is_none(), "the tail was cut for good");
        }
    }
}

/// Writes three sealed segments of five records each plus an active one.
fn three_sealed_segments(dir: &Path) {
    let (wal, _, _) = open(dir, opts(1 << 20));
    for i in 0..15 {
        wal.append_blocking(event_payload(false, &body(i)), Durability::Sync).unwrap();
        if i % 5 == 4 {
            wal.seal_blocking().unwrap();
        }
    }
    wal.close().unwrap();
}

fn flip_and_recover(flip_at: impl Fn(u64) -> u64, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    three_sealed_segments(tmp.path());
    let offsets = record_offsets(tmp.path());
    let middle_segment = offsets[5].0;
    let (_, middle_record) = offsets[7];
    let seg = tmp.path().join(format!("{middle_segment:020}.wal"));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[flip_at(middle_record) as usize] ^= 0x5A;
    std::fs::write(&seg, &bytes).unwrap();

    let verify = inspect(tmp.path(), &mut |_, _| {}).unwrap();
    assert_eq!(verify.damage_count(), 1, "{what}: verify reports the damage");
    let damaged = &verify.segments[1];
    assert_eq!(damaged.damage[0].offset, middle_record, "{what}: damage names the offset");
    assert!(damaged.file.starts_with(&format!("{middle_segment:020}")), "{what}: damage names the segment");

    let (wal, got, report) = open(tmp.path(), opts(1 << 20));
    let expected: Vec<Vec<u8>> = (0..15).filter(|&i| i != 7).map(body).collect();
    assert_eq!(got, expected, "{what}: every valid record is kept");
    assert_eq!(report.damage_count(), 1);
    assert_eq!(report.quarantined.len(), 1, "{what}: the bad bytes are quarantined");
    assert!(Path::new(&report.quarantined[0]).exists());
    wal.append_blocking(event_payload(false, b"{\"new\":1}"), Durability::Sync).unwrap();
    wal.close().unwrap();
    drop(wal);
    let (_, got, _) = open(tmp.path(), opts(1 << 20));
    assert_eq!(got.len(), 15, "{what}: the recorder accepts new writes after damage");
}

#[test]
fn a_flipped_payload_byte_in_a_sealed_segment_loses_only_that_record() {
    flip_and_recover(|rec| rec + 16 + 5, "payload byte");
}

#[test]
fn a_flipped_length_byte_resynchronises_on_the_next_record() {
    flip_and_recover(|rec| rec + 1, "length byte");
}

#[test]
fn an_unreadable_segment_header_is_quarantined_and_the_rest_kept() {
    let tmp = tempfile::tempdir().unwrap();
    three_sealed_segments(tmp.path());
    let first = segments(tmp.path())[0].clone();
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[3] ^= 0xFF;
    std::fs::write(&first, &bytes).unwrap();
    let (_, got, report) = open(tmp.path(), opts(1 << 20));
    assert_eq!(got, (5..15).map(body).collect::<Vec<_>>());
    assert_eq!(report.segments[0].unreadable, Some(Corruption::BadMagic));
    assert!(!first.exists(), "moved to quarantine");
    assert!(tmp.path().join("quarantine").read_dir().unwrap().count() == 1);
}

#[test]
fn an_append_that_would_take_the_last_lsn_is_refused_as_corruption_naming_segment_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let o = WalOptions { lsn_floor: u64::MAX - 1, ..opts(1 << 20) };
    let (wal, _, _) = open(tmp.path(), o);
    let err = wal.append_blocking(event_payload(false, &body(0)), Durability::Sync).unwrap_err();
    let WalError::Corruption { segment, offset, cause } = &err else { panic!("not corruption: {err}") };
    assert_eq!(segment, &tmp.path().join(segment_file_name(u64::MAX)));
    assert_eq!((*offset, *cause), (64, Corruption::LsnSpaceEnd { lsn: u64::MAX }));
    assert_eq!(err.code(), "HSK-500-WAL-CORRUPT");
    let text = err.to_string();
    assert!(text.contains("18446744073709551615.wal offset 64: record LSN"), "{text}");
    drop(wal);
    let (_, got, report) = open(tmp.path(), opts(1 << 20));
    assert!(got.is_empty() && report.damage_count() == 0, "nothing undecodable was written");
}

#[test]
fn async_mode_drops_and_counts_when_the_queue_is_full() {
    let tmp = tempfile::tempdir().unwrap();
    let o = WalOptions { queue_capacity: 1, durability: Durability::Async, ..WalOptions::default() };
    let (wal, _, _) = open(tmp.path(), o);
    let mut dropped = 0;
    for i in 0..2_000 {
        match wal.append_blocking(event_payload(false, &body(i)), Durability::Async) {
            Ok(None) => {}
            Err(e) => {
                assert_eq!(e.code(), "HSK-429-QUEUE-FULL");
                dropped += 1;
            }
            Ok(Some(_)) => panic!("async appends are not acknowledged"),
        }
    }
    wal.flush_blocking().unwrap();
    assert!(dropped > 0, "a queue of one must overflow");
    assert_eq!(wal.stats().dropped, dropped);
    assert_eq!(wal.stats().appended + dropped, 2_000);
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>, Durability),
    Batch(Vec<Vec<u8>>),
    Seal,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..300);
    let durability = prop_oneof![Just(Durability::Sync), Just(Durability::Batch)];
    prop_oneof![
        6 => (bytes.clone(), durability).prop_map(|(b, d)| Op::Append(b, d)),
        2 => proptest::collection::vec(bytes, 0..20).prop_map(Op::Batch),
        1 => Just(Op::Seal),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn any_sequence_of_appends_reopens_to_exactly_those_records(ops in proptest::collection::vec(op(), 1..60), seg in 300u64..4_000) {
        let tmp = tempfile::tempdir().unwrap();
        let mut expected: Vec<Vec<u8>> = Vec::new();
        let (mut wal, _, _) = open(tmp.path(), opts(seg));
        for op in ops {
            match op {
                Op::Append(b, d) => {
                    wal.append_blocking(event_payload(false, &b), d).unwrap();
                    expected.push(b);
                }
                Op::Batch(v) => {
                    wal.append_batch_blocking(v.iter().map(|b| event_payload(false, b)).collect(), Durability::Sync).unwrap();
                    expected.extend(v);
                }
                Op::Seal => wal.seal_blocking().unwrap(),
                Op::Reopen => {
                    wal.close().unwrap();
                    drop(wal);
                    let (w, got, _) = open(tmp.path(), opts(seg));
                    prop_assert_eq!(&got, &expected);
                    wal = w;
                }
            }
        }
        wal.close().unwrap();
        drop(wal);
        let (_, got, report) = open(tmp.path(), opts(seg));
        prop_assert_eq!(got, expected);
        prop_assert_eq!(report.damage_count(), 0);
    }
}
