//! State shared by every request: the engine's thread pool, its ISA tier, the readiness phase,
//! the settings, the loaded model, the file-job slots and the live-audio and live-video services.

use crate::config::ServerConfig;
use crate::http::video_jobs::VideoJobs;
use crate::stream::StreamService;
use crate::video_stream::VideoStreamService;
use sluice_engine::{Isa, Threads};
use sluice_models::dfn3::Dfn3Model;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::Semaphore;

/// Where the service is in its life; drives `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Built but not yet accepting connections: not ready.
    Starting,
    /// Accepting and serving: ready.
    Ready,
    /// A shutdown was requested: not ready, finishing what is in flight.
    Draining,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Lower-case name, as reported by `/readyz`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
        }
    }
}

/// Cheap-to-clone handle on the service state (an `Arc` inside).
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    threads: Arc<Threads>,
    isa: Isa,
    phase: AtomicU8,
    models: Vec<String>,
    config: ServerConfig,
    dfn3: Option<Arc<Dfn3Model>>,
    file_jobs: Arc<Semaphore>,
    streams: Option<Arc<StreamService>>,
    video_streams: Arc<VideoStreamService>,
    video_jobs: VideoJobs,
}

/// Name `/v1/info` lists for the DeepFilterNet3 speech denoiser.
pub const DFN3_NAME: &str = "deepfilternet3";

impl AppState {
    /// State around an engine pool with default settings and no model loaded; the ISA tier is
    /// the process-wide [`Isa::active`] choice. Starts in [`Phase::Starting`].
    pub fn new(threads: Threads) -> Self {
        Self::configured(threads, ServerConfig::default(), None)
    }

    /// State with `config` and, if given, the DFN3 model serving the audio file routes; no
    /// live audio.
    pub fn configured(threads: Threads, config: ServerConfig, dfn3: Option<Arc<Dfn3Model>>) -> Self {
        Self::build(threads, config, dfn3, None)
    }

    /// Default settings, serving live audio (`/v1/audio/stream`) and files with `streams`'s model.
    pub fn with_streams(threads: Threads, streams: Arc<StreamService>) -> Self {
        Self::configured_with_streams(threads, ServerConfig::default(), streams)
    }

    /// State with `config`, serving files and live audio with `streams`'s model.
    pub fn configured_with_streams(threads: Threads, config: ServerConfig, streams: Arc<StreamService>) -> Self {
        let dfn3 = Some(streams.model().clone());
        Self::build(threads, config, dfn3, Some(streams))
    }

    fn build(
        threads: Threads,
        config: ServerConfig,
        dfn3: Option<Arc<Dfn3Model>>,
        streams: Option<Arc<StreamService>>,
    ) -> Self {
        let models = dfn3.iter().map(|_| DFN3_NAME.to_owned()).collect();
        let file_jobs = Arc::new(Semaphore::new(config.limits.file_jobs));
        let threads = Arc::new(threads);
        let video_streams =
            VideoStreamService::new(config.video_stream.clone(), config.api_keys.clone(), threads.clone());
        Self {
            inner: Arc::new(Inner {
                threads,
                isa: Isa::active(),
                phase: AtomicU8::new(Phase::Starting as u8),
                models,
                config,
                dfn3,
                file_jobs,
                streams,
                video_streams,
                video_jobs: VideoJobs::default(),
            }),
        }
    }

    /// The service settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The DFN3 model, if loaded.
    pub fn dfn3(&self) -> Option<&Arc<Dfn3Model>> {
        self.inner.dfn3.as_ref()
    }

    /// Slots for file jobs (`--file-jobs` of them); a job holds one while it runs.
    pub fn file_jobs(&self) -> &Arc<Semaphore> {
        &self.inner.file_jobs
    }

    /// Progress of the video file jobs.
    pub fn video_jobs(&self) -> &VideoJobs {
        &self.inner.video_jobs
    }

    /// The live-audio service, if this server runs one.
    pub fn streams(&self) -> Option<&Arc<StreamService>> {
        self.inner.streams.as_ref()
    }

    /// The live-video service.
    pub fn video_streams(&self) -> &Arc<VideoStreamService> {
        &self.inner.video_streams
    }

    /// The engine's thread pool, shared by all compute work.
    pub fn threads(&self) -> &Arc<Threads> {
        &self.inner.threads
    }

    /// The engine's ISA tier for this process.
    pub fn isa(&self) -> Isa {
        self.inner.isa
    }

    /// Names of the models loaded and servable.
    pub fn models(&self) -> &[String] {
        &self.inner.models
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase.load(Ordering::Acquire))
    }

    /// Starting → Ready. Does nothing once draining: a drain is never undone.
    pub fn mark_ready(&self) {
        let _ = self.inner.phase.compare_exchange(
            Phase::Starting as u8,
            Phase::Ready as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Any phase → Draining (readiness turns 503 from now on; live streams flush and close).
    pub fn begin_drain(&self) {
        self.inner.phase.store(Phase::Draining as u8, Ordering::Release);
        if let Some(s) = &self.inner.streams {
            s.begin_drain();
        }
        self.inner.video_streams.begin_drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_forward_only() {
        let s = AppState::new(Threads::single());
        assert_eq!(s.phase(), Phase::Starting);
        s.mark_ready();
        assert_eq!(s.phase(), Phase::Ready);
        s.begin_drain();
        assert_eq!(s.phase(), Phase::Draining);
        s.mark_ready();
        assert_eq!(s.phase(), Phase::Draining, "a drain must not be undone");
    }

    #[test]
    fn clones_share_one_state() {
        let a = AppState::new(Threads::single());
        let b = a.clone();
        b.mark_ready();
        assert_eq!(a.phase(), Phase::Ready);
        assert_eq!(a.threads().count(), 1);
        assert!(a.models().is_empty());
        assert_eq!(a.isa(), Isa::active());
    }
}
