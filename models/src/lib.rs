//! Sluice networks on the engine: weight loading and per-stream model state. DeepFilterNet3
//! (speech enhancement), ESPCN (luma super-resolution) and the echo clutter filter.
//!
//! Loading path for DeepFilterNet3: [`archive`] (tar.gz or directory) → [`onnx`] (our own
//! protobuf reader) → [`dfn3::Dfn3Weights`] (typed, shape-checked tensors) with
//! [`dfn3::Dfn3Config`] from `config.ini`. Failures are [`WeightsError`]s naming the file and
//! the tensor, node or key.
//!
//! Loading path for ESPCN: [`safetensors`] (our own reader) → [`espcn::EspcnWeights`]
//! (shape-checked) → [`espcn::Espcn`] → one [`espcn::EspcnPlan`] per frame size.
//!
//! Clutter filter: [`safetensors`] → [`clutter::ClutterWeights`] → [`clutter::Clutter`] → one
//! [`clutter::ClutterPlan`] per frame size, run per stream with a [`clutter::ClutterState`]
//! (or a [`clutter::ClutterStream`] owning it).
//!
//! [`timing`]: best/median timing and the fixed inputs the examples and `sluice bench` time.

#![forbid(unsafe_code)]

pub mod archive;
pub mod bundled;
pub mod clutter;
pub mod dfn3;
mod error;
pub mod espcn;
pub mod onnx;
pub mod safetensors;
pub mod timing;
mod weight;

pub use error::WeightsError;
pub use weight::Weight;
