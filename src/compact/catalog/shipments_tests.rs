//! The catalog's shipping rows (`cat.shipments`), with the helpers of the catalog tests.

use super::*;

const URL: &str = "s3://bucket/prefix";

fn shipped(file: &Unshipped) -> Shipped {
    Shipped {
        file: file.file.clone(),
        target: URL.to_string(),
        segment: file.segment,
        object_key: format!("prefix/host=h/{}", file.file),
        bytes: 10,
        etag: Some("\"etag\"".into()),
        max_ts_micros: file.max_ts_micros,
    }
}

fn files(rows: &[Unshipped]) -> Vec<&str> {
    rows.iter().map(|r| r.file.as_str()).collect()
}

#[test]
fn files_wait_until_recorded_as_shipped_to_their_target() {
    let (_dir, catalog) = open();
    let day1 = ["events/date=2026-11-01/seg-1.parquet", "events/date=2026-11-02/seg-1.parquet"];
    record(&catalog, 1, &day1, &[("t", None, 0, 1), ("t", None, 86_400, 2)]);
    record(&catalog, 3, &["events/date=2026-11-02/seg-3.parquet"], &[("t", None, 86_500, 3)]);
    let waiting = catalog.unshipped_files(URL).unwrap();
    assert_eq!(files(&waiting), [day1[0], day1[1], "events/date=2026-11-02/seg-3.parquet"]);
    assert_eq!(waiting[0].max_ts_micros, Some(T0 + 86_400_000_000), "the segment's newest event");
    catalog.record_shipped(&shipped(&waiting[0])).unwrap();
    catalog.record_shipped(&shipped(&waiting[0])).unwrap(); // a re-upload replaces its row
    assert_eq!(files(&catalog.unshipped_files(URL).unwrap()), &files(&waiting)[1..]);
    let counts = catalog.ship_counts(URL).unwrap();
    assert_eq!((counts.shipped, counts.unshipped), (1, 2));
    assert!(counts.oldest_unshipped_micros.is_some());
    let elsewhere = catalog.ship_counts("file:///mirror").unwrap();
    assert_eq!((elsewhere.shipped, elsewhere.unshipped), (0, 3), "shipments are per target");
}

#[test]
fn remote_retention_marks_objects_dropped_and_logs_them_apart_from_local_drops() {
    let (_dir, catalog) = open();
    record(&catalog, 5, &["events/date=2026-11-01/seg-5.parquet"], &[("t", None, 0, 5), ("t", None, 10, 6)]);
    let file = catalog.unshipped_files(URL).unwrap().remove(0);
    catalog.record_shipped(&shipped(&file)).unwrap();
    assert!(catalog.remote_expired(URL, T0).unwrap().is_empty(), "inside the window");
    let expired = catalog.remote_expired(URL, T0 + 86_400_000_000).unwrap();
    assert_eq!(expired.len(), 1);
    catalog.drop_remote(URL, 5, &expired, 30.0).unwrap();
    assert!(catalog.remote_expired(URL, T0 + 86_400_000_000).unwrap().is_empty());
    assert_eq!(catalog.ship_counts(URL).unwrap().shipped, 0);
    let log = catalog.retention_log().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].source, log[0].events, &log[0].files[..]),
        (Source::Remote, 2, &[expired[0].object_key.clone()][..])
    );
    let stats = catalog.stats().unwrap();
    assert_eq!(
        (stats.segments, stats.dropped_segments, stats.dropped_events),
        (1, 0, 0),
        "the local files are still there"
    );
}

#[test]
fn a_version_2_catalog_is_migrated_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.duckdb");
    {
        let catalog = Catalog::open(&path).unwrap();
        record(&catalog, 1, &["events/date=2026-11-01/seg-1.parquet"], &[("t", None, 0, 1)]);
        let v2 = "DROP TABLE cat.shipments; ALTER TABLE cat.segments DROP COLUMN summary_columns; \
                  UPDATE cat.catalog_meta SET value = 2 WHERE key = 'schema_version'";
        catalog.conn.execute_batch(v2).unwrap();
    }
    let catalog = Catalog::open(&path).unwrap();
    let version = stored_strings(&catalog, "SELECT value::VARCHAR FROM cat.catalog_meta WHERE key = 'schema_version'");
    assert_eq!(version, [SCHEMA_VERSION.to_string()]);
    assert_eq!(SCHEMA_VERSION, 5, "shipments came with version 3, the summary columns with 4, id filters with 5");
    assert_eq!(catalog.unshipped_files(URL).unwrap().len(), 1, "an existing file waits to be shipped");
}
