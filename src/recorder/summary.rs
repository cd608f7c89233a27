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
        let catalog = lock(&self.query_catalog);
        let files = store::summary_files(&catalog, &self.layout.root, &filter)?;
        let mut out = summary::sql::summarize(catalog.parquet_connection(), &files, &tail, q)?;
        let id = match (&q.job_id, &q.trace_id) {
            (Some(job), _) => Some((IdIndex::Job, job.as_str())),
            (None, Some(trace)) => Some((IdIndex::Trace, trace.as_str())),
            (None, None) => None,
        };
        let (from, to) = (q.range.from.timestamp_micros(), q.range.to.timestamp_micros());
        out.gaps = summary::gaps(catalog.dropped_between(from, to, id)?);
        Ok(out)
    }

    fn jobs(&self, q: &JobsQuery) -> Result<JobList, RecorderError> {
        let filter = q.range.events(None, None);
        let tail = lock(&self.tail).snapshot().all_matching(&filter);
        let catalog = lock(&self.query_catalog);
        let files = store::summary_files(&catalog, &self.layout.root, &filter)?;
        let jobs = summary::sql::list_jobs(catalog.parquet_connection(), &files, &tail, q)?;
        Ok(JobList { jobs })
    }
}
