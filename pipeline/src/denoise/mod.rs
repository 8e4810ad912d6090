//! Streaming DFN3 noise suppression: the DSP front/back end (`dsp`) around the shared network
//! (`sluice_models::dfn3`), for interleaved mono or multichannel 48 kHz audio in any chunk sizes.
//!
//! The raw stream is libDF's: output sample `j` is the enhanced input sample `j − latency()`
//! (1440 samples, 30 ms), with zeros before that. Input is consumed sample by sample; a hop of
//! 480 samples per channel is processed as soon as it is complete, so besides the algorithmic
//! latency a sample waits up to one hop (10 ms) for its hop to fill.
//!
//! A server with many streams feeds them as [`BatchStream`]s and runs their ready hops together
//! with a [`HopBatch`] (one network call for many streams, same output).

mod batch;
mod error;
mod resampled;
mod stream;

pub use batch::{BatchRun, BatchStream, HopBatch};
pub use error::DenoiseError;
pub use resampled::ResampledDenoiser;
pub use stream::{Denoiser, DenoiserSettings};
