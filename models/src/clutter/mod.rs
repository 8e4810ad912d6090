//! Echocardiography clutter filter (spec `clutter.md`): the causal 3-D attention U-Net trained
//! by `models/train/clutter/` on simulated clips, exported to safetensors, run on the engine
//! whole-clip or frame by frame.
//!
//! Convention: frames are `[height][width]` grey levels in [0, 1] (8-bit B-mode / 255); the
//! output is the input plus the predicted correction, unclamped.

pub mod gate;
pub mod model;
pub mod weights;

pub use gate::{GateParams, GateState};
pub use model::{Clutter, ClutterPlan, ClutterState, ClutterStream, LATENCY_FRAMES};
pub use weights::{BUNDLED_FILE, BlockActivation, ClutterWeights, ConvWeights, DecoderWeights, GateWeights};
