//! The last `df_order` noisy spectra, newest first by age: what deep filtering, the ERB mask
//! target (age `lookahead`), the post-filter and the attenuation limit read.

use super::{Complex32, DspConfig, DspError};

/// A ring of `frames` spectra of `bins` bins each, zero at start. Age 0 is the newest frame
/// (t), age `frames − 1` the oldest (t − frames + 1).
pub struct NoisyRing {
    data: Vec<Complex32>,
    bins: usize,
    frames: usize,
    /// Slot index of the newest frame.
    head: usize,
}

impl NoisyRing {
    /// A ring of `df_order` frames of `freq_bins` bins (5 × 481 for DFN3).
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        cfg.validate()?;
        Ok(Self::with_size(cfg.df_order, cfg.freq_bins()))
    }

    /// A ring of `frames` (at least 1) frames of `bins` bins.
    pub fn with_size(frames: usize, bins: usize) -> Self {
        let frames = frames.max(1);
        Self { data: vec![Complex32::new(0.0, 0.0); frames * bins], bins, frames, head: 0 }
    }

    /// Frames held.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Bins per frame.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Drops the oldest frame and returns the slot of the new newest frame (age 0) to fill;
    /// it still holds the dropped frame's values.
    pub fn push_slot(&mut self) -> &mut [Complex32] {
        self.head = (self.head + 1) % self.frames;
        let s = self.head * self.bins;
        &mut self.data[s..s + self.bins]
    }

    /// Pushes a copy of `spec` as the newest frame.
    pub fn push(&mut self, spec: &[Complex32]) -> Result<(), DspError> {
        super::check_len("noisy ring frame", self.bins, spec.len())?;
        self.push_slot().copy_from_slice(spec);
        Ok(())
    }

    /// The frame pushed `age` pushes ago (0 = newest). Ages beyond the ring wrap around, so
    /// callers keep `age < frames()`.
    pub fn frame(&self, age: usize) -> &[Complex32] {
        let slot = (self.head + self.frames - age % self.frames) % self.frames;
        let s = slot * self.bins;
        &self.data[s..s + self.bins]
    }

    /// Zeroes every frame (as at start-up).
    pub fn reset(&mut self) {
        self.data.fill(Complex32::new(0.0, 0.0));
        self.head = 0;
    }
}
