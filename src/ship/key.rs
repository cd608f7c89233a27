//! Where a file goes in the bucket: the host's partition and the file's own relative path.

use object_store::path::Path as ObjectPath;

use super::ShipError;

/// The `host=<id>` partition value: letters, digits, `.`, `_` and `-` (it is a path segment
/// and a hive partition value, so no `/` or `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostId(String);

/// The longest host id taken.
const MAX_HOST_ID: usize = 128;

impl HostId {
    pub fn new(id: &str) -> Result<HostId, ShipError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if id.is_empty() || id.len() > MAX_HOST_ID || !id.chars().all(allowed) || id.starts_with('.') {
            let reason = format!("use 1 to {MAX_HOST_ID} letters, digits, `.`, `_` or `-` (not starting with `.`)");
            return Err(ShipError::config("host id", id, reason));
        }
        Ok(HostId(id.to_string()))
    }

    /// This machine's host name (the kernel's, else `$HOSTNAME`), made a valid id.
    pub fn from_host_name() -> Result<HostId, ShipError> {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let name = name.trim();
        let cleaned: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
            .collect();
        HostId::new(cleaned.trim_start_matches('.'))
            .map_err(|_| ShipError::config("host name", name, "it cannot be a host id: pass --host-id"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The object key of a Parquet file (`file` relative to the data directory, as the catalog
/// lists it): `PREFIX/host=<id>/events/date=YYYY-MM-DD/seg-<first LSN>.parquet`.
pub fn object_key(prefix: &ObjectPath, host: &HostId, file: &str) -> Result<ObjectPath, ShipError> {
    let well_formed = file.starts_with("events/date=") && file.ends_with(".parquet") && !file.contains("..");
    if !well_formed {
        return Err(ShipError::config("catalog file", file, "not a Parquet file under events/date=*/"));
    }
    let mut key = prefix.to_string();
    if !key.is_empty() {
        key.push('/');
    }
    key.push_str(&format!("host={host}/{file}"));
    ObjectPath::parse(&key).map_err(|e| ShipError::config("object key", &key, e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_put_the_host_partition_between_prefix_and_the_local_path() {
        let host = HostId::new("web-1.eu").unwrap();
        let file = "events/date=2026-11-30/seg-00000000000000000042.parquet";
        let key = object_key(&ObjectPath::from("fleet/prod"), &host, file).unwrap();
        assert_eq!(key.as_ref(), format!("fleet/prod/host=web-1.eu/{file}"));
        let bare = object_key(&ObjectPath::default(), &host, file).unwrap();
        assert_eq!(bare.as_ref(), format!("host=web-1.eu/{file}"));
        assert!(object_key(&ObjectPath::default(), &host, "wal/x.wal").is_err());
    }

    #[test]
    fn host_ids_are_single_path_segments() {
        for bad in ["", "a/b", "a=b", "..", ".hidden", "sp ace", &"x".repeat(129)] {
            assert!(HostId::new(bad).is_err(), "{bad:?} was taken");
        }
        assert_eq!(HostId::new("Host_7-a.b").unwrap().as_str(), "Host_7-a.b");
        assert!(HostId::from_host_name().is_ok());
    }
}
