//! Where files are shipped: the object store a `--ship-to` URL names, and the key prefix.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, RetryConfig};

use super::{HostId, ShipError};

/// An object store and the prefix of every key shipped there.
#[derive(Clone)]
pub struct ShipTarget {
    /// The URL as configured: the catalog records shipments per target.
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl std::fmt::Debug for ShipTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipTarget").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Retries of one request inside object_store: few and short, as the shipper retries whole
/// passes with its own backoff (a long inner retry would hide an outage from the stats).
fn retry_config() -> RetryConfig {
    let backoff =
        BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(2), base: 2.0 };
    RetryConfig { backoff, max_retries: 2, retry_timeout: Duration::from_secs(20) }
}

impl ShipTarget {
    /// `s3://BUCKET/PREFIX` (settings from the `AWS_*` variables), `file:///DIR/PREFIX`, or
    /// `memory:///PREFIX` (a store of this process only: tests and benchmarks).
    pub fn parse(url: &str) -> Result<ShipTarget, ShipError> {
        let bad = |reason: &str| ShipError::config("--ship-to", url, reason);
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| bad("use s3://BUCKET/PREFIX, file:///DIR or memory:///"))?;
        let (store, prefix): (Arc<dyn ObjectStore>, &str) = match scheme {
            "s3" | "s3a" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("no bucket name"));
                }
                install_tls_provider();
                let s3 = AmazonS3Builder::from_env().with_bucket_name(bucket).with_retry(retry_config()).build();
                (Arc::new(s3.map_err(|e| bad(&e.to_string()))?), prefix)
            }
            "file" => {
                let dir = std::path::Path::new(rest);
                if !dir.is_absolute() {
                    return Err(bad("a file:// URL needs an absolute path (file:///DIR)"));
                }
                std::fs::create_dir_all(dir).map_err(|e| bad(&format!("create the directory: {e}")))?;
                let local = LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(&e.to_string()))?;
                (Arc::new(local.with_automatic_cleanup(true).with_fsync(true)), "")
            }
            "memory" => (Arc::new(InMemory::new()), rest),
            _ => return Err(bad("the scheme must be s3, file or memory")),
        };
        let prefix = ObjectPath::parse(prefix.trim_matches('/')).map_err(|e| bad(&e.to_string()))?;
        Ok(ShipTarget { url: url.to_string(), store, prefix })
    }

    /// A target on a store built elsewhere (tests, the benchmark), named `url` in the catalog.
    pub fn with_store(url: &str, store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> ShipTarget {
        ShipTarget { url: url.to_string(), store, prefix }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn prefix(&self) -> &ObjectPath {
        &self.prefix
    }
}

/// rustls' ring provider, process-wide: reqwest is built without a provider of its own (the
/// default one, aws-lc-rs, is a C build this crate avoids). Installing twice is harmless.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What shipping is configured with.
#[derive(Debug, Clone)]
pub struct ShipConfig {
    pub target: ShipTarget,
    pub host_id: HostId,
    /// Objects whose segment's newest event is older than this are deleted from the target.
    pub remote_retention: Option<chrono::Duration>,
    /// Files above this many bytes go up as multipart uploads.
    pub multipart_threshold: u64,
    /// The longest wait between two failed passes of the background shipper.
    pub max_backoff: Duration,
}

impl ShipConfig {
    pub fn new(target: ShipTarget, host_id: HostId) -> ShipConfig {
        ShipConfig {
            target,
            host_id,
            remote_retention: None,
            multipart_threshold: super::MULTIPART_THRESHOLD,
            max_backoff: Duration::from_secs(30),
        }
    }
}
