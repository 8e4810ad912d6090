//! Log subscriber set-up: level filter from the environment, text or JSON lines on stderr.

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Filter used when neither `SLUICE_LOG` nor `RUST_LOG` is set.
pub const DEFAULT_FILTER: &str = "info";

/// The filter directives to use: `SLUICE_LOG` wins over `RUST_LOG`; empty values count as unset.
pub fn filter_directives(sluice_log: Option<String>, rust_log: Option<String>) -> String {
    [sluice_log, rust_log]
        .into_iter()
        .flatten()
        .find(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FILTER.to_owned())
}

/// Installs the global subscriber (stderr; ANSI colours only on a terminal).
///
/// Fails if the directives do not parse or a subscriber is already installed.
pub fn init(format: LogFormat) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let directives = filter_directives(std::env::var("SLUICE_LOG").ok(), std::env::var("RUST_LOG").ok());
    let filter = EnvFilter::try_new(&directives).map_err(|e| format!("bad log filter `{directives}`: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sluice_log_wins_over_rust_log() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(filter_directives(s("debug"), s("warn")), "debug");
        assert_eq!(filter_directives(None, s("warn")), "warn");
        assert_eq!(filter_directives(s(" "), s("warn")), "warn");
        assert_eq!(filter_directives(None, None), DEFAULT_FILTER);
    }
}
