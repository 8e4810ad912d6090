//! The DSP parameters of a DFN3 export (`config.ini` `[df]`) and the errors of this module.

/// Why a DSP object could not be built or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DspError {
    /// A caller's buffer has the wrong length; pass a buffer of `expected` elements.
    #[error("{what}: expected {expected} elements, got {got}")]
    BufferLength {
        /// Which buffer.
        what: &'static str,
        /// Required length.
        expected: usize,
        /// Length passed.
        got: usize,
    },
    /// The configuration cannot describe a DFN3 front end; fix the named parameter.
    #[error("invalid DSP configuration: {param}: {reason}")]
    InvalidConfig {
        /// Which parameter.
        param: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A per-hop method was called out of order; the message says which call was expected.
    #[error("call out of order: {0}")]
    Sequence(&'static str),
    /// The FFT library refused a transform (lengths are fixed at construction, so this indicates a bug).
    #[error("FFT failed: {0}")]
    Fft(String),
}

/// DSP parameters of one DFN3 model (spec §1.1). [`DspConfig::DFN3`] holds the official values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DspConfig {
    /// Sample rate in Hz (48000).
    pub sr: usize,
    /// FFT and window length in samples (960).
    pub fft_size: usize,
    /// Hop in samples (480); must be `fft_size / 2` for the Vorbis window to reconstruct.
    pub hop: usize,
    /// Number of ERB bands (32).
    pub nb_erb: usize,
    /// Minimum width of an ERB band in bins (2).
    pub min_nb_erb_freqs: usize,
    /// Number of low bins that deep filtering replaces (96).
    pub nb_df: usize,
    /// Deep-filter taps in frames (5).
    pub df_order: usize,
    /// Frames between the newest analysed frame and the frame emitted (2).
    pub lookahead: usize,
    /// Time constant of the feature normalisations in seconds (1.0).
    pub norm_tau: f32,
}

impl DspConfig {
    /// The official DeepFilterNet3 48 kHz settings.
    pub const DFN3: DspConfig = DspConfig {
        sr: 48_000,
        fft_size: 960,
        hop: 480,
        nb_erb: 32,
        min_nb_erb_freqs: 2,
        nb_df: 96,
        df_order: 5,
        lookahead: 2,
        norm_tau: 1.0,
    };

    /// Number of complex bins per frame: `fft_size / 2 + 1` (481).
    pub fn freq_bins(&self) -> usize {
        self.fft_size / 2 + 1
    }

    /// Delay from input to enhanced output in samples: `fft_size − hop + lookahead · hop` (1440).
    pub fn latency_samples(&self) -> usize {
        self.fft_size - self.hop + self.lookahead * self.hop
    }

    /// Checks that the parameters describe a working front end.
    pub fn validate(&self) -> Result<(), DspError> {
        let bad = |param, reason: &str| Err(DspError::InvalidConfig { param, reason: reason.to_owned() });
        if self.sr == 0 {
            return bad("sr", "must be positive");
        }
        if self.fft_size < 4 || !self.fft_size.is_multiple_of(2) {
            return bad("fft_size", "must be even and at least 4");
        }
        if self.hop * 2 != self.fft_size {
            return bad("hop", "must be fft_size / 2 (50 % overlap)");
        }
        if self.nb_erb == 0 || self.nb_erb * self.min_nb_erb_freqs.max(1) > self.freq_bins() {
            return bad("nb_erb", "bands × minimum width must fit in fft_size / 2 + 1 bins");
        }
        if self.nb_df == 0 || self.nb_df > self.freq_bins() {
            return bad("nb_df", "must be in 1..=fft_size / 2 + 1");
        }
        if self.df_order == 0 {
            return bad("df_order", "must be positive");
        }
        if self.lookahead >= self.df_order {
            return bad("lookahead", "must be below df_order (the target frame is one of the taps)");
        }
        if !(self.norm_tau.is_finite() && self.norm_tau > 0.0) {
            return bad("norm_tau", "must be a positive number of seconds");
        }
        Ok(())
    }
}

impl Default for DspConfig {
    fn default() -> Self {
        Self::DFN3
    }
}
