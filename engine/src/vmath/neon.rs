//! NEON vector math (aarch64; NEON is architecturally guaranteed there).

use super::{TANH_CLAMP, TANH_P, TANH_Q};
use crate::activation::Activation;
use std::arch::aarch64::*;

/// tanh of 4 lanes (rational approximation, see the module docs).
#[inline]
#[target_feature(enable = "neon")]
pub fn tanh(x: float32x4_t) -> float32x4_t {
    // FMAX/FMIN propagate NaN, so a NaN x stays NaN.
    let x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-TANH_CLAMP)), vdupq_n_f32(TANH_CLAMP));
    let x2 = vmulq_f32(x, x);
    let mut p = vdupq_n_f32(TANH_P[4]);
    for k in (0..4).rev() {
        p = vfmaq_f32(vdupq_n_f32(TANH_P[k]), p, x2);
    }
    p = vmulq_f32(p, x);
    let mut q = vdupq_n_f32(TANH_Q[3]);
    for k in (0..3).rev() {
        q = vfmaq_f32(vdupq_n_f32(TANH_Q[k]), q, x2);
    }
    vdivq_f32(p, q)
}

/// Logistic sigmoid of 4 lanes.
#[inline]
#[target_feature(enable = "neon")]
pub fn sigmoid(x: float32x4_t) -> float32x4_t {
    let half = vdupq_n_f32(0.5);
    vfmaq_f32(half, tanh(vmulq_f32(x, half)), half)
}

/// Applies `act` to 4 lanes.
#[inline]
#[target_feature(enable = "neon")]
pub fn activate(act: Activation, x: float32x4_t) -> float32x4_t {
    match act {
        Activation::Identity => x,
        Activation::Relu => vmaxq_f32(x, vdupq_n_f32(0.0)),
        Activation::Tanh => tanh(x),
        Activation::Sigmoid => sigmoid(x),
    }
}
