//! [`ModelThread`]: a [`LumaUpscaler`] on a thread of its own, so the caller prepares and
//! finishes frames (decode, colour conversion, chroma, encode) while the model upscales.
//!
//! Work that ran on the caller between two upscales left the second core idle for about a
//! sixth of a 720p ESPCN pass; overlapping it is worth 10–15 % more frames per second.
//! Buffers cycle: the caller fills a [`LumaJob`]'s input, sends it, and gets the same job back
//! with its output, in order; the channels hold at most [`ModelThread::DEPTH`] jobs and
//! nothing is allocated per frame.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
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

/// A model running on its own thread; jobs come back in the order they were sent.
pub struct ModelThread {
    scale: usize,
    name: &'static str,
    to_model: Option<SyncSender<LumaJob>>,
    from_model: Receiver<Finished>,
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
        let (to_model, jobs) = sync_channel::<LumaJob>(Self::DEPTH);
        let (done, from_model) = sync_channel::<Finished>(Self::DEPTH);
        let handle = std::thread::Builder::new()
            .name(format!("sluice-{name}"))
            .spawn(move || {
                for mut job in jobs {
                    let result = upscaler.upscale(&job.input, job.width, job.height, &mut job.output);
                    if done.send(Finished { job, result }).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| VideoError::Upscaler(format!("cannot start the {name} thread: {e}")))?;
        Ok(Self { scale, name, to_model: Some(to_model), from_model, in_flight: 0, handle: Some(handle) })
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
        let sent = self.to_model.as_ref().is_some_and(|tx| tx.send(job).is_ok());
        if !sent {
            return Err(self.stopped());
        }
        self.in_flight += 1;
        Ok(())
    }

    /// Waits for the oldest job in flight; `None` when there is none.
    pub fn receive(&mut self) -> Result<Option<Finished>, VideoError> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        let finished = self.from_model.recv().map_err(|_| self.stopped())?;
        self.in_flight -= 1;
        Ok(Some(finished))
    }

    fn stopped(&self) -> VideoError {
        VideoError::Upscaler(format!("the {} thread stopped (it panicked)", self.name))
    }
}

impl Drop for ModelThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread once its current frame is done.
        self.to_model = None;
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
