//! Sluice networks on the engine: weight loading and per-stream model state. DeepFilterNet3 is
//! here; ESPCN and the clutter filter arrive with their issues.
//!
//! Loading path for DeepFilterNet3: [`archive`] (tar.gz or directory) → [`onnx`] (our own
//! protobuf reader) → [`dfn3::Dfn3Weights`] (typed, shape-checked tensors) with
//! [`dfn3::Dfn3Config`] from `config.ini`. Failures are [`WeightsError`]s naming the file and
//! the tensor, node or key.

#![forbid(unsafe_code)]

pub mod archive;
pub mod bundled;
pub mod dfn3;
mod error;
pub mod onnx;
mod weight;

pub use error::WeightsError;
pub use weight::Weight;
