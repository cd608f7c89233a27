//! The active segment: the one file the writer appends to. The writer thread owns it
//! exclusively; nothing else writes WAL files while the WAL is open.
//!
//! Invariants: a segment file appears under its final name only with a complete, fsynced
//! header (written as `*.wal.tmp`, fsynced, renamed, directory fsynced). Bytes past
//! `write_offset` are zero fill. Sealing appends the seal record, cuts the file to its data,
//! and fsyncs it before the next segment is created, so every segment but the newest is sealed.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::{WalError, io_err};
use super::format::{HEADER_LEN, SegmentHeader, encode_record, seal_payload, segment_path};
use crate::fsio::{Fs, write_all_at};

/// The segment being appended to.
#[derive(Debug)]
pub struct ActiveSegment {
    fs: Fs,
    file: File,
    path: PathBuf,
    pub first_lsn: u64,
    pub write_offset: u64,
    pub created_micros: i64,
    pub event_records: u64,
}

impl ActiveSegment {
    /// Creates a new, empty segment whose first record will carry `first_lsn`.
    pub fn create(fs: &Fs, wal_dir: &Path, first_lsn: u64, prealloc: u64) -> Result<ActiveSegment, WalError> {
        let path = segment_path(wal_dir, first_lsn);
        let tmp = path.with_extension("wal.tmp");
        let created_micros = chrono::Utc::now().timestamp_micros();
        let header = SegmentHeader { first_lsn, created_micros }.encode();
        let file = fs.create(&tmp).map_err(io_err("create segment", &tmp))?;
        write_all_at(fs.as_ref(), &file, &header, 0).map_err(io_err("write segment header", &tmp))?;
        fs.preallocate(&file, prealloc.max(HEADER_LEN as u64)).map_err(io_err("preallocate segment", &tmp))?;
        fs.sync_all(&file).map_err(io_err("fsync new segment", &tmp))?;
        fs.rename(&tmp, &path).map_err(io_err("rename new segment", &path))?;
        fs.sync_dir(wal_dir).map_err(io_err("fsync WAL directory", wal_dir))?;
        Ok(ActiveSegment {
            fs: fs.clone(),
            file,
            path,
            first_lsn,
            write_offset: HEADER_LEN as u64,
            created_micros,
            event_records: 0,
        })
    }

    /// Reopens the newest segment after recovery: cuts everything after `end_offset` (a torn
    /// tail), restores the zero-filled preallocation and fsyncs.
    pub fn reopen(
        fs: &Fs,
        path: &Path,
        first_lsn: u64,
        created_micros: i64,
        end_offset: u64,
        event_records: u64,
        prealloc: u64,
    ) -> Result<ActiveSegment, WalError> {
        let file = fs.open_write(path).map_err(io_err("open segment", path))?;
        let len = file.metadata().map_err(io_err("stat segment", path))?.len();
        if len != end_offset {
            fs.set_len(&file, end_offset).map_err(io_err("truncate torn tail", path))?;
        }
        fs.preallocate(&file, prealloc.max(end_offset)).map_err(io_err("preallocate segment", path))?;
        fs.sync_all(&file).map_err(io_err("fsync segment", path))?;
        Ok(ActiveSegment {
            fs: fs.clone(),
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
        write_all_at(self.fs.as_ref(), &self.file, framed, self.write_offset)
            .map_err(io_err("write WAL records", &self.path))?;
        self.write_offset += framed.len() as u64;
        Ok(())
    }

    /// fdatasync: makes every record written so far durable.
    pub fn sync(&self) -> Result<(), WalError> {
        self.fs.sync_data(&self.file).map_err(io_err("fdatasync WAL segment", &self.path))
    }

    /// Closes the segment durably: seal record, file cut to its data, fsync.
    /// `next_lsn` is the first LSN of the segment that follows.
    pub fn seal(mut self, next_lsn: u64) -> Result<PathBuf, WalError> {
        let mut buf = Vec::with_capacity(32);
        encode_record(&mut buf, next_lsn, &seal_payload(self.event_records));
        self.write(&buf)?;
        self.fs.set_len(&self.file, self.write_offset).map_err(io_err("cut sealed segment", &self.path))?;
        self.fs.sync_all(&self.file).map_err(io_err("fsync sealed segment", &self.path))?;
        Ok(self.path)
    }

    /// Microseconds since the segment was created.
    pub fn age_micros(&self) -> i64 {
        chrono::Utc::now().timestamp_micros().saturating_sub(self.created_micros)
    }
}
