//! Shipping: every sealed Parquet file goes, byte for byte, to S3-compatible object storage
//! (or a `file://` mirror) in a hive layout, so a fleet of hosts is queried together by the
//! engines analysts already run (DuckDB, Trino, Spark, Athena, polars, pyarrow).
//!
//! The object of `events/date=YYYY-MM-DD/seg-<first LSN>.parquet` is
//! `PREFIX/host=<host id>/events/date=YYYY-MM-DD/seg-<first LSN>.parquet` ([`object_key`]).
//!
//! Invariants:
//! - the catalog records a file as shipped (`cat.shipments`: key, bytes, ETag, `shipped_at`)
//!   only after its upload completed; a file without that row is uploaded again by the next
//!   pass, to the same key with the same bytes, so a crash at any point followed by a rerun
//!   leaves each file exactly once in the bucket;
//! - nothing partial is ever visible under a final key: a small file is one PUT, a large one a
//!   multipart upload that S3 assembles only on completion (an interrupted one is aborted, or
//!   left as invisible parts for the bucket's lifecycle rule); `file://` writes a temporary file
//!   and renames it;
//! - shipping never blocks ingest or compaction: the background [`Shipper`] has its own catalog
//!   connection and only reads the Parquet files, which the compactor never rewrites;
//! - local retention keeps a file that shipping is configured for until it is shipped
//!   (`retention::enforce_keeping`); remote retention ([`expire_remote`]) deletes objects whose
//!   segment left the remote window and logs them in `retention_log` (source `remote`).
//!
//! Credentials, region and endpoint of `s3://` come from the standard `AWS_*` variables.

mod error;
mod expire;
mod key;
mod pass;
mod shipper;
mod status;
mod target;
mod upload;

pub use error::ShipError;
pub use expire::{RemoteDropped, expire_remote};
pub use key::{HostId, object_key};
pub use pass::{FileFailure, PassReport, ship_pending};
pub use shipper::Shipper;
pub use status::{ShipBoard, ShipCounters, ShipStats, StatusFile};
pub use target::{ShipConfig, ShipTarget};
pub use upload::MULTIPART_THRESHOLD;
