//! DeepFilterNet3 (spec `dfn3.md`): the export's config and weights, and the network on the
//! engine with per-stream state.

pub mod config;
mod ini;
pub mod model;
mod pathway;
pub mod state;
pub mod weights;

pub use config::{ConfigError, Dfn3Config};
pub use model::{BatchGate, Decoders, Dfn3Model, Dfn3Output, Gate};
pub use state::{Dfn3Batch, Dfn3State};
pub use weights::{Conv, DfDecoderWeights, Dfn3Weights, EncoderWeights, ErbDecoderWeights, Gru, Linear, SeparableConv};
