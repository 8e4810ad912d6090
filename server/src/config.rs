//! `sluice serve` settings: the TOML file under the flags and `SLUICE_*` variables, and the
//! resolved values the service runs with.
//!
//! Precedence is flag > environment variable > file > default. Clap already merges the first
//! two with the defaults and records where each value came from, so [`resolve`] lets a file
//! value replace only those that are still defaults. The file's keys are the options' names with
//! `_` (`max_upload`, `api_keys`); an unknown key is an error naming the key and the file, so a
//! typo never silently leaves a default in force.

use crate::auth::ApiKeys;
use crate::cli::{ServeArgs, parse_bytes, parse_duration};
use crate::video_stream::limits::VideoStreamLimits;
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A setting's value is out of range.
    #[error("setting `{key}`: {reason}")]
    Invalid {
        /// The option's name.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The settings a TOML config file may hold; all optional, no others allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// See `--addr`.
    pub addr: Option<SocketAddr>,
    /// See `--threads`.
    pub threads: Option<NonZeroUsize>,
    /// See `--drain-delay`.
    pub drain_delay: Option<FileDuration>,
    /// See `--shutdown-grace`.
    pub shutdown_grace: Option<FileDuration>,
    /// See `--api-key`.
    pub api_keys: Option<Vec<String>>,
    /// See `--cors-origin`.
    pub cors_origins: Option<Vec<String>>,
    /// See `--body-limit`.
    pub body_limit: Option<FileBytes>,
    /// See `--request-timeout`.
    pub request_timeout: Option<FileDuration>,
    /// See `--max-upload`.
    pub max_upload: Option<FileBytes>,
    /// See `--upload-timeout`.
    pub upload_timeout: Option<FileDuration>,
    /// See `--max-upload-audio`.
    pub max_upload_audio: Option<FileDuration>,
    /// See `--spool-dir`.
    pub spool_dir: Option<PathBuf>,
    /// See `--file-jobs`.
    pub file_jobs: Option<NonZeroUsize>,
    /// See `--max-streams`.
    pub max_streams: Option<NonZeroUsize>,
    /// See `--stream-workers`.
    pub stream_workers: Option<NonZeroUsize>,
    /// See `--stream-max-channels`.
    pub stream_max_channels: Option<usize>,
    /// See `--stream-batch`.
    pub stream_batch: Option<NonZeroUsize>,
    /// See `--no-batching`.
    pub no_batching: Option<bool>,
    /// See `--stream-max-message`.
    pub stream_max_message: Option<FileBytes>,
    /// See `--stream-idle-timeout`.
    pub stream_idle_timeout: Option<FileDuration>,
    /// See `--stream-write-timeout`.
    pub stream_write_timeout: Option<FileDuration>,
    /// See `--stream-burst`.
    pub stream_burst: Option<FileDuration>,
    /// See `--max-video-streams`.
    pub max_video_streams: Option<NonZeroUsize>,
    /// See `--video-stream-max-message`.
    pub video_stream_max_message: Option<FileBytes>,
    /// See `--video-stream-idle-timeout`.
    pub video_stream_idle_timeout: Option<FileDuration>,
    /// See `--video-stream-write-timeout`.
    pub video_stream_write_timeout: Option<FileDuration>,
}

impl FileSettings {
    /// Parses the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }
}

/// A duration in a config file: a string as on the command line (`"5s"`) or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileDuration(pub Duration);

impl<'de> Deserialize<'de> for FileDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Int(n) => Ok(Self(Duration::from_secs(n))),
            NumberOrText::Float(x) => parse_duration(&x.to_string()).map(Self).map_err(serde::de::Error::custom),
            NumberOrText::Text(s) => parse_duration(&s).map(Self).map_err(serde::de::Error::custom),
        }
    }
}

/// A byte count in a config file: a string as on the command line (`"2MiB"`) or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileBytes(pub u64);

impl<'de> Deserialize<'de> for FileBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumberOrText::deserialize(d)? {
            NumberOrText::Int(n) => Ok(Self(n)),
            NumberOrText::Float(x) => Err(serde::de::Error::custom(format!("{x} is not a whole number of bytes"))),
            NumberOrText::Text(s) => parse_bytes(&s).map(Self).map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "a number or a string like \"5s\" or \"2MiB\"")]
enum NumberOrText {
    Int(u64),
    Float(f64),
    Text(String),
}

/// Applies the file named by `args.config` (if any) under the flags and variables recorded in
/// `matches` (the `serve` subcommand's matches): a file value replaces only a default.
pub fn resolve(mut args: ServeArgs, matches: &ArgMatches) -> Result<ServeArgs, ConfigError> {
    let Some(path) = args.config.clone() else { return Ok(args) };
    let file = FileSettings::load(&path)?;
    let explicit =
        |id: &str| matches!(matches.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable));
    macro_rules! take {
        ($field:ident) => {
            take!($field, |v| v)
        };
        ($field:ident, $convert:expr) => {
            take!(args.$field, $field, $convert)
        };
        ($($target:ident).+, $field:ident, $convert:expr) => {
            if let Some(v) = file.$field {
                if !explicit(stringify!($field)) {
                    $($target).+ = $convert(v);
                }
            }
        };
    }
    take!(addr);
    take!(threads, Some);
    take!(drain_delay, |v: FileDuration| v.0);
    take!(shutdown_grace, |v: FileDuration| v.0);
    take!(api_keys);
    take!(cors_origins);
    take!(body_limit, |v: FileBytes| v.0);
    take!(request_timeout, |v: FileDuration| v.0);
    take!(max_upload, |v: FileBytes| v.0);
    take!(upload_timeout, |v: FileDuration| v.0);
    take!(max_upload_audio, |v: FileDuration| v.0);
    take!(spool_dir, Some);
    take!(file_jobs);
    let bytes = |v: FileBytes| usize::try_from(v.0).unwrap_or(usize::MAX);
    take!(args.stream.max_streams, max_streams, Some);
    take!(args.stream.stream_workers, stream_workers, Some);
    take!(args.stream.stream_max_channels, stream_max_channels, |v| v);
    take!(args.stream.stream_batch, stream_batch, |v| v);
    take!(args.stream.no_batching, no_batching, |v| v);
    take!(args.stream.stream_max_message, stream_max_message, bytes);
    take!(args.stream.stream_idle_timeout, stream_idle_timeout, |v: FileDuration| v.0);
    take!(args.stream.stream_write_timeout, stream_write_timeout, |v: FileDuration| v.0);
    take!(args.stream.stream_burst, stream_burst, |v: FileDuration| v.0);
    take!(args.video_stream.max_video_streams, max_video_streams, |v| v);
    take!(args.video_stream.video_stream_max_message, video_stream_max_message, |v: FileBytes| v.0);
    take!(args.video_stream.video_stream_idle_timeout, video_stream_idle_timeout, |v: FileDuration| v.0);
    take!(args.video_stream.video_stream_write_timeout, video_stream_write_timeout, |v: FileDuration| v.0);
    Ok(args)
}

/// Limits the service enforces, as listed by `/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Limits {
    /// Largest request body on routes other than file uploads, in bytes.
    pub body_limit_bytes: u64,
    /// Longest a non-streaming request may take, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest file `POST /v1/audio/denoise` accepts, in bytes.
    pub max_upload_bytes: u64,
    /// Longest receiving and checking an upload may take, in milliseconds.
    pub upload_timeout_ms: u64,
    /// Longest audio one upload may hold, in seconds.
    pub max_upload_audio_s: u64,
    /// File jobs processed at once.
    pub file_jobs: usize,
}

impl Default for Limits {
    /// The `sluice serve` defaults.
    fn default() -> Self {
        Self {
            body_limit_bytes: 2 << 20,
            request_timeout_ms: 30_000,
            max_upload_bytes: 256 << 20,
            upload_timeout_ms: 300_000,
            max_upload_audio_s: 3600,
            file_jobs: 2,
        }
    }
}

impl Limits {
    /// Request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Upload timeout as a duration.
    pub fn upload_timeout(&self) -> Duration {
        Duration::from_millis(self.upload_timeout_ms)
    }
}

/// What the HTTP layer needs from the settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Size, time and concurrency limits.
    pub limits: Limits,
    /// Keys accepted on `/v1/*` (empty: open).
    pub api_keys: ApiKeys,
    /// Origins allowed cross-origin (empty: none; `*`: any).
    pub cors_origins: Vec<String>,
    /// Where uploads are spooled.
    pub spool_dir: PathBuf,
    /// Limits of `/v1/video/stream`.
    pub video_stream: VideoStreamLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            api_keys: ApiKeys::default(),
            cors_origins: Vec::new(),
            spool_dir: std::env::temp_dir(),
            video_stream: VideoStreamLimits::default(),
        }
    }
}

impl ServerConfig {
    /// The service settings in resolved `args`; checks what clap cannot (key and origin syntax).
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let limits = Limits {
            body_limit_bytes: args.body_limit,
            request_timeout_ms: millis(args.request_timeout),
            max_upload_bytes: args.max_upload,
            upload_timeout_ms: millis(args.upload_timeout),
            max_upload_audio_s: args.max_upload_audio.as_secs(),
            file_jobs: args.file_jobs.get(),
        };
        for (key, value) in
            [("request_timeout", limits.request_timeout_ms), ("upload_timeout", limits.upload_timeout_ms)]
        {
            if value == 0 {
                return Err(ConfigError::Invalid { key, reason: "must be longer than 0".into() });
            }
        }
        // Empty entries (`SLUICE_API_KEYS=` or a trailing comma) mean nothing, not an empty key.
        let present = |list: &[String]| list.iter().filter(|s| !s.trim().is_empty()).cloned().collect::<Vec<_>>();
        let api_keys =
            ApiKeys::new(present(&args.api_keys)).map_err(|reason| ConfigError::Invalid { key: "api_keys", reason })?;
        let cors_origins = present(&args.cors_origins);
        for origin in &cors_origins {
            let ok = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && axum::http::HeaderValue::from_str(origin).is_ok()
                    && !origin.ends_with('/'));
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "cors_origins",
                    reason: format!("`{origin}` is not an origin like `https://app.example` (or `*`)"),
                });
            }
        }
        let spool_dir = args.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        Ok(Self { limits, api_keys, cors_origins, spool_dir, video_stream: args.video_stream.limits() })
    }
}

/// The resolved settings as a TOML config file would hold them, API keys replaced by `"<hidden>"`.
pub fn to_toml(args: &ServeArgs) -> String {
    #[derive(Serialize)]
    struct Shown {
        addr: String,
        threads: usize,
        drain_delay: String,
        shutdown_grace: String,
        api_keys: Vec<&'static str>,
        cors_origins: Vec<String>,
        body_limit: u64,
        request_timeout: String,
        max_upload: u64,
        upload_timeout: String,
        max_upload_audio: String,
        spool_dir: String,
        file_jobs: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_streams: Option<usize>,
        stream_workers: usize,
        stream_max_channels: usize,
        stream_batch: usize,
        no_batching: bool,
        stream_max_message: usize,
        stream_idle_timeout: String,
        stream_write_timeout: String,
        stream_burst: String,
        max_video_streams: usize,
        video_stream_max_message: u64,
        video_stream_idle_timeout: String,
        video_stream_write_timeout: String,
    }
    let d = |d: Duration| {
        if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
    };
    let shown = Shown {
        addr: args.addr.to_string(),
        threads: args.engine_threads(),
        drain_delay: d(args.drain_delay),
        shutdown_grace: d(args.shutdown_grace),
        api_keys: args.api_keys.iter().map(|_| "<hidden>").collect(),
        cors_origins: args.cors_origins.clone(),
        body_limit: args.body_limit,
        request_timeout: d(args.request_timeout),
        max_upload: args.max_upload,
        upload_timeout: d(args.upload_timeout),
        max_upload_audio: d(args.max_upload_audio),
        spool_dir: args.spool_dir.clone().unwrap_or_else(std::env::temp_dir).display().to_string(),
        file_jobs: args.file_jobs.get(),
        max_streams: args.stream.max_streams.map(NonZeroUsize::get),
        stream_workers: args.stream.limits().workers,
        stream_max_channels: args.stream.stream_max_channels,
        stream_batch: args.stream.stream_batch.get(),
        no_batching: args.stream.no_batching,
        stream_max_message: args.stream.stream_max_message,
        stream_idle_timeout: d(args.stream.stream_idle_timeout),
        stream_write_timeout: d(args.stream.stream_write_timeout),
        stream_burst: d(args.stream.stream_burst),
        max_video_streams: args.video_stream.max_video_streams.get(),
        video_stream_max_message: args.video_stream.video_stream_max_message,
        video_stream_idle_timeout: d(args.video_stream.video_stream_idle_timeout),
        video_stream_write_timeout: d(args.video_stream.video_stream_write_timeout),
    };
    toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot show the settings: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, FromArgMatches};

    /// Parses `argv` and resolves it against a config file holding `toml`.
    fn resolved(argv: &[&str], toml: &str) -> Result<ServeArgs, ConfigError> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, toml).unwrap_or_else(|e| panic!("{e}"));
        let mut full = vec!["sluice", "serve", "--config", path.to_str().unwrap_or_else(|| panic!("path"))];
        full.extend_from_slice(argv);
        let matches = Cli::command().try_get_matches_from(&full).unwrap_or_else(|e| panic!("{full:?}: {e}"));
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| panic!("{e}"));
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        let sub = matches.subcommand_matches("serve").unwrap_or_else(|| panic!("no serve matches"));
        resolve(*args, sub)
    }

    #[test]
    fn audio_stream_settings_come_from_the_file_under_flags() {
        let toml = r#"
            max_streams = 40
            stream_workers = 1
            stream_max_channels = 2
            stream_batch = 16
            no_batching = true
            stream_max_message = "64KiB"
            stream_idle_timeout = "3s"
            stream_write_timeout = 4
            stream_burst = "250ms"
        "#;
        let l = resolved(&[], toml).unwrap_or_else(|e| panic!("{e}")).stream.limits();
        assert_eq!((l.max_streams, l.workers, l.max_channels, l.batch), (Some(40), 1, 2, None));
        assert_eq!(l.max_message, 64 << 10);
        assert_eq!((l.idle_timeout, l.write_timeout), (Duration::from_secs(3), Duration::from_secs(4)));
        assert_eq!(l.burst, Duration::from_millis(250));
        let args = resolved(&["--max-streams", "7", "--stream-batch", "8"], "stream_batch = 16\nmax_streams = 40")
            .unwrap_or_else(|e| panic!("{e}"));
        let l = args.stream.limits();
        assert_eq!((l.max_streams, l.batch), (Some(7), Some(8)), "the flags win over the file");
        let shown = to_toml(&args);
        assert!(shown.contains("max_streams = 7") && shown.contains("stream_batch = 8"), "{shown}");
        let back = FileSettings::parse(&shown, Path::new("shown.toml")).unwrap_or_else(|e| panic!("{e}\n{shown}"));
        assert_eq!(back.max_streams.map(NonZeroUsize::get), Some(7));
    }

    #[test]
    fn video_stream_settings_come_from_the_file_under_flags() {
        let toml = r#"
            max_video_streams = 5
            video_stream_max_message = "8MiB"
            video_stream_idle_timeout = "2s"
            video_stream_write_timeout = 3
        "#;
        let l = resolved(&[], toml).unwrap_or_else(|e| panic!("{e}")).video_stream.limits();
        assert_eq!((l.max_streams, l.max_message), (5, 8 << 20));
        assert_eq!((l.idle_timeout, l.write_timeout), (Duration::from_secs(2), Duration::from_secs(3)));
        let args = resolved(&["--max-video-streams", "1"], toml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.video_stream.limits().max_streams, 1, "the flag wins over the file");
        let config = ServerConfig::from_args(&args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((config.video_stream.max_streams, config.video_stream.max_message), (1, 8 << 20));
    }

    #[test]
    fn file_values_replace_defaults_but_not_flags() {
        let toml = r#"
            addr = "127.0.0.1:9100"
            threads = 3
            drain_delay = "2s"
            shutdown_grace = 45
            api_keys = ["from-file"]
            cors_origins = ["https://a.example"]
            body_limit = "64KiB"
            request_timeout = "10s"
            max_upload = 1000
            upload_timeout = "1m"
            max_upload_audio = "10m"
            spool_dir = "/var/spool/sluice"
            file_jobs = 5
        "#;
        let args = resolved(&[], toml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.addr.to_string(), "127.0.0.1:9100");
        assert_eq!(args.engine_threads(), 3);
        assert_eq!((args.drain_delay, args.shutdown_grace), (Duration::from_secs(2), Duration::from_secs(45)));
        assert_eq!(args.api_keys, ["from-file"]);
        assert_eq!(args.cors_origins, ["https://a.example"]);
        assert_eq!((args.body_limit, args.max_upload, args.file_jobs.get()), (65_536, 1000, 5));
        assert_eq!((args.request_timeout, args.upload_timeout), (Duration::from_secs(10), Duration::from_secs(60)));
        assert_eq!(args.max_upload_audio, Duration::from_secs(600));
        assert_eq!(args.spool_dir, Some(PathBuf::from("/var/spool/sluice")));

        let args = resolved(&["--addr", "127.0.0.1:9200", "--api-key", "flag", "--file-jobs", "1"], toml)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.addr.to_string(), "127.0.0.1:9200");
        assert_eq!((args.api_keys.as_slice(), args.file_jobs.get()), (&["flag".to_owned()][..], 1));
        assert_eq!(args.body_limit, 65_536, "values not given as flags still come from the file");
    }

    #[test]
    fn an_empty_file_keeps_the_defaults() {
        let args = resolved(&[], "# nothing\n").unwrap_or_else(|e| panic!("{e}"));
        let config = ServerConfig::from_args(&args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.limits, Limits::default(), "Limits::default must match the flags' defaults");
        assert!(config.api_keys.is_empty() && config.cors_origins.is_empty());
    }

    #[test]
    fn bad_files_name_the_file_and_the_key() {
        for (toml, needle) in [
            ("max_uplod = 5", "max_uplod"),
            ("addr = 5", "addr"),
            ("threads = 0", "threads"),
            ("body_limit = \"lots\"", "body_limit"),
            ("request_timeout = \"soon\"", "request_timeout"),
            ("[server]\naddr = \"x\"", "server"),
            ("addr = ", "addr"),
        ] {
            let err = resolved(&[], toml).err().unwrap_or_else(|| panic!("{toml:?} should be refused"));
            let text = err.to_string();
            assert!(text.contains("sluice.toml") && text.contains(needle), "{toml:?}: {text}");
        }
        let missing = Path::new("/nonexistent/sluice.toml");
        assert!(matches!(FileSettings::load(missing), Err(ConfigError::Read { .. })));
    }

    #[test]
    fn bad_origins_and_keys_are_refused() {
        let base = resolved(&[], "").unwrap_or_else(|e| panic!("{e}"));
        for origins in [vec!["app.example"], vec!["https://a.example/"], vec!["https://a\nb"]] {
            let args = ServeArgs { cors_origins: origins.iter().map(|s| s.to_string()).collect(), ..base.clone() };
            assert!(ServerConfig::from_args(&args).is_err(), "{origins:?} should be refused");
        }
        let args = ServeArgs { api_keys: vec!["a b".into()], ..base.clone() };
        assert!(ServerConfig::from_args(&args).is_err(), "a key with a space should be refused");
        let args = ServeArgs { api_keys: vec![String::new(), "k".into(), " ".into()], ..base.clone() };
        let config = ServerConfig::from_args(&args).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.api_keys.contains(b"k") && !config.api_keys.contains(b""), "empty entries are dropped");
        let args = ServeArgs { cors_origins: vec!["*".into(), "http://127.0.0.1:3000".into()], ..base };
        assert!(ServerConfig::from_args(&args).is_ok());
    }

    #[test]
    fn printed_settings_read_back_and_hide_keys() {
        let args = resolved(&["--api-key", "secret", "--drain-delay", "250ms"], "").unwrap_or_else(|e| panic!("{e}"));
        let text = to_toml(&args);
        assert!(!text.contains("secret") && text.contains("<hidden>"), "{text}");
        let back = FileSettings::parse(&text, Path::new("printed.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.drain_delay, Some(FileDuration(Duration::from_millis(250))));
        assert_eq!(back.max_upload, Some(FileBytes(256 << 20)));
    }
}
