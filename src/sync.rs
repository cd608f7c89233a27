//! Locking shared by the recorder and the shipper.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the guard even when another thread panicked while holding it: the data
/// behind these mutexes (counters, caches, a catalog connection) stays usable, and a recorder
/// must keep recording rather than fail every later call.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
