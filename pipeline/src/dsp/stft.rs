//! Short-time Fourier transform of libDF: Vorbis window, 50 % overlap, normalised in the analysis.
//!
//! [`Analysis`] turns each hop of `hop` samples into one frame of `fft_size / 2 + 1` bins;
//! [`Synthesis`] turns each frame back into `hop` samples by overlap-add. Analysis followed by
//! synthesis reproduces the input delayed by `fft_size − hop` samples (480 for DFN3).

use super::{Complex32, DspConfig, DspError, check_len};
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// The Vorbis window of length `n`: `w[i] = sin(π/2 · sin²(π(i + ½)/n))`, computed in f64.
///
/// For even `n` it is power-complementary at 50 % overlap: `w[i]² + w[i + n/2]² = 1`.
pub fn vorbis_window(n: usize) -> Vec<f32> {
    let pi = std::f64::consts::PI;
    (0..n)
        .map(|i| {
            let s = (pi * (i as f64 + 0.5) / n as f64).sin();
            (0.5 * pi * s * s).sin() as f32
        })
        .collect()
}

fn fft_error(e: realfft::FftError) -> DspError {
    DspError::Fft(e.to_string())
}

/// Streaming analysis: one hop of samples in, one normalised spectrum out.
///
/// The FFT input is the previous hop followed by the current hop, times the window; the
/// spectrum is scaled by `wnorm = 2·hop/fft_size²` (1/960), the only normalisation of the STFT.
pub struct Analysis {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    wnorm: f32,
    /// The previous hop (`fft_size − hop` samples), zero at start.
    mem: Vec<f32>,
    buf: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl Analysis {
    /// Plans the FFT and allocates all buffers.
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        cfg.validate()?;
        let n = cfg.fft_size;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let scratch = fft.make_scratch_vec();
        Ok(Self {
            window: vorbis_window(n),
            wnorm: (2 * cfg.hop) as f32 / (n * n) as f32,
            mem: vec![0.0; n - cfg.hop],
            buf: vec![0.0; n],
            scratch,
            fft,
        })
    }

    /// Samples per hop this analysis takes.
    pub fn hop(&self) -> usize {
        self.buf.len() - self.mem.len()
    }

    /// Bins per frame this analysis writes.
    pub fn freq_bins(&self) -> usize {
        self.buf.len() / 2 + 1
    }

    /// Analyses one hop (`hop` samples) into `spec` (`freq_bins` bins). Allocates nothing.
    pub fn process(&mut self, hop: &[f32], spec: &mut [Complex32]) -> Result<(), DspError> {
        check_len("analysis input hop", self.hop(), hop.len())?;
        check_len("analysis output spectrum", self.freq_bins(), spec.len())?;
        let split = self.mem.len();
        let (old, new) = self.buf.split_at_mut(split);
        let (w_old, w_new) = self.window.split_at(split);
        for ((b, &m), &w) in old.iter_mut().zip(&self.mem).zip(w_old) {
            *b = m * w;
        }
        for ((b, &x), &w) in new.iter_mut().zip(hop).zip(w_new) {
            *b = x * w;
        }
        self.mem.copy_from_slice(hop);
        self.fft.process_with_scratch(&mut self.buf, spec, &mut self.scratch).map_err(fft_error)?;
        for x in spec.iter_mut() {
            *x *= self.wnorm;
        }
        Ok(())
    }

    /// Forgets the previous hop (as at start-up).
    pub fn reset(&mut self) {
        self.mem.fill(0.0);
    }
}

/// Streaming synthesis: one spectrum in, one hop of samples out (inverse FFT, window, overlap-add).
///
/// The inverse FFT is unscaled (the analysis carries the whole normalisation), and the imaginary
/// parts of the DC and Nyquist bins are ignored: deep filtering can make them non-zero.
pub struct Synthesis {
    ifft: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    /// Overlap from the previous frame (`fft_size − hop` samples), zero at start.
    mem: Vec<f32>,
    spec: Vec<Complex32>,
    buf: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl Synthesis {
    /// Plans the inverse FFT and allocates all buffers.
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        cfg.validate()?;
        let n = cfg.fft_size;
        let ifft = RealFftPlanner::<f32>::new().plan_fft_inverse(n);
        let scratch = ifft.make_scratch_vec();
        Ok(Self {
            window: vorbis_window(n),
            mem: vec![0.0; n - cfg.hop],
            spec: vec![Complex32::new(0.0, 0.0); n / 2 + 1],
            buf: vec![0.0; n],
            scratch,
            ifft,
        })
    }

    /// Samples per hop this synthesis writes.
    pub fn hop(&self) -> usize {
        self.buf.len() - self.mem.len()
    }

    /// Bins per frame this synthesis takes.
    pub fn freq_bins(&self) -> usize {
        self.spec.len()
    }

    /// Synthesises one frame (`freq_bins` bins) into `out` (`hop` samples). Allocates nothing.
    pub fn process(&mut self, spec: &[Complex32], out: &mut [f32]) -> Result<(), DspError> {
        check_len("synthesis input spectrum", self.freq_bins(), spec.len())?;
        check_len("synthesis output hop", self.hop(), out.len())?;
        self.spec.copy_from_slice(spec);
        let last = self.spec.len() - 1;
        self.spec[0].im = 0.0;
        self.spec[last].im = 0.0;
        self.ifft.process_with_scratch(&mut self.spec, &mut self.buf, &mut self.scratch).map_err(fft_error)?;
        for (b, &w) in self.buf.iter_mut().zip(&self.window) {
            *b *= w;
        }
        let (first, second) = self.buf.split_at(self.hop());
        for ((o, &x), &m) in out.iter_mut().zip(first).zip(&self.mem) {
            *o = x + m;
        }
        self.mem.copy_from_slice(second);
        Ok(())
    }

    /// Clears the overlap memory (as at start-up).
    pub fn reset(&mut self) {
        self.mem.fill(0.0);
    }
}
