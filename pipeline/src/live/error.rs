//! Why the live worker stopped.

use crate::audio::AudioError;
use crate::denoise::DenoiseError;

/// A [`super::Worker`] error: the stream cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The denoiser could not be built or failed on a block.
    #[error(transparent)]
    Denoise(#[from] DenoiseError),
    /// The output file could not be written.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The rings cannot carry this stream (their channel count differs from the processor's).
    #[error("ring of {ring} channels for a {stream}-channel stream")]
    Channels {
        /// The ring's channels.
        ring: usize,
        /// The stream's channels.
        stream: usize,
    },
}
