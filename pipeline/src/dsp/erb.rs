//! ERB band layout of libDF: which FFT bins form each of the `nb_erb` bands (spec §1.4).
//!
//! Bands are contiguous, cover all `fft_size / 2 + 1` bins, and are at least `min_nb_erb_freqs`
//! bins wide. The network's ERB mask gives one real gain per band; [`ErbBands::apply_gains`]
//! spreads it over the band's bins (no interpolation).

use super::{Complex32, DspConfig, DspError, check_len};

fn freq2erb(hz: f32) -> f32 {
    9.265 * (hz / (24.7 * 9.265)).ln_1p()
}

fn erb2freq(erb: f32) -> f32 {
    24.7 * 9.265 * ((erb / 9.265).exp() - 1.0)
}

/// The ERB filter bank: widths and first bins of each band, in FFT bins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErbBands {
    widths: Vec<usize>,
    starts: Vec<usize>,
}

impl ErbBands {
    /// The layout for a model's configuration.
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        Self::from_params(cfg.sr, cfg.fft_size, cfg.nb_erb, cfg.min_nb_erb_freqs)
    }

    /// libDF's `erb_fb` algorithm, in f32 as libDF computes it:
    /// `nb_erb` equal steps on the ERB scale up to Nyquist, each rounded to a bin; a band narrower
    /// than `min_nb_freqs` is widened and the extra bins are taken from the next band; the
    /// Nyquist bin is added to the last band, which is cut if the total exceeds the bin count.
    pub fn from_params(sr: usize, fft_size: usize, nb_erb: usize, min_nb_freqs: usize) -> Result<Self, DspError> {
        let bad = |param, reason: String| Err(DspError::InvalidConfig { param, reason });
        if sr == 0 || fft_size < 2 || nb_erb == 0 {
            return bad("sr/fft_size/nb_erb", "must be positive (fft_size at least 2)".into());
        }
        let bins = fft_size / 2 + 1;
        let bin_hz = sr as f32 / fft_size as f32;
        let step = freq2erb((sr / 2) as f32) / nb_erb as f32;
        let min = min_nb_freqs as i64;
        let mut widths = Vec::with_capacity(nb_erb);
        let (mut prev, mut carry) = (0i64, 0i64);
        for i in 1..=nb_erb {
            let fb = (erb2freq(i as f32 * step) / bin_hz).round() as i64;
            let raw = fb - prev - carry;
            let width = if raw < min {
                carry = min - raw;
                min
            } else {
                carry = 0;
                raw
            };
            widths.push(width);
            prev = fb;
        }
        let excess = widths.iter().sum::<i64>() + 1 - bins as i64;
        if let Some(last) = widths.last_mut() {
            // The Nyquist bin joins the last band; cut that band if the layout overshoots.
            *last += 1 - excess.max(0);
        }
        let total: i64 = widths.iter().sum();
        if total != bins as i64 || widths.iter().any(|&w| w < 1) {
            return bad(
                "nb_erb",
                format!("{nb_erb} bands of at least {min_nb_freqs} bins do not fit {bins} bins: widths {widths:?}"),
            );
        }
        let widths: Vec<usize> = widths.into_iter().map(|w| w as usize).collect();
        let starts = widths
            .iter()
            .scan(0usize, |acc, &w| {
                let s = *acc;
                *acc += w;
                Some(s)
            })
            .collect();
        Ok(Self { widths, starts })
    }

    /// Number of bands.
    pub fn len(&self) -> usize {
        self.widths.len()
    }

    /// Always false: a layout has at least one band.
    pub fn is_empty(&self) -> bool {
        self.widths.is_empty()
    }

    /// Width of each band in bins.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// First bin of each band.
    pub fn starts(&self) -> &[usize] {
        &self.starts
    }

    /// Number of bins covered (`fft_size / 2 + 1`).
    pub fn freq_bins(&self) -> usize {
        self.widths.iter().sum()
    }

    /// Mean power `Σ|X[k]|² / width` of each band into `out` (one value per band).
    ///
    /// Each term is scaled by `1/width` before summing, as libDF does, so the rounding matches.
    pub fn band_power(&self, spec: &[Complex32], out: &mut [f32]) -> Result<(), DspError> {
        check_len("band power spectrum", self.freq_bins(), spec.len())?;
        check_len("band power output", self.len(), out.len())?;
        for ((o, &s), &w) in out.iter_mut().zip(&self.starts).zip(&self.widths) {
            let k = 1.0 / w as f32;
            *o = spec[s..s + w].iter().fold(0.0f32, |acc, x| acc + (x.re * x.re + x.im * x.im) * k);
        }
        Ok(())
    }

    /// Multiplies every bin of band `b` by `gains[b]` (a real gain on the complex value).
    pub fn apply_gains(&self, gains: &[f32], spec: &mut [Complex32]) -> Result<(), DspError> {
        check_len("ERB gains", self.len(), gains.len())?;
        check_len("ERB-masked spectrum", self.freq_bins(), spec.len())?;
        for ((&g, &s), &w) in gains.iter().zip(&self.starts).zip(&self.widths) {
            for x in &mut spec[s..s + w] {
                *x *= g;
            }
        }
        Ok(())
    }
}
