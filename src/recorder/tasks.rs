//! The recorder's background tasks: compaction (at open, then woken by seals, and periodically;
//! at a lower CPU priority while its backlog is small, see [`Inner::compact_in_background`]),
//! retention (periodically; [`super::Recorder::open`] runs it once before returning), the
//! release of sealed segments' records in the query tail (woken by seals) and, when
//! configured, shipping (woken by compactions, see [`crate::ship::Shipper`]). Each runs its blocking work on tokio's blocking
//! pool; a failure is logged and retried at the next wake-up, never fatal.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Inner, lock};

/// Handles to stop the tasks.
#[derive(Default)]
pub struct Tasks {
    stop: Mutex<Option<watch::Sender<bool>>>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Tasks {
    /// Signals the tasks to stop and waits for them.
    pub async fn stop(&self) {
        if let Some(tx) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(true);
        }
        let handles: Vec<JoinHandle<()>> = self.handles.lock().map(|mut h| std::mem::take(&mut *h)).unwrap_or_default();
        for h in handles {
            let _ = h.await;
        }
    }
}

pub(super) fn start(inner: &Arc<Inner>) {
    let (tx, rx) = watch::channel(false);
    let compaction = tokio::spawn(compaction_loop(inner.clone(), rx.clone()));
    let shipping = inner.shipper.clone().map(|shipper| tokio::spawn(shipper.run(rx.clone())));
    let released =
        lock(&inner.sealed).take().map(|sealed| tokio::spawn(release_loop(inner.clone(), sealed, rx.clone())));
    let retention = tokio::spawn(retention_loop(inner.clone(), rx));
    if let Ok(mut s) = inner.tasks.stop.lock() {
        *s = Some(tx);
    }
    if let Ok(mut h) = inner.tasks.handles.lock() {
        h.extend([compaction, retention]);
        h.extend(shipping);
        h.extend(released);
    }
}

async fn compaction_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let every = inner.config.compaction_interval;
    loop {
        let worker = inner.clone();
        let (report, more_waiting) = match tokio::task::spawn_blocking(move || worker.compact_in_background()).await {
            Ok(Ok(round)) => round,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "compaction failed; retrying at the next seal");
                Default::default()
            }
            Err(e) => {
                tracing::error!(error = %e, "compaction task failed");
                Default::default()
            }
        };
        if report.segments > 0 {
            tracing::info!(segments = report.segments, events = report.events, more_waiting, "compacted");
        }
        if more_waiting && !*stop.borrow() {
            continue;
        }
        tokio::select! {
            () = inner.seal_notify.notified() => {}
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Hands each segment the WAL writer seals to [`Inner::release_sealed`], in order.
async fn release_loop(inner: Arc<Inner>, mut sealed: UnboundedReceiver<PathBuf>, mut stop: watch::Receiver<bool>) {
    loop {
        let path = tokio::select! {
            path = sealed.recv() => match path {
                Some(path) => path,
                None => return,
            },
            _ = stop.changed() => return,
        };
        let worker = inner.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || worker.release_sealed(&path)).await {
            tracing::error!(error = %e, "releasing a sealed segment's records failed");
        }
    }
}

async fn retention_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let every = inner.config.retention_interval;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let worker = inner.clone();
        match tokio::task::spawn_blocking(move || worker.retention_once()).await {
            Ok(Ok(r)) if r.events_purged > 0 => tracing::info!(events = r.events_purged, "retention purged"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed; retrying later"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
    }
}
