//! The DFN3 back end for one frame: from the network's outputs and the noisy spectra to the
//! enhanced spectrum of frame t−lookahead (spec §1.8–§1.11).
//!
//! Order, as libDF: start from the noisy frame t−2; ERB mask (or zero mask); deep filtering
//! replaces bins < nb_df; optional post-filter; optional attenuation-limit mix with the noisy
//! frame t−2.

use super::features::magnitude;
use super::{Complex32, DspConfig, DspError, ErbBands, NoisyRing, Stage, check_len};

/// The attenuation limit setting, from a value in dB whose sign is ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttenLimit {
    /// |dB| ≥ 100 (or NaN): no limit (libDF's default).
    Disabled,
    /// |dB| < 0.01: the model is bypassed; the output is the current input hop with no delay.
    Bypass,
    /// Otherwise: output `Y·(1 − lim) + X_{t−2}·lim` with `lim = 10^(−|dB|/20)`.
    Mix {
        /// Linear amplitude of the noisy frame mixed back in.
        lim: f32,
    },
}

impl AttenLimit {
    /// Interprets a limit in dB as libDF does.
    pub fn from_db(db: f32) -> Self {
        let a = db.abs();
        if a.is_nan() || a >= 100.0 {
            AttenLimit::Disabled
        } else if a < 0.01 {
            AttenLimit::Bypass
        } else {
            AttenLimit::Mix { lim: 10f32.powf(-a / 20.0) }
        }
    }
}

/// What the network produced for this frame; the variant is the frame's [`Stage`].
#[derive(Debug, Clone, Copy)]
pub enum StageOutput<'a> {
    /// [`Stage::ZeroMask`]: no decoder ran; every bin gets gain 0.
    ZeroMask,
    /// [`Stage::Passthrough`]: no decoder ran; the noisy frame passes unchanged.
    Passthrough,
    /// [`Stage::ErbOnly`]: the ERB decoder's mask, one gain per band (`nb_erb` values).
    Erb {
        /// Band gains in (0, 1).
        mask: &'a [f32],
    },
    /// [`Stage::ErbAndDf`]: the mask and the DF decoder's coefficients, `[nb_df][df_order][re, im]`.
    ErbDf {
        /// Band gains in (0, 1).
        mask: &'a [f32],
        /// `coefs[k·2·order + 2i + {0, 1}]` = Re/Im of the tap on frame t−(order−1)+i for bin k.
        coefs: &'a [f32],
    },
}

impl StageOutput<'_> {
    /// The stage this output belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            StageOutput::ZeroMask => Stage::ZeroMask,
            StageOutput::Passthrough => Stage::Passthrough,
            StageOutput::Erb { .. } => Stage::ErbOnly,
            StageOutput::ErbDf { .. } => Stage::ErbAndDf,
        }
    }
}

/// Deep filtering: for bins `k < nb_df`, `out[k] = Σ_i X_{t−(order−1)+i}[k] · C[k,i]` with
/// `C[k,i] = coefs[k·2·order + 2i] + j·coefs[k·2·order + 2i + 1]` (plain complex product, taps
/// accumulated oldest first). The taps are the ring's `order` frames, ages `order−1` down to 0.
/// Bins from `nb_df` on are left untouched.
pub fn deep_filter(ring: &NoisyRing, nb_df: usize, coefs: &[f32], out: &mut [Complex32]) -> Result<(), DspError> {
    let order = ring.frames();
    check_len("DF coefficients", nb_df * order * 2, coefs.len())?;
    check_len("DF output spectrum", ring.bins(), out.len())?;
    if nb_df > out.len() {
        return Err(DspError::BufferLength { what: "DF bins (nb_df) within a frame", expected: out.len(), got: nb_df });
    }
    let out = &mut out[..nb_df];
    out.fill(Complex32::new(0.0, 0.0));
    for i in 0..order {
        let x = &ring.frame(order - 1 - i)[..nb_df];
        for (k, (o, &xk)) in out.iter_mut().zip(x).enumerate() {
            let c = Complex32::new(coefs[k * 2 * order + 2 * i], coefs[k * 2 * order + 2 * i + 1]);
            *o += xk * c;
        }
    }
    Ok(())
}

/// The DFN post-filter with strength `beta`: per bin, `g = clamp(|Y|/(|X|+1e-12), 1e-12, 1)` and
/// `Y ← Y·(1+β)/(1 + β/sin²(πg/2))`, computed in libDF's operation order. Like libDF, bins are
/// processed in whole groups of 4, so the last `len % 4` bins (the Nyquist bin for 481 bins)
/// are never filtered.
pub fn post_filter(noisy: &[Complex32], enh: &mut [Complex32], beta: f32) -> Result<(), DspError> {
    check_len("post-filter enhanced spectrum", noisy.len(), enh.len())?;
    let eps = 1e-12f32;
    let half_pi = std::f32::consts::PI / 2.0;
    let n = noisy.len() / 4 * 4;
    for (x, y) in noisy[..n].iter().zip(&mut enh[..n]) {
        let g = (magnitude(*y) / (magnitude(*x) + eps)).clamp(eps, 1.0);
        let g_sin = g * (g * half_pi).sin();
        let r = g / g_sin;
        let pf = ((1.0 + beta) * g / (1.0 + beta * (r * r))) / g;
        *y *= pf;
    }
    Ok(())
}

/// Per-stream back end settings and its band layout; turns the network outputs of step t into
/// the enhanced spectrum of frame t−lookahead. Holds no per-frame state of its own: the noisy
/// spectra live in the caller's [`NoisyRing`].
pub struct Enhancer {
    bands: ErbBands,
    nb_df: usize,
    lookahead: usize,
    df_order: usize,
    post_filter_beta: f32,
    atten: AttenLimit,
}

impl Enhancer {
    /// Post-filter off and attenuation limit disabled, as libDF's C API starts.
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        cfg.validate()?;
        Ok(Self {
            bands: ErbBands::new(cfg)?,
            nb_df: cfg.nb_df,
            lookahead: cfg.lookahead,
            df_order: cfg.df_order,
            post_filter_beta: 0.0,
            atten: AttenLimit::Disabled,
        })
    }

    /// Post-filter strength β (typical 0.02, plugin range 0–0.05); β ≤ 0 turns it off.
    pub fn set_post_filter_beta(&mut self, beta: f32) {
        self.post_filter_beta = if beta > 0.0 { beta } else { 0.0 };
    }

    /// The post-filter strength (0 = off).
    pub fn post_filter_beta(&self) -> f32 {
        self.post_filter_beta
    }

    /// Sets the attenuation limit from dB (sign ignored; see [`AttenLimit::from_db`]).
    pub fn set_atten_lim_db(&mut self, db: f32) {
        self.atten = AttenLimit::from_db(db);
    }

    /// The attenuation limit in force. [`AttenLimit::Bypass`] is the caller's business (it skips
    /// the model); [`Enhancer::run`] then mixes nothing.
    pub fn atten_limit(&self) -> AttenLimit {
        self.atten
    }

    /// The band layout.
    pub fn bands(&self) -> &ErbBands {
        &self.bands
    }

    /// Writes the enhanced spectrum of frame t−lookahead into `out` (`freq_bins` bins), from the
    /// ring holding frames t−(order−1)..t and this step's network output. Allocates nothing.
    pub fn run(&self, ring: &NoisyRing, net: StageOutput<'_>, out: &mut [Complex32]) -> Result<(), DspError> {
        if ring.frames() != self.df_order || ring.bins() != self.bands.freq_bins() {
            return Err(DspError::BufferLength {
                what: "noisy ring frames × bins",
                expected: self.df_order * self.bands.freq_bins(),
                got: ring.frames() * ring.bins(),
            });
        }
        let noisy = ring.frame(self.lookahead);
        check_len("enhanced spectrum", noisy.len(), out.len())?;
        out.copy_from_slice(noisy);
        match net {
            StageOutput::Passthrough => {}
            StageOutput::ZeroMask => {
                for y in out.iter_mut() {
                    *y *= 0.0;
                }
            }
            StageOutput::Erb { mask } => self.bands.apply_gains(mask, out)?,
            StageOutput::ErbDf { mask, coefs } => {
                self.bands.apply_gains(mask, out)?;
                deep_filter(ring, self.nb_df, coefs, out)?;
            }
        }
        if net.stage().runs_erb_decoder() && self.post_filter_beta > 0.0 {
            post_filter(noisy, out, self.post_filter_beta)?;
        }
        if let AttenLimit::Mix { lim } = self.atten {
            for (y, &x) in out.iter_mut().zip(noisy) {
                *y = *y * (1.0 - lim) + x * lim;
            }
        }
        Ok(())
    }
}
