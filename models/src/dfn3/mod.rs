//! DeepFilterNet3 (spec `dfn3.md`): the export's config and weights.

pub mod config;
mod ini;
pub mod weights;

pub use config::{ConfigError, Dfn3Config};
pub use weights::{Conv, DfDecoderWeights, Dfn3Weights, EncoderWeights, ErbDecoderWeights, Gru, Linear, SeparableConv};
