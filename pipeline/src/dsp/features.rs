//! The two network inputs computed from each analysed frame, with their running normalisations
//! (spec §1.5, §1.6): `feat_erb` (normalised ERB band energies) and `feat_spec` (unit-normalised
//! complex low bins).
//!
//! Both normalisations are exponential moving averages with the same decay α per frame
//! ([`norm_alpha`]); their states persist across frames and only `reset` (or a new object)
//! restores the initial values.

use super::{Complex32, DspConfig, DspError, ErbBands, check_len};

/// Initial ERB mean-normalisation state: linearly from −60 dB (band 0) to −90 dB (last band).
const MEAN_NORM_INIT: [f32; 2] = [-60.0, -90.0];
/// Initial unit-normalisation state: linearly from 0.001 (bin 0) to 0.0001 (bin nb_df − 1).
const UNIT_NORM_INIT: [f32; 2] = [0.001, 0.0001];

/// Decay per frame of the feature normalisations: `exp(−hop/(sr·τ))` rounded to the fewest
/// decimals (at least 3) that keep it below 1, computed in f32 as libDF does.
/// DFN3 (hop 480, 48 kHz, τ = 1 s): exp(−0.01) = 0.990050 → **0.99**.
pub fn norm_alpha(sr: usize, hop: usize, tau_s: f32) -> f32 {
    let alpha = (-(hop as f32 / sr as f32) / tau_s).exp();
    for digits in 3..=9 {
        let scale = 10i32.pow(digits) as f32;
        let a = (alpha * scale).round() / scale;
        if a < 1.0 {
            return a;
        }
    }
    alpha
}

/// `n` values from `lo` to `hi` inclusive, as libDF fills its norm states (f32 steps).
fn linspace(lo: f32, hi: f32, out: &mut [f32]) {
    let step = if out.len() > 1 { (hi - lo) / (out.len() - 1) as f32 } else { 0.0 };
    for (i, o) in out.iter_mut().enumerate() {
        *o = lo + i as f32 * step;
    }
}

/// `|x|` rounded once from f64, i.e. the correctly rounded `hypotf` that libDF's `norm()` uses,
/// but without a libm call per bin.
#[inline]
pub(crate) fn magnitude(x: Complex32) -> f32 {
    let (re, im) = (f64::from(x.re), f64::from(x.im));
    (re * re + im * im).sqrt() as f32
}

/// `feat_erb`: per band, `(dB − s)/40` where dB = 10·log10(mean band power + 1e-10) and
/// `s ← dB·(1−α) + s·α` is updated before use. One value per ERB band per frame.
pub struct ErbFeatures {
    bands: ErbBands,
    alpha: f32,
    state: Vec<f32>,
}

impl ErbFeatures {
    /// Builds the band layout and the initial state for a configuration.
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        cfg.validate()?;
        let bands = ErbBands::new(cfg)?;
        let mut state = vec![0.0; bands.len()];
        linspace(MEAN_NORM_INIT[0], MEAN_NORM_INIT[1], &mut state);
        Ok(Self { bands, alpha: norm_alpha(cfg.sr, cfg.hop, cfg.norm_tau), state })
    }

    /// The band layout used.
    pub fn bands(&self) -> &ErbBands {
        &self.bands
    }

    /// The running mean of each band's level in dB.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Computes the feature of one frame (`freq_bins` bins) into `out` (`nb_erb` values) and
    /// advances the normalisation. Allocates nothing.
    pub fn process(&mut self, spec: &[Complex32], out: &mut [f32]) -> Result<(), DspError> {
        self.bands.band_power(spec, out)?;
        let (a, b) = (self.alpha, 1.0 - self.alpha);
        for (x, s) in out.iter_mut().zip(self.state.iter_mut()) {
            let db = (*x + 1e-10).log10() * 10.0;
            *s = db * b + *s * a;
            *x = (db - *s) / 40.0;
        }
        Ok(())
    }

    /// Restores the initial normalisation state.
    pub fn reset(&mut self) {
        linspace(MEAN_NORM_INIT[0], MEAN_NORM_INIT[1], &mut self.state);
    }
}

/// `feat_spec`: for bins `k < nb_df`, `X[k]/sqrt(u_k)` with `u_k ← |X[k]|·(1−α) + u_k·α`
/// updated before use. Written planar, as the encoder reads it: `nb_df` real parts, then
/// `nb_df` imaginary parts.
pub struct SpecFeatures {
    alpha: f32,
    freq_bins: usize,
    state: Vec<f32>,
}

impl SpecFeatures {
    /// Builds the initial state for a configuration.
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        cfg.validate()?;
        let mut state = vec![0.0; cfg.nb_df];
        linspace(UNIT_NORM_INIT[0], UNIT_NORM_INIT[1], &mut state);
        Ok(Self { alpha: norm_alpha(cfg.sr, cfg.hop, cfg.norm_tau), freq_bins: cfg.freq_bins(), state })
    }

    /// Number of bins normalised (`nb_df`).
    pub fn nb_df(&self) -> usize {
        self.state.len()
    }

    /// The running mean magnitude of each bin.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Computes the feature of one frame (`freq_bins` bins) into `out` (`2·nb_df` values,
    /// real parts then imaginary parts) and advances the normalisation. Allocates nothing.
    pub fn process(&mut self, spec: &[Complex32], out: &mut [f32]) -> Result<(), DspError> {
        check_len("complex feature spectrum", self.freq_bins, spec.len())?;
        let nb = self.nb_df();
        check_len("complex feature output", 2 * nb, out.len())?;
        let (re, im) = out.split_at_mut(nb);
        let (a, b) = (self.alpha, 1.0 - self.alpha);
        for (((&x, u), r), i) in spec.iter().zip(self.state.iter_mut()).zip(re).zip(im) {
            *u = magnitude(x) * b + *u * a;
            let d = u.sqrt();
            *r = x.re / d;
            *i = x.im / d;
        }
        Ok(())
    }

    /// Restores the initial normalisation state.
    pub fn reset(&mut self) {
        linspace(UNIT_NORM_INIT[0], UNIT_NORM_INIT[1], &mut self.state);
    }
}
