//! ESPCN super-resolution of a luma plane (spec `espcn.md`): weights trained by
//! `models/train/espcn/` and exported to safetensors, run on the engine.
//!
//! Convention: input and output are full-range BT.601 luma in [0, 1],
//! `Y = (0.299 R + 0.587 G + 0.114 B) / 255` of 8-bit sRGB, as JPEG uses.

pub mod model;
pub mod weights;

pub use model::{Espcn, EspcnPlan, EspcnRunner};
pub use weights::{BUNDLED_SCALES, ConvWeights, EspcnWeights};
