//! AVX-512 vector math. Every function requires the `avx512f` (+ avx2/fma) target features,
//! which the callers guarantee.

use super::{TANH_CLAMP, TANH_P, TANH_Q};
use crate::activation::Activation;
use std::arch::x86_64::*;

/// tanh of 16 lanes (rational approximation, see the module docs).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub fn tanh(x: __m512) -> __m512 {
    // One `vrangeps` clamps: the operand of smaller magnitude with x's sign, i.e. x or
    // ±TANH_CLAMP (a NaN x becomes +TANH_CLAMP).
    let x = _mm512_range_ps::<0b0010>(x, _mm512_set1_ps(TANH_CLAMP));
    let x2 = _mm512_mul_ps(x, x);
    let mut p = _mm512_set1_ps(TANH_P[4]);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_P[3]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_P[2]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_P[1]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_P[0]));
    p = _mm512_mul_ps(p, x);
    let mut q = _mm512_set1_ps(TANH_Q[3]);
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(TANH_Q[2]));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(TANH_Q[1]));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(TANH_Q[0]));
    _mm512_div_ps(p, q)
}

/// Logistic sigmoid of 16 lanes, as 0.5 + 0.5·tanh(x/2).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub fn sigmoid(x: __m512) -> __m512 {
    let half = _mm512_set1_ps(0.5);
    _mm512_fmadd_ps(tanh(_mm512_mul_ps(x, half)), half, half)
}

/// PReLU of 16 lanes with the slope broadcast in `slope`: slope·x where x < 0, else x
/// (the scalar's test, so bit-exact; NaN and −0 pass through).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub fn prelu(x: __m512, slope: __m512) -> __m512 {
    let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_setzero_ps());
    _mm512_mask_mul_ps(x, neg, x, slope)
}

/// Applies `act` to 16 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub fn activate(act: Activation, x: __m512) -> __m512 {
    match act {
        Activation::Identity => x,
        Activation::Relu => _mm512_max_ps(x, _mm512_setzero_ps()),
        Activation::Tanh => tanh(x),
        Activation::Sigmoid => sigmoid(x),
        Activation::Prelu(s) => prelu(x, _mm512_set1_ps(s.get())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_activations_match_scalar() {
        if !crate::Isa::Avx512.is_supported() {
            assert!(
                !std::arch::is_x86_feature_detected!("avx512f")
                    || !std::arch::is_x86_feature_detected!("avx512vl")
                    || !std::arch::is_x86_feature_detected!("avx512bw")
                    || !std::arch::is_x86_feature_detected!("avx512dq")
            );
            return;
        }
        let xs = crate::vmath::activation_test_inputs(16);
        /// Applies the vector activation to every 16-lane chunk.
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
        fn activate_slice(act: Activation, xs: &mut [f32]) {
            for c in xs.chunks_exact_mut(16) {
                // SAFETY: `c` has exactly 16 elements; unaligned load/store.
                unsafe { _mm512_storeu_ps(c.as_mut_ptr(), activate(act, _mm512_loadu_ps(c.as_ptr()))) };
            }
        }
        for act in crate::vmath::test_activations() {
            let mut ys = xs.clone();
            // SAFETY: AVX-512 support checked above.
            unsafe { activate_slice(act, &mut ys) };
            crate::vmath::check_activation(act, &xs, &ys);
        }
    }

    /// The vector tanh over the shared sweep: f64-accurate to 5e-7, NaN-free, ±1 at ±∞.
    #[test]
    fn tanh_matches_f64_everywhere() {
        if !crate::Isa::Avx512.is_supported() {
            return;
        }
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
        fn tanh_slice(xs: &[f32], ys: &mut [f32]) {
            for (x, y) in xs.chunks_exact(16).zip(ys.chunks_exact_mut(16)) {
                // SAFETY: both chunks have exactly 16 elements; unaligned load/store.
                unsafe { _mm512_storeu_ps(y.as_mut_ptr(), tanh(_mm512_loadu_ps(x.as_ptr()))) };
            }
        }
        let xs = crate::vmath::tanh_test_inputs();
        let mut ys = vec![0.0; xs.len()];
        // SAFETY: the tier's features were checked above.
        unsafe { tanh_slice(&xs, &mut ys) };
        crate::vmath::check_tanh("avx512", &xs, &ys);
    }
}
