//! Progress of video file jobs, for `GET /v1/video/jobs/{id}`.
//!
//! A video job streams its output in the response body, which leaves no room for progress, so
//! the response names the job (`Sluice-Job` header) and this table answers how far it is. The
//! table holds the running jobs and the most recent finished ones (a bounded number), so a
//! client polling just after its download ended still reads the outcome.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Finished jobs remembered after they end.
const FINISHED_KEPT: usize = 64;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Frames are being processed.
    Running,
    /// Every frame was written.
    Done,
    /// It stopped early (bad input found mid-file, or the client went away).
    Failed,
}

impl JobState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Done,
            2 => Self::Failed,
            _ => Self::Running,
        }
    }
}

/// One job's live counters; shared by the job thread and the table.
#[derive(Debug)]
pub struct JobProgress {
    id: String,
    frames_done: AtomicU64,
    frames_total: Option<u64>,
    input: (usize, usize),
    output: (usize, usize),
    started: Instant,
    state: AtomicU8,
    error: Mutex<Option<String>>,
}

impl JobProgress {
    /// Records that `n` frames are written.
    pub fn set_frames(&self, n: u64) {
        self.frames_done.store(n, Ordering::Relaxed);
    }

    /// The job's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lock_error(&self) -> MutexGuard<'_, Option<String>> {
        self.error.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot for the status route.
    pub fn status(&self) -> JobStatus {
        let frames_done = self.frames_done.load(Ordering::Relaxed);
        let elapsed_s = self.started.elapsed().as_secs_f64();
        JobStatus {
            id: self.id.clone(),
            state: JobState::from_u8(self.state.load(Ordering::Acquire)),
            frames_done,
            frames_total: self.frames_total,
            input_size: [self.input.0, self.input.1],
            output_size: [self.output.0, self.output.1],
            elapsed_s,
            fps: if elapsed_s > 0.0 { frames_done as f64 / elapsed_s } else { 0.0 },
            error: self.lock_error().clone(),
        }
    }
}

/// What `GET /v1/video/jobs/{id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobStatus {
    /// The job's id (the `Sluice-Job` header of its upload's response).
    pub id: String,
    /// `running`, `done` or `failed`.
    pub state: JobState,
    /// Frames written so far.
    pub frames_done: u64,
    /// Frames the input announces, when it does (an estimate for some containers).
    pub frames_total: Option<u64>,
    /// Input width and height.
    pub input_size: [usize; 2],
    /// Output width and height.
    pub output_size: [usize; 2],
    /// Seconds since the job started.
    pub elapsed_s: f64,
    /// Frames per second so far.
    pub fps: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Table {
    jobs: HashMap<String, Arc<JobProgress>>,
    /// Finished ids, oldest first.
    finished: VecDeque<String>,
}

/// The table of video jobs (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct VideoJobs {
    table: Arc<Mutex<Table>>,
}

impl VideoJobs {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new running job under a fresh unguessable id.
    pub fn start(&self, frames_total: Option<u64>, input: (usize, usize), output: (usize, usize)) -> Arc<JobProgress> {
        let id = format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
        let job = Arc::new(JobProgress {
            id: id.clone(),
            frames_done: AtomicU64::new(0),
            frames_total,
            input,
            output,
            started: Instant::now(),
            state: AtomicU8::new(0),
            error: Mutex::new(None),
        });
        self.lock().jobs.insert(id, job.clone());
        job
    }

    /// Marks `job` done (no error) or failed, and forgets the oldest finished jobs beyond the
    /// kept number.
    pub fn finish(&self, job: &JobProgress, error: Option<String>) {
        let state = if error.is_some() { JobState::Failed } else { JobState::Done };
        *job.lock_error() = error;
        job.state.store(state as u8, Ordering::Release);
        let mut t = self.lock();
        t.finished.push_back(job.id.clone());
        while t.finished.len() > FINISHED_KEPT {
            if let Some(old) = t.finished.pop_front() {
                t.jobs.remove(&old);
            }
        }
    }

    /// The job `id`, if running or recently finished.
    pub fn get(&self, id: &str) -> Option<Arc<JobProgress>> {
        self.lock().jobs.get(id).cloned()
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        let t = self.lock();
        t.jobs.len() - t.finished.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_finish_and_are_forgotten_oldest_first() {
        let jobs = VideoJobs::default();
        let a = jobs.start(Some(10), (64, 48), (128, 96));
        assert_eq!(a.id().len(), 32);
        a.set_frames(4);
        let s = jobs.get(a.id()).map(|j| j.status()).unwrap_or_else(|| panic!("job missing"));
        assert_eq!((s.state, s.frames_done, s.frames_total), (JobState::Running, 4, Some(10)));
        assert_eq!((s.input_size, s.output_size), ([64, 48], [128, 96]));
        assert_eq!(jobs.running(), 1);
        jobs.finish(&a, Some("cut short".into()));
        let s = a.status();
        assert_eq!((s.state, s.error.as_deref()), (JobState::Failed, Some("cut short")));
        assert_eq!(jobs.running(), 0);
        let later: Vec<_> = (0..FINISHED_KEPT).map(|_| jobs.start(None, (1, 1), (2, 2))).collect();
        for j in &later {
            jobs.finish(j, None);
        }
        assert!(jobs.get(a.id()).is_none(), "the oldest finished job is forgotten");
        assert_eq!(jobs.get(later[0].id()).map(|j| j.status().state), Some(JobState::Done));
        let json = serde_json::to_value(later[0].status()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["state"], "done");
    }
}
