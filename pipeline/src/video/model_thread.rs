//! [`ModelThread`]: a [`LumaUpscaler`] on a thread of its own, so the caller prepares and
//! finishes frames (decode, colour conversion, chroma, encode) while the model upscales.
//!
//! Work that ran on the caller between two upscales left the second core idle for about a
//! sixth of an ESPCN file pass; overlapping it gave 5–15 % more frames per second on 2 cores
//! with x264 (426×240 → 720p and 640×360 → 1080p, ×3), less with VP9, whose row threads
//! already filled some of the gaps.
//! Buffers cycle: the caller fills a [`LumaJob`]'s input, sends it, and gets the same job back
//! with its output, in order; at most [`ModelThread::DEPTH`] jobs are in flight and nothing is
//! allocated per frame.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::VideoError;
use super::upscaler::LumaUpscaler;

/// One luma plane on its way through the model, with the buffers it travels in.
#[derive(Debug, Default)]
pub struct LumaJob {
    /// `width × height` packed luma in [0, 1] (see [`LumaUpscaler`]).
    pub input: Vec<f32>,
    /// Receives the upscaled plane: `(width·scale) × (height·scale)`.
    pub output: Vec<f32>,
    /// Input width.
    pub width: usize,
    /// Input height.
    pub height: usize,
}

/// A job back from the model.
#[derive(Debug)]
pub struct Finished {
    /// The job, its buffers kept for the next frame whatever the outcome.
    pub job: LumaJob,
    /// The model's verdict on this frame.
    pub result: Result<(), VideoError>,
}

/// The two queues between the caller and the model thread. A mutex and a condvar rather than
/// channels: std's channels allocate the first time a thread blocks on them, and this is a
/// per-frame path.
#[derive(Default)]
struct Queues {
    jobs: VecDeque<LumaJob>,
    done: VecDeque<Finished>,
    /// The caller is gone: the thread ends once its queue is empty.
    closed: bool,
    /// The thread is gone (it panicked).
    stopped: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Queues>) -> MutexGuard<'a, Queues> {
        self.changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks the thread stopped when it ends, unwinding included, so the caller never waits on it.
struct Stopped(Arc<Shared>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.changed.notify_all();
    }
}

/// A model running on its own thread; jobs come back in the order they were sent.
pub struct ModelThread {
    scale: usize,
    name: &'static str,
    shared: Arc<Shared>,
    in_flight: usize,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ModelThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelThread").field("name", &self.name).field("in_flight", &self.in_flight).finish()
    }
}

impl ModelThread {
    /// Jobs that may be sent and not yet received: one upscaling, one waiting its turn.
    pub const DEPTH: usize = 2;

    /// Starts the thread that runs `upscaler`.
    pub fn spawn(mut upscaler: Box<dyn LumaUpscaler>) -> Result<Self, VideoError> {
        let (scale, name) = (upscaler.scale(), upscaler.name());
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues {
                jobs: VecDeque::with_capacity(Self::DEPTH),
                done: VecDeque::with_capacity(Self::DEPTH),
                ..Queues::default()
            }),
            changed: Condvar::new(),
        });
        let theirs = Stopped(Arc::clone(&shared));
        let handle = std::thread::Builder::new()
            .name(format!("sluice-{name}"))
            .spawn(move || {
                let shared = &theirs.0;
                loop {
                    let mut q = shared.lock();
                    let mut job = loop {
                        match q.jobs.pop_front() {
                            Some(job) => break job,
                            None if q.closed => return,
                            None => q = shared.wait(q),
                        }
                    };
                    drop(q);
                    let result = upscaler.upscale(&job.input, job.width, job.height, &mut job.output);
                    shared.lock().done.push_back(Finished { job, result });
                    shared.changed.notify_all();
                }
            })
            .map_err(|e| VideoError::Upscaler(format!("cannot start the {name} thread: {e}")))?;
        Ok(Self { scale, name, shared, in_flight: 0, handle: Some(handle) })
    }

    /// The model's integer factor.
    pub fn scale(&self) -> usize {
        self.scale
    }

    /// The model's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Jobs sent and not yet received.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Queues `job` behind the ones in flight; refused (job dropped) beyond [`Self::DEPTH`].
    pub fn send(&mut self, job: LumaJob) -> Result<(), VideoError> {
        if self.in_flight >= Self::DEPTH {
            return Err(VideoError::InvalidConfig(format!(
                "{} luma frames already in flight: receive one before sending another",
                Self::DEPTH
            )));
        }
        let mut q = self.shared.lock();
        if q.stopped {
            return Err(self.stopped());
        }
        q.jobs.push_back(job);
        drop(q);
        self.shared.changed.notify_all();
        self.in_flight += 1;
        Ok(())
    }

    /// Waits for the oldest job in flight; `None` when there is none.
    pub fn receive(&mut self) -> Result<Option<Finished>, VideoError> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        let mut q = self.shared.lock();
        let finished = loop {
            match q.done.pop_front() {
                Some(f) => break f,
                None if q.stopped => return Err(self.stopped()),
                None => q = self.shared.wait(q),
            }
        };
        self.in_flight -= 1;
        Ok(Some(finished))
    }

    fn stopped(&self) -> VideoError {
        VideoError::Upscaler(format!("the {} thread stopped (it panicked)", self.name))
    }
}

impl Drop for ModelThread {
    fn drop(&mut self) {
        // The thread ends once its current frame is done.
        {
            let mut q = self.shared.lock();
            q.closed = true;
            q.jobs.clear();
        }
        self.shared.changed.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ×2 nearest neighbour that fails on a frame starting with a negative value and panics
    /// on NaN.
    struct Nearest;

    impl LumaUpscaler for Nearest {
        fn scale(&self) -> usize {
            2
        }
        fn name(&self) -> &'static str {
            "nearest"
        }
        fn upscale(&mut self, src: &[f32], width: usize, _height: usize, dst: &mut [f32]) -> Result<(), VideoError> {
            if src[0].is_nan() {
                panic!("NaN frame");
            }
            if src[0] < 0.0 {
                return Err(VideoError::Upscaler("negative".into()));
            }
            for (i, o) in dst.iter_mut().enumerate() {
                let (x, y) = (i % (2 * width), i / (2 * width));
                *o = src[(y / 2) * width + x / 2];
            }
            Ok(())
        }
    }

    fn job() -> LumaJob {
        LumaJob { input: vec![0.0; 6], output: vec![0.0; 24], width: 3, height: 2 }
    }

    #[test]
    fn jobs_come_back_in_order_in_their_own_buffers() {
        let mut model = ModelThread::spawn(Box::new(Nearest)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((model.scale(), model.name()), (2, "nearest"));
        let mut free = vec![job(), job()];
        let buffers: Vec<_> = free.iter().map(|j| (j.input.as_ptr(), j.output.as_ptr())).collect();
        let mut next = 0u16;
        let mut seen = Vec::new();
        for round in 0..50 {
            // Keep the pipeline full: send while a job is free, then take the oldest back.
            while let Some(mut j) = free.pop() {
                j.input.fill(f32::from(next));
                next += 1;
                model.send(j).unwrap_or_else(|e| panic!("{e}"));
            }
            assert_eq!(model.in_flight(), ModelThread::DEPTH, "round {round}");
            assert!(model.send(job()).is_err(), "a third job must be refused");
            let done = model.receive().unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("in flight"));
            done.result.unwrap_or_else(|e| panic!("{e}"));
            assert!(done.job.output.iter().all(|v| *v == done.job.input[0]));
            assert!(buffers.contains(&(done.job.input.as_ptr(), done.job.output.as_ptr())));
            seen.push(done.job.input[0] as u16);
            free.push(done.job);
        }
        while let Some(done) = model.receive().unwrap_or_else(|e| panic!("{e}")) {
            seen.push(done.job.input[0] as u16);
        }
        assert_eq!(seen, (0..next).collect::<Vec<_>>());
        assert!(model.receive().unwrap_or_else(|e| panic!("{e}")).is_none());
    }

    #[test]
    fn a_model_error_returns_the_job_and_a_panic_is_an_error() {
        let mut model = ModelThread::spawn(Box::new(Nearest)).unwrap_or_else(|e| panic!("{e}"));
        let mut bad = job();
        bad.input[0] = -1.0;
        model.send(bad).unwrap_or_else(|e| panic!("{e}"));
        let done = model.receive().unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("in flight"));
        assert!(matches!(done.result, Err(VideoError::Upscaler(_))));
        // The thread lives on after an error.
        let mut ok = done.job;
        ok.input.fill(0.5);
        model.send(ok).unwrap_or_else(|e| panic!("{e}"));
        let done = model.receive().unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("in flight"));
        assert!(done.result.is_ok() && done.job.output[23] == 0.5);

        let mut nan = done.job;
        nan.input[0] = f32::NAN;
        model.send(nan).unwrap_or_else(|e| panic!("{e}"));
        let err = model.receive().map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("nearest thread stopped"), "{err}");
        assert!(model.send(job()).is_err());
    }
}
