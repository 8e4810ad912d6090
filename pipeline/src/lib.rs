//! Sluice streaming pipeline: DSP, media I/O and per-stream stages (arrive with the model issues).

pub mod audio;
pub mod denoise;
pub mod dsp;
