//! Sluice streaming pipeline: the DeepFilterNet3 DSP ([`dsp`]) and the streaming speech
//! denoiser built on it ([`denoise`]), audio file I/O ([`audio`]), the real-time parts of
//! live audio ([`live`]), the echocardiography clip simulator and clutter filter ([`echo`]) and video/image
//! super-resolution ([`video`]).

#![forbid(unsafe_code)]

pub mod audio;
pub mod denoise;
pub mod dsp;
pub mod echo;
pub mod live;
pub mod video;
