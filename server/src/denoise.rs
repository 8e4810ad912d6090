//! `sluice denoise IN OUT`: an audio file through DFN3 into a WAV, streamed in constant memory.
//!
//! decode (any rate, any channels) → [`Denoiser`] at 48 kHz or [`ResampledDenoiser`] otherwise
//! → WAV at the input's rate and channels. The raw stream's first `latency()` frames are
//! dropped and the tail flushed, so output frame `i` is enhanced input frame `i` and both have
//! the same length. Output goes to a temporary file next to OUT, renamed over OUT only once
//! complete: a failure leaves no partial file. [`Enhancer`] is the loop itself, shared with
//! the HTTP file route.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::audio::{AudioError, AudioInfo, AudioReader, WavSampleFormat, WavSink};
use sluice_pipeline::denoise::{DenoiseError, Denoiser, ResampledDenoiser};

use crate::cli::DenoiseArgs;
use crate::gating::Gating;

/// What a finished run did.
#[derive(Debug, Clone, Copy)]
pub struct DenoiseSummary {
    /// Frames (samples per channel) written, equal to those read.
    pub frames: u64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: usize,
    /// Wall time from opening the input to renaming the output (model loading excluded).
    pub elapsed: Duration,
}

impl DenoiseSummary {
    /// Audio duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.frames as f64 / f64::from(self.sample_rate))
    }

    /// Real-time factor: processing time / audio duration (below 1 is faster than real time).
    pub fn rtf(&self) -> f64 {
        self.elapsed.as_secs_f64() / self.duration().as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// The 48 kHz denoiser, or the resampling one at any other rate.
enum Stream {
    Native(Denoiser),
    Resampled(Box<ResampledDenoiser>),
}

impl Stream {
    fn latency(&self) -> usize {
        match self {
            Self::Native(d) => d.latency(),
            Self::Resampled(d) => d.latency(),
        }
    }

    /// Output samples one `process` call of `input` samples may write: the input plus one block.
    fn headroom(&self) -> usize {
        match self {
            Self::Native(d) => d.hop() * d.channels(),
            Self::Resampled(d) => d.block() * d.inner().channels(),
        }
    }

    fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(usize, usize), DenoiseError> {
        match self {
            Self::Native(d) => d.process(input, output),
            Self::Resampled(d) => d.process(input, output),
        }
    }

    fn flush_len(&self) -> usize {
        match self {
            Self::Native(d) => d.flush_len(),
            Self::Resampled(d) => d.flush_len(),
        }
    }

    fn flush(&mut self, output: &mut [f32]) -> Result<usize, DenoiseError> {
        match self {
            Self::Native(d) => d.flush(output),
            Self::Resampled(d) => d.flush(output),
        }
    }
}

/// Loads the bundled DFN3 model (`$SLUICE_MODELS_DIR` overrides where it is read from).
pub fn load_model() -> Result<Arc<Dfn3Model>> {
    let weights = Dfn3Weights::bundled()
        .with_context(|| format!("cannot load the DFN3 weights from {}", Dfn3Weights::bundled_path().display()))?;
    Ok(Arc::new(Dfn3Model::new(&weights).context("cannot build the DFN3 model")?))
}

/// Why a denoising run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input could not be decoded (or the output file written).
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The denoiser refused the stream (rate or channel count out of range).
    #[error(transparent)]
    Denoise(#[from] DenoiseError),
    /// The input decoded to zero samples.
    #[error("the file holds no audio samples")]
    Empty,
    /// Whoever takes the output stopped taking it (e.g. an HTTP client went away).
    #[error("the output was abandoned: {0}")]
    Abandoned(String),
    /// A broken invariant of this module.
    #[error("internal: {0}")]
    Internal(String),
}

/// Noise suppression settings of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Attenuation limit in dB (100 = none).
    pub atten_lim_db: f32,
    /// Post-filter β (0 = off).
    pub post_filter_beta: f32,
    /// lsnr stage gating.
    pub gating: Gating,
}

impl Default for Settings {
    fn default() -> Self {
        Self { atten_lim_db: 100.0, post_filter_beta: 0.0, gating: Gating::Off }
    }
}

/// One file's denoising run, set up for its rate and channel count.
///
/// This is the one denoising loop: `sluice denoise` writes its output to a WAV file,
/// `POST /v1/audio/denoise` encodes it into a streamed response. Setting up apart from running
/// lets the HTTP route refuse an unsupported stream before it commits to a 200.
pub struct Enhancer {
    stream: Stream,
    channels: usize,
}

impl Enhancer {
    /// A run for audio described by `info` (48 kHz natively, other rates resampled).
    pub fn new(model: Arc<Dfn3Model>, info: &AudioInfo, settings: Settings) -> Result<Self, RunError> {
        let channels = info.channels;
        let mut stream = if info.sample_rate == 48_000 {
            Stream::Native(Denoiser::new(model, channels)?)
        } else {
            Stream::Resampled(Box::new(ResampledDenoiser::new(model, channels, info.sample_rate as usize)?))
        };
        let denoiser = match &mut stream {
            Stream::Native(d) => d,
            Stream::Resampled(d) => d.inner_mut(),
        };
        denoiser.set_atten_lim_db(settings.atten_lim_db);
        denoiser.set_post_filter_beta(settings.post_filter_beta);
        denoiser.set_thresholds(settings.gating.thresholds());
        Ok(Self { stream, channels })
    }

    /// Runs everything `reader` still holds through the model and hands the enhanced samples to
    /// `write`, aligned and exactly as many as were read (interleaved, whole frames).
    /// `progress` gets the frames read so far after each decoded packet. Returns the frames
    /// processed.
    pub fn run(
        mut self,
        reader: &mut AudioReader,
        mut progress: impl FnMut(u64),
        mut write: impl FnMut(&[f32]) -> Result<(), RunError>,
    ) -> Result<u64, RunError> {
        let stream = &mut self.stream;
        let mut aligned = Aligned { skip: stream.latency() * self.channels, remaining: 0 };
        let mut raw = Vec::new();
        while let Some(chunk) = reader.next_chunk()? {
            aligned.remaining += chunk.len() as u64;
            raw.resize(chunk.len() + stream.headroom(), 0.0);
            let (consumed, produced) = stream.process(chunk, &mut raw)?;
            if consumed != chunk.len() {
                return Err(RunError::Internal(format!("the denoiser consumed {consumed} of {} samples", chunk.len())));
            }
            aligned.write(&raw[..produced], &mut write)?;
            progress(reader.frames_read());
        }
        if reader.frames_read() == 0 {
            return Err(RunError::Empty);
        }
        raw.resize(stream.flush_len(), 0.0);
        let flushed = stream.flush(&mut raw)?;
        aligned.write(&raw[..flushed], &mut write)?;
        if aligned.remaining != 0 {
            return Err(RunError::Internal(format!("{} output samples missing after the flush", aligned.remaining)));
        }
        Ok(reader.frames_read())
    }
}

/// Denoises `args.input` into `args.output` with `model`, showing a progress bar on stderr when
/// it is a terminal.
pub fn denoise_file(model: Arc<Dfn3Model>, args: &DenoiseArgs) -> Result<DenoiseSummary> {
    let start = Instant::now();
    let mut reader = AudioReader::open(&args.input)?;
    let info = reader.info();
    let (tmp, tmp_path) = temp_next_to(&args.output)?;
    let file = tmp.as_file().try_clone().with_context(|| format!("cannot use {}", tmp_path.display()))?;
    let mut sink = WavSink::new(file, &tmp_path, info.sample_rate, info.channels, WavSampleFormat::for_input(&info))?;
    let progress = progress_bar(info.frames);
    let settings =
        Settings { atten_lim_db: args.atten_lim_db, post_filter_beta: args.post_filter_beta, gating: args.gating };
    let enhancer = Enhancer::new(model, &info, settings)?;
    let frames = match enhancer.run(&mut reader, |n| progress.set_position(n), |x| Ok(sink.write(x)?)) {
        Ok(n) => n,
        Err(RunError::Empty) => bail!("{}: the file holds no audio samples", args.input.display()),
        Err(e) => return Err(e.into()),
    };
    sink.finish()?;
    tmp.persist(&args.output)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    progress.finish_and_clear();
    Ok(DenoiseSummary { frames, sample_rate: info.sample_rate, channels: info.channels, elapsed: start.elapsed() })
}

/// Drops the raw stream's first `skip` samples and passes on at most `remaining` after them.
struct Aligned {
    skip: usize,
    remaining: u64,
}

impl Aligned {
    fn write(&mut self, raw: &[f32], write: &mut impl FnMut(&[f32]) -> Result<(), RunError>) -> Result<(), RunError> {
        let dropped = self.skip.min(raw.len());
        self.skip -= dropped;
        let rest = &raw[dropped..];
        let n = rest.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if n > 0 {
            write(&rest[..n])?;
        }
        self.remaining -= n as u64;
        Ok(())
    }
}

/// A temporary file in OUT's directory (so the final rename stays on one file system); it is
/// deleted when dropped unless persisted.
pub(crate) fn temp_next_to(out: &Path) -> Result<(tempfile::NamedTempFile, PathBuf)> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let path = tmp.path().to_path_buf();
    // Temporary files are private (0600); the result should get an ordinary file's mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    }
    Ok((tmp, path))
}

/// A bar on stderr (hidden when stderr is not a terminal), cleared when dropped so an error
/// message does not land on the bar's line.
fn progress_bar(frames: Option<u64>) -> ProgressBar {
    let target = ProgressDrawTarget::stderr();
    let bar = match frames {
        Some(n) => {
            let bar = ProgressBar::with_draw_target(Some(n), target);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed_precise} eta {eta}") {
                bar.set_style(style);
            }
            bar
        }
        None => ProgressBar::with_draw_target(None, target),
    };
    bar.with_finish(ProgressFinish::AndClear)
}
