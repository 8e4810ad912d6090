//! The one-line live status `sluice live` redraws a few times a second on a terminal: input
//! level, the model's local SNR, the delay this program adds and the xrun counts. Drawn by the
//! worker thread between blocks, never by an audio callback.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use sluice_pipeline::live::LiveStats;

/// Width of the level bar in characters; it spans −60…0 dBFS.
const BAR: usize = 12;

/// Formats `s` into `line` (cleared first; reusing one `String` keeps redraws allocation-free
/// once it has grown). `bypass` shows that the model is off.
pub fn format_status(line: &mut String, s: &LiveStats, bypass: bool) {
    line.clear();
    let level = if s.input_peak_dbfs.is_finite() { s.input_peak_dbfs.max(-99.9) } else { -99.9 };
    let filled = (((level + 60.0) / 60.0).clamp(0.0, 1.0) * BAR as f32).round() as usize;
    let secs = s.captured_frames / u64::from(s.sample_rate.max(1));
    let _ = write!(line, "in {level:>5.1} dBFS [");
    line.extend(std::iter::repeat_n('#', filled).chain(std::iter::repeat_n('.', BAR - filled)));
    let _ = match (bypass, s.lsnr_db) {
        (true, _) => write!(line, "]  SNR  bypass"),
        (false, Some(snr)) => write!(line, "]  SNR {snr:>5.1} dB"),
        (false, None) => write!(line, "]  SNR    -- dB"),
    };
    let x = s.xruns;
    let _ = write!(
        line,
        "  delay {:>3.0} ms  xruns {} (in over {}, out under {}, out over {}, device {})  {:02}:{:02}",
        s.latency_ms,
        x.total(),
        x.capture_overruns,
        x.playback_underruns,
        x.playback_overflows,
        x.device_xruns,
        secs / 60,
        secs % 60
    );
}

/// The status line on stderr, redrawn in place; silent when stderr is not a terminal (logs and
/// tests get only the start and summary lines).
pub struct StatusLine {
    enabled: bool,
    bypass: bool,
    line: String,
    drawn: bool,
}

impl StatusLine {
    /// A status line for a stream with the model on (`bypass` false) or off.
    pub fn new(bypass: bool) -> Self {
        Self { enabled: std::io::stderr().is_terminal(), bypass, line: String::with_capacity(160), drawn: false }
    }

    /// Redraws the line with `s`.
    pub fn draw(&mut self, s: &LiveStats) {
        if !self.enabled {
            return;
        }
        format_status(&mut self.line, s, self.bypass);
        let mut err = std::io::stderr().lock();
        // `\r` back to column 0, `ESC[K` clears what a longer previous line left.
        let _ = write!(err, "\r{}\x1b[K", self.line);
        let _ = err.flush();
        self.drawn = true;
    }

    /// Ends the line so what follows starts on a fresh one.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::live::Xruns;

    fn stats() -> LiveStats {
        LiveStats {
            input_peak_dbfs: -30.0,
            lsnr_db: Some(12.34),
            latency_ms: 41.6,
            captured_frames: 48_000 * 75,
            sample_rate: 48_000,
            xruns: Xruns { capture_overruns: 1, playback_underruns: 2, playback_overflows: 0, device_xruns: 3 },
        }
    }

    #[test]
    fn shows_level_snr_latency_xruns_and_time() {
        let mut line = String::new();
        format_status(&mut line, &stats(), false);
        assert_eq!(
            line,
            "in -30.0 dBFS [######......]  SNR  12.3 dB  delay  42 ms  xruns 6 (in over 1, out under 2, out over 0, \
             device 3)  01:15"
        );
    }

    #[test]
    fn silence_bypass_and_no_snr_yet_read_clearly() {
        let mut line = String::new();
        let s = LiveStats { input_peak_dbfs: f32::NEG_INFINITY, lsnr_db: None, ..stats() };
        format_status(&mut line, &s, true);
        assert!(line.starts_with("in -99.9 dBFS [............]  SNR  bypass"), "{line}");
        format_status(&mut line, &s, false);
        assert!(line.contains("SNR    -- dB"), "{line}");
        let loud = LiveStats { input_peak_dbfs: 3.0, ..stats() };
        format_status(&mut line, &loud, false);
        assert!(line.starts_with("in   3.0 dBFS [############]"), "{line}");
    }
}
