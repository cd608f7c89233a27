//! One file to one object: a single PUT, or a multipart upload for a large file.

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::ShipError;

/// Files above this size are uploaded in parts (S3 takes at most 5 GiB in one PUT; parts
/// also let a slow link retry one part instead of the whole file).
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;

/// The size of each part (S3's minimum is 5 MiB, except for the last).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// What the store answered for a completed upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub bytes: u64,
    pub etag: Option<String>,
}

/// Uploads `file` to `key`; the object exists under `key` only once this returns Ok.
pub async fn upload(
    store: &dyn ObjectStore,
    key: &ObjectPath,
    file: &std::path::Path,
    multipart_threshold: u64,
) -> Result<Uploaded, ShipError> {
    let read = |source| ShipError::Read { path: file.to_path_buf(), source };
    let bytes = tokio::fs::metadata(file).await.map_err(read)?.len();
    let etag = if bytes <= multipart_threshold {
        let data = tokio::fs::read(file).await.map_err(read)?;
        store.put(key, PutPayload::from(data)).await.map_err(ShipError::remote("upload", key))?.e_tag
    } else {
        upload_parts(store, key, file).await?
    };
    Ok(Uploaded { bytes, etag })
}

/// A multipart upload of `file`, aborted (its parts discarded) when anything fails.
async fn upload_parts(
    store: &dyn ObjectStore,
    key: &ObjectPath,
    file: &std::path::Path,
) -> Result<Option<String>, ShipError> {
    let read = |source| ShipError::Read { path: file.to_path_buf(), source };
    let upload = store.put_multipart(key).await.map_err(ShipError::remote("start a multipart upload of", key))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut f = tokio::fs::File::open(file).await.map_err(read)?;
    let mut buf = vec![0u8; 1024 * 1024];
    let sent: Result<(), ShipError> = async {
        loop {
            let n = f.read(&mut buf).await.map_err(read)?;
            if n == 0 {
                return Ok(());
            }
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(ShipError::remote("upload a part of", key))?;
            writer.write(&buf[..n]);
        }
    }
    .await;
    match sent {
        Ok(()) => Ok(writer.finish().await.map_err(ShipError::remote("complete the multipart upload of", key))?.e_tag),
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(key = %key, error = %abort, "could not abort a failed multipart upload");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn a_large_file_goes_up_in_parts_and_arrives_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seg.parquet");
        let bytes: Vec<u8> = (0..PART_BYTES * 2 + 12_345).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        let store = InMemory::new();
        for (threshold, key) in [(1024, "parts"), (u64::MAX, "one-put")] {
            let key = ObjectPath::from(key);
            let uploaded = upload(&store, &key, &file, threshold).await.unwrap();
            assert_eq!(uploaded.bytes, bytes.len() as u64);
            assert!(uploaded.etag.is_some());
            let stored = store.get(&key).await.unwrap().bytes().await.unwrap();
            assert!(stored[..] == bytes[..], "{key}: the object differs from the file");
        }
        let missing = upload(&store, &ObjectPath::from("x"), &dir.path().join("gone.parquet"), 1024).await;
        assert_eq!(missing.unwrap_err().code(), crate::error::Code::Io);
    }
}
