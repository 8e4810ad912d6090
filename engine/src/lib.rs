//! # sluice-engine
//!
//! The CPU compute engine behind every Sluice model. Convolution and pooling are computed as
//! *sliding-window sums* over vector registers (no im2col matrix): wide layers keep output
//! channels in SIMD lanes, narrow ones (one input channel, few output channels, pooling) keep
//! consecutive pixels in lanes and slide the window by register shifts.
//!
//! Every op is an immutable *plan* built once (packed weights, chosen kernel, scratch size),
//! shareable across threads (`Arc`), run on caller-provided slices without allocating.
//! Tiers: scalar reference, AVX2+FMA, AVX-512 (x86-64), NEON (aarch64); chosen once at
//! start-up, overridable with `SLUICE_ISA`. Activations are channels-last (`[D][H][W][C]`).

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod activation;
pub mod conv;
pub mod conv_transpose;
pub mod error;
pub mod gru;
pub mod isa;
pub mod linear;
pub mod ops;
pub mod pool;
pub mod streaming;
pub mod threads;
pub(crate) mod vmath;

mod outptr;

pub use activation::{Activation, NonFiniteSlope, Slope};
pub use conv::{Conv, ConvSpec};
pub use conv_transpose::{ConvTranspose, ConvTransposeSpec};
pub use error::{EngineError, Result};
pub use gru::{Gru, GruWeights, LinearBeforeReset};
pub use isa::Isa;
pub use linear::{GroupedLinear, GroupedLinearSpec, Linear, LinearSpec, WeightLayout};
pub use ops::{Add, Broadcast, Concat, Mul, PixelShuffle, Upsample};
pub use pool::{Pool, PoolKind, PoolSpec, WindowMethod};
pub use streaming::{ConvHistory, StreamingConv};
pub use threads::Threads;
