//! The active segment: the one file the writer appends to. The writer thread owns it
//! exclusively; nothing else writes WAL files while the WAL is open.
//!
//! Invariants: a segment file appears under its final name only with a complete, fsynced
//! header (written as `*.wal.tmp`, fsynced, renamed, directory fsynced). Bytes past
//! `write_offset` are zero fill. Sealing appends the seal record, cuts the file to its data,
//! and fsyncs it before the next segment is created, so every segment but the newest is sealed.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{WalError, io_err};
use super::format::{HEADER_LEN, SegmentHeader, encode_record, seal_payload, segment_path};
use crate::fsutil::{preallocate, sync_dir};

/// The segment being appended to.
#[derive(Debug)]
pub struct ActiveSegment {
    file: File,
    path: PathBuf,
    pub first_lsn: u64,
    pub write_offset: u64,
    pub created_micros: i64,
    pub event_records: u64,
}

impl ActiveSegment {
    /// Creates a new, empty segment whose first record will carry `first_lsn`.
    pub fn create(wal_dir: &Path, first_lsn: u64, prealloc: u64) -> Result<ActiveSegment, WalError> {
        let path = segment_path(wal_dir, first_lsn);
        let tmp = path.with_extension("wal.tmp");
        let created_micros = chrono::Utc::now().timestamp_micros();
        let header = SegmentHeader { first_lsn, created_micros }.encode();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err("create segment", &tmp))?;
        file.write_all_at(&header, 0).map_err(io_err("write segment header", &tmp))?;
        preallocate(&file, prealloc.max(HEADER_LEN as u64)).map_err(io_err("preallocate segment", &tmp))?;
        file.sync_all().map_err(io_err("fsync new segment", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename new segment", &path))?;
        sync_dir(wal_dir).map_err(io_err("fsync WAL directory", wal_dir))?;
        Ok(ActiveSegment { file, path, first_lsn, write_offset: HEADER_LEN as u64, created_micros, event_records: 0 })
    }

    /// Reopens the newest segment after recovery: cuts everything after `end_offset` (a torn
    /// tail), restores the zero-filled preallocation and fsyncs.
    pub fn reopen(
        path: &Path,
        first_lsn: u64,
        created_micros: i64,
        end_offset: u64,
        event_records: u64,
        prealloc: u64,
    ) -> Result<ActiveSegment, WalError> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(io_err("open segment", path))?;
        let len = file.metadata().map_err(io_err("stat segment", path))?.len();
        if len != end_offset {
            file.set_len(end_offset).map_err(io_err("truncate torn tail", path))?;
        }
        preallocate(&file, prealloc.max(end_offset)).map_err(io_err("preallocate segment", path))?;
        file.sync_all().map_err(io_err("fsync segment", path))?;
        Ok(ActiveSegment {
            file,
            path: path.to_path_buf(),
            first_lsn,
            write_offset: end_offset,
            created_micros,
            event_records,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes already framed records at the end of the data.
    pub fn write(&mut self, framed: &[u8]) -> Result<(), WalError> {
        self.file.write_all_at(framed, self.write_offset).map_err(io_err("write WAL records", &self.path))?;
        self.write_offset += framed.len() as u64;
        Ok(())
    }

    /// fdatasync: makes every record written so far durable.
    pub fn sync(&self) -> Result<(), WalError> {
        self.file.sync_data().map_err(io_err("fdatasync WAL segment", &self.path))
    }

    /// Closes the segment durably: seal record, file cut to its data, fsync.
    /// `next_lsn` is the first LSN of the segment that follows.
    pub fn seal(mut self, next_lsn: u64) -> Result<PathBuf, WalError> {
        let mut buf = Vec::with_capacity(32);
        encode_record(&mut buf, next_lsn, &seal_payload(self.event_records));
        self.write(&buf)?;
        self.file.set_len(self.write_offset).map_err(io_err("cut sealed segment", &self.path))?;
        self.file.sync_all().map_err(io_err("fsync sealed segment", &self.path))?;
        Ok(self.path)
    }

    /// Microseconds since the segment was created.
    pub fn age_micros(&self) -> i64 {
        chrono::Utc::now().timestamp_micros().saturating_sub(self.created_micros)
    }
}
