//! Small filesystem helpers shared by the WAL, the compactor and retention: durable directory
//! entries (fsync the directory after create, rename or delete) and atomic file creation.

use std::fs::File;
use std::path::Path;

/// fsyncs a directory, so that entries created, renamed or deleted in it survive power loss.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Preallocates `len` bytes for `file` so later writes inside it change no file-size metadata
/// (fdatasync then has less to journal). Falls back to nothing where the filesystem cannot.
pub fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(len) else {
        return Ok(());
    };
    // SAFETY: posix_fallocate only reads the descriptor and the two integers; the descriptor
    // is valid for the duration of the call because `file` is borrowed.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        err => Err(std::io::Error::from_raw_os_error(err)),
    }
}

/// Removes a file and fsyncs its directory; a file that is already gone is not an error.
pub fn remove_file_durable(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}
