//! Command line of the `sluice` binary.
//!
//! Every option of `serve` can also come from a `SLUICE_*` environment variable (handy in
//! containers); a flag given on the command line wins over the variable, which wins over the
//! default.

use crate::serve::ShutdownPolicy;
use clap::{Args, Parser, Subcommand, ValueEnum};
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
    Serve(ServeArgs),
    /// Exit 0 if a running server's `/healthz` answers 200, else 1 (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
    /// Remove noise from speech in an audio file (WAV, FLAC, Ogg Vorbis, MP3; any rate and
    /// channel count) with DeepFilterNet3, writing a WAV at the input's rate and channels.
    Denoise(DenoiseArgs),
    /// Upscale an image (PNG, JPEG) or a video (anything FFmpeg decodes) by 2, 3 or 4: luma
    /// through the chosen model, chroma bicubic; writes H.264/MP4, VP9/WebM, PNG or JPEG by
    /// OUT's extension, keeping frame rate, timestamps, rotation and the audio track.
    Upscale(UpscaleArgs),
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
    #[arg(long, value_enum, default_value_t = UpscaleModel::Bicubic)]
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

/// Luma models `sluice upscale` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpscaleModel {
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
            &["sluice", "upscale", "in.mp4", "out.mp4"],
            &["sluice", "upscale", "in.mp4", "out.mp4", "--scale", "5"],
            &["sluice", "upscale", "in.mp4", "out.mp4", "--scale", "3", "--crf", "64"],
            &["sluice", "upscale", "in.mp4", "out.mp4", "--scale", "3", "--model", "espcn"],
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
        assert_eq!((args.atten_lim_db, args.post_filter_beta), (100.0, 0.0));
    }

    #[test]
    fn upscale_takes_paths_scale_and_options() {
        let cli = parse(&["sluice", "upscale", "a.mkv", "b.webm", "--scale", "3", "--crf", "30", "--denoise-audio"]);
        let Command::Upscale(args) = cli.command else { panic!("expected upscale") };
        assert_eq!((&args.input, &args.output), (&PathBuf::from("a.mkv"), &PathBuf::from("b.webm")));
        assert_eq!(
            (args.scale(), args.crf, args.model, args.denoise_audio),
            (3, Some(30), UpscaleModel::Bicubic, true)
        );
        let Command::Upscale(args) = parse(&["sluice", "upscale", "a.png", "b.png", "--scale", "2"]).command else {
            panic!("expected upscale")
        };
        assert_eq!((args.scale(), args.crf, args.denoise_audio), (2, None, false));
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
