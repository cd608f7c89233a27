#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Input that is valid JSON but poisonous: an event dated far in the future would keep its
//! whole WAL segment, and every event in it, from retention for ever. It is refused on every
//! ingest path with `HSK-400-INVALID-EVENT` on `timestamp`; the skew is configurable.

mod common;

use chrono::{Duration, Utc};
use common::{flightrec, sample_lines};
use flightrec::event::time::format_rfc3339;
use flightrec::recorder::{Recorder, RecorderConfig, RecorderError};

/// The first sample event, dated `at`, with a fresh event_id.
fn event_at(at: chrono::DateTime<Utc>) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&sample_lines()[0]).unwrap();
    v["timestamp"] = format_rfc3339(&at).into();
    v["event_id"] = uuid::Uuid::new_v4().to_string().into();
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_refuses_events_dated_past_the_future_skew() {
    let tmp = tempfile::tempdir().unwrap();
    let recorder = Recorder::open(RecorderConfig::new(tmp.path())).await.unwrap();
    for far in ["9999-12-31T23:59:59Z", &format_rfc3339(&(Utc::now() + Duration::days(2)))] {
        let mut v: serde_json::Value = serde_json::from_str(&event_at(Utc::now())).unwrap();
        v["timestamp"] = (*far).into();
        match recorder.record_json(v.to_string().as_bytes(), None).await {
            Err(RecorderError::InvalidEvent(e)) => {
                assert_eq!(e.field, "timestamp");
                assert!(e.reason.contains("--max-future-skew"), "{}", e.reason);
            }
            other => panic!("{far} must be refused, got {other:?}"),
        }
    }
    // Within the default day, and in the past: accepted.
    for at in [Utc::now() + Duration::hours(23), Utc::now() - Duration::days(400)] {
        recorder.record_json(event_at(at).as_bytes(), None).await.unwrap();
    }
    // The batch path refuses the one bad event and keeps the others.
    let good = event_at(Utc::now());
    let bad = event_at(Utc::now() + Duration::days(30));
    let results = recorder.record_json_batch(&[good.as_bytes(), bad.as_bytes()], None).await;
    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(RecorderError::InvalidEvent(e)) if e.field == "timestamp"));
    assert_eq!(recorder.stats().await.unwrap().totals.events, 3);
    recorder.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skew_is_configurable() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = RecorderConfig::new(tmp.path());
    config.max_future_skew = Duration::minutes(5);
    let recorder = Recorder::open(config).await.unwrap();
    let err = recorder.record_json(event_at(Utc::now() + Duration::hours(1)).as_bytes(), None).await.unwrap_err();
    assert!(matches!(err, RecorderError::InvalidEvent(e) if e.field == "timestamp"));
    recorder.record_json(event_at(Utc::now() + Duration::minutes(1)).as_bytes(), None).await.unwrap();
    recorder.shutdown().await.unwrap();
}

#[test]
fn cli_ingest_refuses_a_future_line_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("in.ndjson");
    let lines = [event_at(Utc::now()), event_at(Utc::now() + Duration::days(3650)), event_at(Utc::now())];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let data = tmp.path().join("data");
    let out = flightrec(&data, &["ingest", "--json", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"][0]["line"], 2);
    assert_eq!(v["rejected"][0]["field"], "timestamp");
    assert_eq!(v["rejected"][0]["code"], "HSK-400-INVALID-EVENT");
    // A wider skew lets it in; a malformed one is a usage error.
    let out = flightrec(&data, &["ingest", "--max-future-skew", "3651d", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = flightrec(&data, &["ingest", "--max-future-skew", "soon", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
