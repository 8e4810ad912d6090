//! Sluice streaming pipeline: the DeepFilterNet3 DSP ([`dsp`]) and the streaming speech
//! denoiser built on it ([`denoise`]), and audio file I/O ([`audio`]); video stages arrive with their issues.

#![forbid(unsafe_code)]

pub mod audio;
pub mod denoise;
pub mod dsp;
