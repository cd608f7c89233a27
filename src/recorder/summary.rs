//! The recorder's summary and jobs list: the WAL tail snapshotted first, then the Parquet files
//! the catalog chooses for the range (or the job's or trace's index), aggregated together in
//! DuckDB (`query::summary::sql`), plus the retention gaps the catalog logged.

use super::{Inner, Recorder, lock, store};
use crate::compact::catalog::IdIndex;
use crate::query::summary::{self, JobList, JobsQuery, Summary, SummaryQuery};
use crate::recorder::RecorderError;

impl Recorder {
    /// The overview of a range (`GET /v1/summary`).
    pub async fn summary(&self, q: SummaryQuery) -> Result<Summary, RecorderError> {
        self.blocking(move |inner| inner.summary(&q)).await
    }

    /// The jobs of a range (`GET /v1/jobs`).
    pub async fn jobs(&self, q: JobsQuery) -> Result<JobList, RecorderError> {
        self.blocking(move |inner| inner.jobs(&q)).await
    }
}

impl Inner {
    fn summary(&self, q: &SummaryQuery) -> Result<Summary, RecorderError> {
        let filter = q.events();
        // The tail first: an event compacted meanwhile is then found in Parquet (see tail.rs).
        let tail = lock(&self.tail).snapshot().all_matching(&filter);
        let catalog = lock(&self.summary_catalog);
        let files = store::summary_files(&catalog, &self.layout.root, &filter)?;
        let mut out = summary::sql::summarize(catalog.parquet_connection(), &files, &tail, q)?;
        let id = match (&q.job_id, &q.trace_id) {
            (Some(job), _) => Some((IdIndex::Job, job.as_str())),
            (None, Some(trace)) => Some((IdIndex::Trace, trace.as_str())),
            (None, None) => None,
        };
        let (from, to) = (q.range.from.timestamp_micros(), q.range.to.timestamp_micros());
        let dropped = catalog.dropped_between(from, to, id)?.into_iter().map(|d| summary::DroppedSpan {
            first_lsn: d.first_lsn,
            last_lsn: d.last_lsn,
            min_micros: d.min_micros,
            max_micros: d.max_micros,
            events: d.events,
        });
        out.gaps = summary::gaps(dropped.collect());
        Ok(out)
    }

    fn jobs(&self, q: &JobsQuery) -> Result<JobList, RecorderError> {
        let filter = q.range.events(None, None);
        let tail = lock(&self.tail).snapshot().all_matching(&filter);
        let catalog = lock(&self.summary_catalog);
        let files = store::summary_files(&catalog, &self.layout.root, &filter)?;
        let jobs = summary::sql::list_jobs(catalog.parquet_connection(), &files, &tail, q)?;
        Ok(JobList { jobs })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::query::EventQuery;
    use crate::recorder::{FlightRecorder, RecorderConfig};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn event_pages_do_not_wait_for_a_running_summary() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::open(RecorderConfig::new(dir.path())).await.unwrap();
        // As while a summary of a long range runs: another thread holds its connection.
        let inner = recorder.inner.clone();
        let (taken, is_taken) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let summary = std::thread::spawn(move || {
            let _held = lock(&inner.summary_catalog);
            taken.send(()).unwrap();
            released.recv().ok();
        });
        is_taken.recv().unwrap();
        let page = tokio::time::timeout(Duration::from_secs(30), recorder.query(EventQuery::default())).await;
        release.send(()).unwrap();
        summary.join().unwrap();
        assert!(page.unwrap().unwrap().events.is_empty(), "the page answers while the summary's connection is busy");
        recorder.shutdown().await.unwrap();
    }
}
