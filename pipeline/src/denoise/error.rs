//! Why a [`super::Denoiser`] call failed.

use crate::dsp::DspError;
use sluice_engine::EngineError;

/// A [`super::Denoiser`] error. Nothing advances on a buffer error; fix the buffer and retry.
#[derive(Debug, thiserror::Error)]
pub enum DenoiseError {
    /// An interleaved buffer's length is not a whole number of frames (one sample per channel).
    #[error("{what}: {len} samples is not a whole number of {channels}-channel frames")]
    PartialFrame {
        /// Which buffer.
        what: &'static str,
        /// Its length in samples.
        len: usize,
        /// Channels per frame.
        channels: usize,
    },
    /// The output buffer cannot hold what the call must write; pass at least `needed` samples.
    #[error("output buffer: needs {needed} samples, got {got}")]
    OutputTooSmall {
        /// Samples the call writes.
        needed: usize,
        /// Samples passed.
        got: usize,
    },
    /// The denoiser cannot be built as asked (zero channels, a model that does not fit the DSP).
    #[error("invalid denoiser configuration: {0}")]
    InvalidConfig(String),
    /// A resampler could not be built or rejected a block (indicates a bug: sizes are fixed at
    /// construction).
    #[error("resampler: {0}")]
    Resample(String),
    /// The DSP rejected a step (indicates a bug: lengths are fixed at construction).
    #[error(transparent)]
    Dsp(#[from] DspError),
    /// The network rejected a step (indicates a bug: lengths are fixed at construction).
    #[error(transparent)]
    Model(#[from] EngineError),
}
