//! DeepFilterNet3 signal processing around the network: STFT, input features, and the per-frame
//! back end that turns the network's outputs into an enhanced spectrum (spec `dfn3.md` §1).
//!
//! Everything here is per channel, float32, and allocation-free once built: buffers, FFT plans
//! and scratch are made in `new`, every `process`/`run` method only reads and writes slices.
//!
//! Units used throughout: a *hop* is [`DspConfig::hop`] samples (480 at 48 kHz = 10 ms); a
//! *frame* is one hop's spectrum of [`DspConfig::freq_bins`] complex bins (481, 50 Hz apart).
//! Latency: the STFT alone delays the signal by `fft_size − hop` samples (480); the DFN3 back
//! end emits frame t−`lookahead` at step t, adding `lookahead · hop` samples (960), so the
//! enhanced stream is the input delayed by [`DspConfig::latency_samples`] = 1440 samples (30 ms).
//!
//! Cost per hop on the 2-core Zen 4 dev box (`cargo run --release -p sluice-pipeline --example
//! dfn3_dsp_cost`): analysis + features + synthesis ≈ 3.0 µs; the whole [`Dfn3Dsp`] hop with
//! mask and deep filtering ≈ 4.2 µs, ≈ 8.5 µs with post-filter and attenuation limit — a few
//! percent of the 150 µs per-hop budget of the network.

mod config;
pub mod enhance;
pub mod erb;
pub mod features;
pub mod frame;
pub mod ring;
pub mod stages;
pub mod stft;

pub use config::{DspConfig, DspError};
pub use enhance::{AttenLimit, Enhancer, StageOutput, deep_filter, post_filter};
pub use erb::ErbBands;
pub use features::{ErbFeatures, SpecFeatures, norm_alpha};
pub use frame::{BYPASS_LSNR_DB, Dfn3Dsp, FrontEnd};
pub use realfft::num_complex::Complex32;
pub use ring::NoisyRing;
pub use stages::{RmsGate, Stage, StageThresholds};
pub use stft::{Analysis, Synthesis, vorbis_window};

/// Checks a caller's buffer length; the error names the buffer.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), DspError> {
    if expected == got { Ok(()) } else { Err(DspError::BufferLength { what, expected, got }) }
}
