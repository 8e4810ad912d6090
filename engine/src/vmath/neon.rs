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

/// PReLU of 4 lanes with the slope broadcast in `slope`: slope·x where x < 0, else x
/// (the scalar's test, so bit-exact; NaN and −0 pass through).
#[inline]
#[target_feature(enable = "neon")]
pub fn prelu(x: float32x4_t, slope: float32x4_t) -> float32x4_t {
    vbslq_f32(vcltzq_f32(x), vmulq_f32(x, slope), x)
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
        Activation::Prelu(s) => prelu(x, vdupq_n_f32(s.get())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_activations_match_scalar() {
        let xs = crate::vmath::activation_test_inputs(4);
        /// Applies the vector activation to every 4-lane chunk.
        #[target_feature(enable = "neon")]
        fn activate_slice(act: Activation, xs: &mut [f32]) {
            for c in xs.chunks_exact_mut(4) {
                // SAFETY: `c` has exactly 4 elements; unaligned load/store.
                unsafe { vst1q_f32(c.as_mut_ptr(), activate(act, vld1q_f32(c.as_ptr()))) };
            }
        }
        for act in crate::vmath::test_activations() {
            let mut ys = xs.clone();
            // SAFETY: NEON is architecturally guaranteed on aarch64.
            unsafe { activate_slice(act, &mut ys) };
            crate::vmath::check_activation(act, &xs, &ys);
        }
    }
}
