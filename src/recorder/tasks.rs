//! The recorder's background tasks: compaction (at open, then woken by seals, and periodically),
//! retention (periodically; [`super::Recorder::open`] runs it once before returning) and, when
//! configured, shipping (woken by compactions, see [`crate::ship::Shipper`]). Each runs its blocking work on tokio's blocking
//! pool; a failure is logged and retried at the next wake-up, never fatal.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Inner;

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
    let retention = tokio::spawn(retention_loop(inner.clone(), rx));
    if let Ok(mut s) = inner.tasks.stop.lock() {
        *s = Some(tx);
    }
    if let Ok(mut h) = inner.tasks.handles.lock() {
        h.extend([compaction, retention]);
        h.extend(shipping);
    }
}

async fn compaction_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let every = inner.config.compaction_interval;
    loop {
        let worker = inner.clone();
        match tokio::task::spawn_blocking(move || worker.compact_once()).await {
            Ok(Ok(r)) if r.segments > 0 => tracing::info!(segments = r.segments, events = r.events, "compacted"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "compaction failed; retrying at the next seal"),
            Err(e) => tracing::error!(error = %e, "compaction task failed"),
        }
        tokio::select! {
            () = inner.seal_notify.notified() => {}
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
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
