//! Command line of the `sluice` binary.
//!
//! Every option of `serve` can also come from a `SLUICE_*` environment variable (handy in
//! containers) or from the TOML file named by `--config` ([`crate::config`]); a flag given on the
//! command line wins over the variable, which wins over the file, which wins over the default.

use crate::gating::Gating;
use crate::serve::ShutdownPolicy;
use crate::stream::limits::StreamArgs;
use crate::video_stream::limits::VideoStreamArgs;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sluice_pipeline::denoise::DenoiserSettings;
use sluice_pipeline::echo::simulate::MotionPattern;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// Real-time audio/video enhancement server.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    /// Log line format (the level filter comes from `SLUICE_LOG`, else `RUST_LOG`, else `info`).
    #[arg(long, global = true, env = "SLUICE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(Box<ServeArgs>),
    /// Exit 0 if a running server's `/healthz` answers 200, else 1 (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
    /// Remove noise from speech in an audio file (WAV, FLAC, Ogg Vorbis, MP3; any rate and
    /// channel count) with DeepFilterNet3, writing a WAV at the input's rate and channels.
    Denoise(DenoiseArgs),
    /// Run N real-time streams of speech against a local server's `/v1/audio/stream` and
    /// report hop round trips (loopback targets only).
    Loadtest(LoadtestArgs),
    /// Denoise a microphone in real time with DeepFilterNet3, to the speakers or a WAV file
    /// (Ctrl-C stops and finalises the file).
    Live(LiveArgs),
    /// Write simulated echo clips (cluttered, clean, clutter mask) as PNG frames and/or raw
    /// float arrays with a JSON sidecar, for inspection and training the clutter filter.
    SimulateEcho(SimulateEchoArgs),
    /// Upscale an image (PNG, JPEG) or a video (anything FFmpeg decodes) by 2, 3 or 4: luma
    /// through the chosen model, chroma bicubic; writes H.264/MP4, VP9/WebM, PNG or JPEG by
    /// OUT's extension, keeping frame rate, timestamps, rotation and the audio track.
    Upscale(UpscaleArgs),
    /// Remove clutter (near-field haze, reverberation bands) from an echocardiography clip — a
    /// video (anything FFmpeg decodes), a folder or ZIP/tar archive of PNG/JPEG frames, or a
    /// multi-frame DICOM — with the clutter filter trained by this project; writes grey
    /// H.264/MP4, VP9/WebM, a folder of PNG frames, or a multi-frame grey DICOM.
    Declutter(DeclutterArgs),
    /// Time the engine on the bundled models (DFN3 hop and batch, ESPCN x3 frame, Conv3d, clutter
    /// filter) and compare with the budgets of the design; a report, so it exits 0 even when a
    /// budget is missed.
    Bench(BenchArgs),
}

/// Options of `sluice serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "SLUICE_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: SocketAddr,

    /// Threads in the engine's compute pool [default: one per core].
    #[arg(long, env = "SLUICE_THREADS")]
    pub threads: Option<NonZeroUsize>,

    /// On SIGTERM, how long to keep accepting while `/readyz` already says 503 (e.g. `5s`, `500ms`).
    #[arg(long, env = "SLUICE_DRAIN_DELAY", value_parser = parse_duration, default_value = "0s")]
    pub drain_delay: Duration,

    /// After accepting stops, how long open requests may take to finish (e.g. `30s`).
    #[arg(long, env = "SLUICE_SHUTDOWN_GRACE", value_parser = parse_duration, default_value = "30s")]
    pub shutdown_grace: Duration,

    /// TOML file with further settings, keyed like these options with `_` (`max_upload = "1GiB"`).
    #[arg(long, env = "SLUICE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print the resolved settings as TOML (API keys hidden) and exit.
    #[arg(long)]
    pub print_config: bool,

    /// API key clients must present on `/v1/*` (`Authorization: Bearer KEY` or `?token=KEY`);
    /// repeat the flag or comma-separate for several. None: the API is open.
    #[arg(long = "api-key", env = "SLUICE_API_KEYS", value_delimiter = ',', hide_env_values = true)]
    pub api_keys: Vec<String>,

    /// Browser origin allowed to call the API cross-origin (CORS), e.g. `https://app.example`;
    /// repeat or comma-separate; `*` allows any. None: no cross-origin access.
    #[arg(long = "cors-origin", env = "SLUICE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Largest request body on routes other than file uploads (e.g. `64KiB`, `2MiB`).
    #[arg(long, env = "SLUICE_BODY_LIMIT", value_parser = parse_bytes, default_value = "2MiB")]
    pub body_limit: u64,

    /// Longest a non-streaming request may take before it is answered 408.
    #[arg(long, env = "SLUICE_REQUEST_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub request_timeout: Duration,

    /// Largest audio file `POST /v1/audio/denoise` accepts (413 above).
    #[arg(long, env = "SLUICE_MAX_UPLOAD", value_parser = parse_bytes, default_value = "256MiB")]
    pub max_upload: u64,

    /// Longest receiving and checking an upload may take, before the response starts (408 after).
    #[arg(long, env = "SLUICE_UPLOAD_TIMEOUT", value_parser = parse_duration, default_value = "5m")]
    pub upload_timeout: Duration,

    /// Longest audio one upload may hold (413 above), bounding one job's compute.
    #[arg(long, env = "SLUICE_MAX_UPLOAD_AUDIO", value_parser = parse_duration, default_value = "60m")]
    pub max_upload_audio: Duration,

    /// Directory where uploads wait while they are processed (deleted after) [default: the
    /// system temporary directory].
    #[arg(long, env = "SLUICE_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,

    /// File jobs (`POST /v1/audio/denoise`) processed at once; more are answered 503 + `Retry-After`.
    #[arg(long, env = "SLUICE_FILE_JOBS", default_value = "2")]
    pub file_jobs: NonZeroUsize,

    /// Live-audio stream limits.
    #[command(flatten)]
    pub stream: StreamArgs,

    /// Live-video stream limits.
    #[command(flatten)]
    pub video_stream: VideoStreamArgs,
}

impl ServeArgs {
    /// Engine threads to start: the flag, or one per available core.
    pub fn engine_threads(&self) -> usize {
        self.threads
            .map_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get), NonZeroUsize::get)
    }

    /// The shutdown timings these options ask for.
    pub fn shutdown_policy(&self) -> ShutdownPolicy {
        ShutdownPolicy { drain_delay: self.drain_delay, grace: self.shutdown_grace }
    }
}

/// Parses a byte count: `1048576`, `512KiB`, `2MiB`, `1GiB` (powers of 1024) or `100KB`, `5MB`,
/// `1GB` (powers of 1000).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(format!("`{s}` is not a size (try `65536`, `512KiB`, `2MiB`, `1GiB`)")),
    };
    let n: u64 = number.parse().map_err(|_| format!("`{s}` is not a size (try `65536`, `512KiB`, `2MiB`, `1GiB`)"))?;
    n.checked_mul(scale).ok_or_else(|| format!("`{s}` is too large"))
}

/// Options of `sluice healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to probe (plain `http://` only).
    #[arg(long, env = "SLUICE_HEALTHCHECK_URL", default_value = "http://127.0.0.1:8080/healthz")]
    pub url: String,

    /// Give up after this long (e.g. `3s`).
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    pub timeout: Duration,
}

/// Options of `sluice loadtest`.
#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// WebSocket URL of the stream route (loopback hosts only).
    #[arg(long, default_value = "ws://127.0.0.1:8080/v1/audio/stream")]
    pub url: String,

    /// Concurrent 48 kHz mono streams (at most 2000).
    #[arg(long, default_value_t = 10)]
    pub streams: usize,

    /// How long each stream sends (at most 10 min).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,

    /// API key for the server, sent as `?token=`.
    #[arg(long, env = "SLUICE_LOADTEST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Speech to loop: a 48 kHz audio file (first channel used).
    #[arg(long, default_value = "/usr/share/sounds/alsa/Front_Center.wav")]
    pub speech: PathBuf,

    /// A stream whose hop round trip ever exceeds this did not keep real time.
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub max_lag: Duration,

    /// The streams' lsnr stage gating (`lsnr` costs the server less on noise-only and clean
    /// hops; measure it with noisy speech).
    #[arg(long, value_enum, default_value_t = Gating::Off)]
    pub gating: Gating,
}

/// Options of `sluice denoise`.
#[derive(Debug, Clone, Args)]
pub struct DenoiseArgs {
    /// Input audio file.
    pub input: PathBuf,

    /// Output WAV (16-bit PCM, or 32-bit float for 24/32-bit and float inputs); replaced only
    /// once complete.
    pub output: PathBuf,

    /// Attenuation limit in dB: the noise is reduced by at most this much (100 = no limit).
    #[arg(long, default_value_t = 100.0, value_parser = parse_non_negative)]
    pub atten_lim_db: f32,

    /// Post-filter strength β (0 = off; 0.02 is typical), extra suppression of noisy bins.
    #[arg(long, default_value_t = 0.0, value_parser = parse_non_negative)]
    pub post_filter_beta: f32,

    /// lsnr stage gating: `lsnr` mutes noise-only hops and skips the network's decoders where a
    /// hop does not use them (libDF's library behaviour; less CPU), `off` runs everything on
    /// every hop (libDF's C API; the reference output).
    #[arg(long, value_enum, default_value_t = Gating::Off)]
    pub gating: Gating,
}

/// Options of `sluice live`.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// List the audio devices (with the ids `--input` and `--output-device` take) and exit.
    #[arg(long)]
    pub list_devices: bool,

    /// Capture device: an id from `--list-devices`, its name, or a unique part of either
    /// [default: the system's default input].
    #[arg(long, value_name = "NAME")]
    pub input: Option<String>,

    /// Playback device, chosen like `--input` [default: the system's default output].
    #[arg(long, value_name = "NAME", conflicts_with = "output")]
    pub output_device: Option<String>,

    /// Write the enhanced audio to this WAV file (16-bit PCM, the input's rate and channels)
    /// instead of playing it; it is overwritten.
    #[arg(long, value_name = "FILE.wav")]
    pub output: Option<PathBuf>,

    /// Attenuation limit in dB: the noise is reduced by at most this much (100 = no limit).
    #[arg(long, default_value_t = 100.0, value_parser = parse_non_negative)]
    pub atten_lim_db: f32,

    /// Post-filter strength β (0 = off; 0.02 is typical), extra suppression of noisy bins.
    #[arg(long, default_value_t = 0.0, value_parser = parse_non_negative)]
    pub post_filter_beta: f32,

    /// lsnr stage gating: `lsnr` mutes noise-only hops and skips the network's decoders where a
    /// hop does not use them (libDF's library behaviour; less CPU), `off` runs everything on
    /// every hop (libDF's C API; the reference output).
    #[arg(long, value_enum, default_value_t = Gating::Off)]
    pub gating: Gating,

    /// Bypass the model: hear or record the input unchanged, to compare.
    #[arg(long)]
    pub passthrough: bool,

    /// Stop after this much captured audio (e.g. `10s`) [default: run until Ctrl-C].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Device buffer (period) size asked of the audio system (e.g. `10ms`): smaller is less
    /// delay, larger survives a busy machine without xruns.
    #[arg(long, value_parser = parse_duration, default_value = "20ms")]
    pub buffer: Duration,

    /// Audio system: PulseAudio (also PipeWire's pulse server) when reachable, else ALSA.
    #[arg(long, value_enum, default_value_t = AudioHost::Auto)]
    pub host: AudioHost,
}

impl LiveArgs {
    /// The denoiser settings these options ask for.
    pub fn denoiser_settings(&self) -> DenoiserSettings {
        DenoiserSettings {
            atten_lim_db: self.atten_lim_db,
            post_filter_beta: self.post_filter_beta,
            thresholds: self.gating.thresholds(),
        }
    }
}

/// Audio systems `sluice live` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AudioHost {
    /// PulseAudio when its server answers, else ALSA.
    Auto,
    /// PulseAudio's native protocol (or PipeWire's pulse server); fails if none answers.
    Pulseaudio,
    /// ALSA directly.
    Alsa,
}

/// Options of `sluice simulate-echo`.
#[derive(Debug, Clone, Args)]
pub struct SimulateEchoArgs {
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,

    /// Seed of the first clip; clip k gets seed + k.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Number of clips.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub clips: u64,

    /// Frames per clip (one cardiac cycle).
    #[arg(long, default_value_t = 32, value_parser = parse_in(2, 1000))]
    pub frames: usize,

    /// Width and height of the frames in pixels.
    #[arg(long, default_value_t = 128, value_parser = parse_in(16, 1024))]
    pub size: usize,

    /// Clutter class; `mixed` cycles nf, rl, both by seed.
    #[arg(long, value_enum, default_value_t = ClutterArg::Mixed)]
    pub clutter: ClutterArg,

    /// Wall motion pattern (hypokinetic territories for the LAD, LCX, RCA patterns).
    #[arg(long, value_enum, default_value_t = MotionArg::Normal)]
    pub motion: MotionArg,

    /// Output form: PNG frame folders, raw f32 + JSON sidecar, both, or the cluttered clip as a
    /// grey video (`mp4`: H.264, `webm`: VP9).
    #[arg(long, value_enum, default_value_t = OutputFormat::Png)]
    pub format: OutputFormat,

    /// Frames per second of a video output (`--format mp4|webm`).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub fps: u32,
}

/// Clutter classes of `simulate-echo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClutterArg {
    /// No clutter.
    None,
    /// Near-field haze.
    Nf,
    /// Reverberation bands (and sometimes lateral ghosts).
    Rl,
    /// Both.
    Both,
    /// nf, rl, both in turn by seed.
    Mixed,
}

/// Wall motion patterns of `simulate-echo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MotionArg {
    /// Normal contraction.
    Normal,
    /// Hypokinetic apex and apical septum.
    Lad,
    /// Hypokinetic lateral wall.
    Lcx,
    /// Hypokinetic basal septum.
    Rca,
}

impl From<MotionArg> for MotionPattern {
    fn from(m: MotionArg) -> Self {
        match m {
            MotionArg::Normal => Self::Normal,
            MotionArg::Lad => Self::Lad,
            MotionArg::Lcx => Self::Lcx,
            MotionArg::Rca => Self::Rca,
        }
    }
}

/// Output forms of `simulate-echo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// 8-bit grey PNG frames.
    Png,
    /// f32 little-endian arrays and a JSON sidecar.
    Raw,
    /// Both.
    Both,
    /// The cluttered clip as grey H.264 in MP4 (`clip_SEED.mp4`).
    Mp4,
    /// The cluttered clip as grey VP9 in WebM (`clip_SEED.webm`).
    Webm,
}

/// A parser for an integer in `lo..=hi`.
fn parse_in(lo: usize, hi: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s| match s.trim().parse::<usize>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` must be an integer in {lo}..={hi}")),
    }
}

/// Options of `sluice upscale`.
#[derive(Debug, Clone, Args)]
pub struct UpscaleArgs {
    /// Input image or video.
    pub input: PathBuf,

    /// Output: `.mp4`/`.m4v`/`.mov` (H.264), `.webm` (VP9), `.png` or `.jpg`/`.jpeg` (single
    /// image); replaced only once complete.
    pub output: PathBuf,

    /// Upscaling factor (the output is N× the input in both directions, at most 7680×4320).
    #[arg(long, value_parser = clap::value_parser!(u8).range(2..=4))]
    pub scale: u8,

    /// Constant rate factor for video (H.264 0–51, default 23; VP9 0–63, default 32).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=63))]
    pub crf: Option<u8>,

    /// Luma super-resolution model.
    #[arg(long, value_enum, default_value_t = UpscaleModel::Espcn)]
    pub model: UpscaleModel,

    /// Denoise the audio track with DeepFilterNet3 (re-encodes it) instead of copying it.
    #[arg(long)]
    pub denoise_audio: bool,
}

impl UpscaleArgs {
    /// The factor as a `usize`.
    pub fn scale(&self) -> usize {
        usize::from(self.scale)
    }
}

/// Options of `sluice declutter`.
#[derive(Debug, Clone, Args)]
pub struct DeclutterArgs {
    /// Input: a video file, a folder of PNG/JPEG frames (read in file-name order), a `.zip`,
    /// `.tar` or `.tar.gz` of such frames (member-name order), or a multi-frame DICOM (8-bit
    /// grey or colour, uncompressed or JPEG baseline); recognised by content.
    pub input: PathBuf,

    /// Output: `.mp4`/`.m4v`/`.mov` (H.264), `.webm` (VP9), `.dcm` (multi-frame grey DICOM; a
    /// video's frames wait in a temporary file until its frame count is known), or a folder (a name without an extension, new or empty) that receives
    /// `000000.png`, `000001.png`, …; written only once complete.
    pub output: PathBuf,

    /// Frame rate of a frame-folder or archive input, and of a DICOM without timing tags (a
    /// video keeps its timing, a DICOM its Frame Time or Cine Rate).
    #[arg(long, default_value_t = 30.0, value_parser = parse_fps)]
    pub fps: f64,

    /// Constant rate factor for video (H.264 0–51, default 23; VP9 0–63, default 32).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=63))]
    pub crf: Option<u8>,
}

/// Options of `sluice bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Few repetitions (a quick look, or a test); the figures are noisier.
    #[arg(long)]
    pub quick: bool,

    /// Threads for the multi-threaded workloads (ESPCN, clutter filter) [default: one per core].
    #[arg(long)]
    pub threads: Option<NonZeroUsize>,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Run only this workload: dfn3-hop, dfn3-batch, espcn-x3, conv3d or clutter.
    #[arg(long, value_name = "NAME")]
    pub only: Option<String>,
}

impl BenchArgs {
    /// Threads to use: the flag, or one per available core.
    pub fn threads(&self) -> usize {
        self.threads
            .map_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get), NonZeroUsize::get)
    }
}

fn parse_fps(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.01..=1000.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` must be a frame rate in 0.01..=1000")),
    }
}

/// Luma models `sluice upscale` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpscaleModel {
    /// ESPCN (sub-pixel convolution), trained by this project: sharper than bicubic.
    Espcn,
    /// Separable bicubic (Keys, a = −0.5): the baseline.
    Bicubic,
}

fn parse_non_negative(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` must be a finite number ≥ 0")),
    }
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// Parses `250ms`, `5s`, `2m` or a bare number of seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit_secs) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("`{s}` is not a duration (try `500ms`, `5s`, `2m`)"))?;
    Duration::try_from_secs_f64(value * unit_secs).map_err(|_| format!("`{s}` must be a non-negative, finite duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use sluice_pipeline::dsp::StageThresholds;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?} should parse: {e}"))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_override_defaults() {
        let cli = parse(&[
            "sluice",
            "--log-format",
            "json",
            "serve",
            "--addr",
            "127.0.0.1:9000",
            "--threads",
            "3",
            "--drain-delay",
            "250ms",
            "--shutdown-grace",
            "2s",
        ]);
        assert_eq!(cli.log_format, LogFormat::Json);
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        assert_eq!(args.addr, "127.0.0.1:9000".parse().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(args.engine_threads(), 3);
        assert_eq!(
            args.shutdown_policy(),
            ShutdownPolicy { drain_delay: Duration::from_millis(250), grace: Duration::from_secs(2) }
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["sluice", "serve", "--threads", "0"][..],
            &["sluice", "serve", "--addr", "nowhere"],
            &["sluice", "serve", "--drain-delay", "soon"],
            &["sluice", "healthcheck", "--timeout", "-1s"],
            &["sluice"],
            &["sluice", "denoise", "in.wav"],
            &["sluice", "denoise", "in.wav", "out.wav", "--atten-lim-db", "-3"],
            &["sluice", "denoise", "in.wav", "out.wav", "--post-filter-beta", "NaN"],
            &["sluice", "denoise", "in.wav", "out.wav", "--gating", "on"],
            &["sluice", "upscale", "in.mp4", "out.mp4"],
            &["sluice", "upscale", "in.mp4", "out.mp4", "--scale", "5"],
            &["sluice", "upscale", "in.mp4", "out.mp4", "--scale", "3", "--crf", "64"],
            &["sluice", "upscale", "in.mp4", "out.mp4", "--scale", "3", "--model", "srgan"],
            &["sluice", "declutter", "in.mp4"],
            &["sluice", "declutter", "in", "out.mp4", "--fps", "0"],
            &["sluice", "declutter", "in", "out.mp4", "--fps", "NaN"],
            &["sluice", "declutter", "in.mp4", "out.webm", "--crf", "64"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} should be rejected");
        }
    }

    #[test]
    fn denoise_takes_paths_and_settings() {
        let cli =
            parse(&["sluice", "denoise", "a.flac", "b.wav", "--atten-lim-db", "12", "--post-filter-beta", "0.02"]);
        let Command::Denoise(args) = cli.command else { panic!("expected denoise") };
        assert_eq!((args.input, args.output), (PathBuf::from("a.flac"), PathBuf::from("b.wav")));
        assert_eq!((args.atten_lim_db, args.post_filter_beta), (12.0, 0.02));
        let Command::Denoise(args) = parse(&["sluice", "denoise", "a", "b"]).command else {
            panic!("expected denoise")
        };
        assert_eq!((args.atten_lim_db, args.post_filter_beta, args.gating), (100.0, 0.0, Gating::Off));
        let Command::Denoise(args) = parse(&["sluice", "denoise", "a", "b", "--gating", "lsnr"]).command else {
            panic!("expected denoise")
        };
        assert_eq!(args.gating, Gating::Lsnr);
    }

    #[test]
    fn live_settings_carry_the_gating() {
        let Command::Live(args) = parse(&["sluice", "live", "--gating", "lsnr", "--atten-lim-db", "12"]).command else {
            panic!("expected live")
        };
        let s = args.denoiser_settings();
        assert_eq!((s.atten_lim_db, s.thresholds), (12.0, StageThresholds::LIBRARY_DEFAULT));
        let Command::Live(args) = parse(&["sluice", "live"]).command else { panic!("expected live") };
        assert_eq!(args.denoiser_settings(), DenoiserSettings::default());
    }

    #[test]
    fn server_limits_and_keys_parse() {
        let cli = parse(&[
            "sluice",
            "serve",
            "--api-key",
            "k1,k2",
            "--api-key",
            "k3",
            "--cors-origin",
            "https://a.example",
            "--body-limit",
            "64KiB",
            "--request-timeout",
            "5s",
            "--max-upload",
            "1GB",
            "--upload-timeout",
            "2m",
            "--max-upload-audio",
            "90s",
            "--file-jobs",
            "4",
        ]);
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        assert_eq!(args.api_keys, ["k1", "k2", "k3"]);
        assert_eq!(args.cors_origins, ["https://a.example"]);
        assert_eq!((args.body_limit, args.max_upload), (65_536, 1_000_000_000));
        assert_eq!((args.request_timeout, args.upload_timeout), (Duration::from_secs(5), Duration::from_secs(120)));
        assert_eq!((args.max_upload_audio, args.file_jobs.get()), (Duration::from_secs(90), 4));
        for bad in [&["sluice", "serve", "--file-jobs", "0"][..], &["sluice", "serve", "--max-upload", "lots"]] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn byte_sizes_parse_in_every_unit() {
        let cases = [
            ("0", 0),
            ("1048576", 1 << 20),
            ("512KiB", 512 << 10),
            ("2MiB", 2 << 20),
            ("1GiB", 1 << 30),
            ("3 mb", 3_000_000),
            ("100KB", 100_000),
            ("7b", 7),
        ];
        for (text, want) in cases {
            assert_eq!(parse_bytes(text), Ok(want), "{text}");
        }
        for bad in ["", "MiB", "-1", "1.5MiB", "2TiB", "99999999999999999999", "18446744073709551615GiB"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn live_takes_devices_file_and_settings() {
        let cli = parse(&[
            "sluice",
            "live",
            "--input",
            "vsink.monitor",
            "--output",
            "o.wav",
            "--atten-lim-db",
            "20",
            "--duration",
            "5s",
            "--host",
            "pulseaudio",
        ]);
        let Command::Live(args) = cli.command else { panic!("expected live") };
        assert_eq!(args.input.as_deref(), Some("vsink.monitor"));
        assert_eq!(args.output, Some(PathBuf::from("o.wav")));
        assert_eq!((args.atten_lim_db, args.duration), (20.0, Some(Duration::from_secs(5))));
        assert_eq!(args.host, AudioHost::Pulseaudio);
        assert!(!args.passthrough && !args.list_devices);
        let Command::Live(args) = parse(&["sluice", "live", "--passthrough"]).command else { panic!("expected live") };
        assert!(args.passthrough && args.output.is_none() && args.duration.is_none());
        assert!(Cli::try_parse_from(["sluice", "live", "--output", "a.wav", "--output-device", "x"]).is_err());
        assert!(Cli::try_parse_from(["sluice", "live", "--duration", "soon"]).is_err());
    }

    #[test]
    fn simulate_echo_defaults_and_flags() {
        let Command::SimulateEcho(args) = parse(&["sluice", "simulate-echo", "--out", "d"]).command else {
            panic!("expected simulate-echo")
        };
        assert_eq!((args.seed, args.clips, args.frames, args.size), (0, 1, 32, 128));
        assert_eq!((args.clutter, args.motion, args.format), (ClutterArg::Mixed, MotionArg::Normal, OutputFormat::Png));
        let cli = parse(&[
            "sluice",
            "simulate-echo",
            "--out",
            "d",
            "--seed",
            "9",
            "--clips",
            "3",
            "--frames",
            "50",
            "--size",
            "64",
            "--clutter",
            "nf",
            "--motion",
            "rca",
            "--format",
            "raw",
        ]);
        let Command::SimulateEcho(args) = cli.command else { panic!("expected simulate-echo") };
        assert_eq!((args.seed, args.clips, args.frames, args.size), (9, 3, 50, 64));
        assert_eq!((args.clutter, args.motion, args.format), (ClutterArg::Nf, MotionArg::Rca, OutputFormat::Raw));
        assert_eq!(MotionPattern::from(args.motion), MotionPattern::Rca);
        assert_eq!(args.fps, 30);
        let cli = parse(&["sluice", "simulate-echo", "--out", "d", "--format", "webm", "--fps", "50"]);
        let Command::SimulateEcho(args) = cli.command else { panic!("expected simulate-echo") };
        assert_eq!((args.format, args.fps), (OutputFormat::Webm, 50));
        assert!(Cli::try_parse_from(["sluice", "simulate-echo", "--out", "d", "--fps", "0"]).is_err());
    }

    #[test]
    fn upscale_takes_paths_scale_and_options() {
        let cli = parse(&["sluice", "upscale", "a.mkv", "b.webm", "--scale", "3", "--crf", "30", "--denoise-audio"]);
        let Command::Upscale(args) = cli.command else { panic!("expected upscale") };
        assert_eq!((&args.input, &args.output), (&PathBuf::from("a.mkv"), &PathBuf::from("b.webm")));
        assert_eq!((args.scale(), args.crf, args.model, args.denoise_audio), (3, Some(30), UpscaleModel::Espcn, true));
        let Command::Upscale(args) = parse(&["sluice", "upscale", "a.png", "b.png", "--scale", "2"]).command else {
            panic!("expected upscale")
        };
        assert_eq!((args.scale(), args.crf, args.denoise_audio), (2, None, false));
    }

    #[test]
    fn declutter_takes_paths_fps_and_crf() {
        let Command::Declutter(args) = parse(&["sluice", "declutter", "clip", "out.mp4"]).command else {
            panic!("expected declutter")
        };
        assert_eq!((&args.input, &args.output), (&PathBuf::from("clip"), &PathBuf::from("out.mp4")));
        assert_eq!((args.fps, args.crf), (30.0, None));
        let cli = parse(&["sluice", "declutter", "a.mp4", "frames", "--fps", "49.5", "--crf", "18"]);
        let Command::Declutter(args) = cli.command else { panic!("expected declutter") };
        assert_eq!((args.fps, args.crf), (49.5, Some(18)));
    }

    #[test]
    fn bench_takes_quick_threads_json_and_only() {
        let Command::Bench(args) = parse(&["sluice", "bench"]).command else { panic!("expected bench") };
        assert_eq!((args.quick, args.threads, args.json, args.only), (false, None, false, None));
        let cli = parse(&["sluice", "bench", "--quick", "--threads", "3", "--json", "--only", "conv3d"]);
        let Command::Bench(args) = cli.command else { panic!("expected bench") };
        assert_eq!((args.quick, args.threads(), args.json, args.only.as_deref()), (true, 3, true, Some("conv3d")));
        assert!(Cli::try_parse_from(["sluice", "bench", "--threads", "0"]).is_err());
    }

    #[test]
    fn durations_parse_in_every_unit() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("5s", Duration::from_secs(5)),
            ("2m", Duration::from_secs(120)),
            ("1.5", Duration::from_millis(1500)),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "ms", "5h", "-1s", "NaNs", "infs"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
