//! AVX-512 vector math. Every function requires the `avx512f` (+ avx2/fma) target features,
//! which the callers guarantee.

use super::{TANH_ALPHA, TANH_BETA, TANH_CLAMP};
use crate::activation::Activation;
use std::arch::x86_64::*;

/// tanh of 16 lanes (rational approximation).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub fn tanh(x: __m512) -> __m512 {
    let x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-TANH_CLAMP)), _mm512_set1_ps(TANH_CLAMP));
    let x2 = _mm512_mul_ps(x, x);
    let mut p = _mm512_set1_ps(TANH_ALPHA[6]);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_ALPHA[5]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_ALPHA[4]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_ALPHA[3]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_ALPHA[2]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_ALPHA[1]));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(TANH_ALPHA[0]));
    p = _mm512_mul_ps(p, x);
    let mut q = _mm512_set1_ps(TANH_BETA[3]);
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(TANH_BETA[2]));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(TANH_BETA[1]));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(TANH_BETA[0]));
    _mm512_div_ps(p, q)
}

/// Logistic sigmoid of 16 lanes, as 0.5 + 0.5·tanh(x/2).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub fn sigmoid(x: __m512) -> __m512 {
    let half = _mm512_set1_ps(0.5);
    _mm512_fmadd_ps(tanh(_mm512_mul_ps(x, half)), half, half)
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
        let xs: Vec<f32> = (0..1008).map(|i| (i as f32 - 500.0) * 0.031).collect();
        /// Applies the vector activation to every 16-lane chunk.
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
        fn activate_slice(act: Activation, xs: &mut [f32]) {
            for c in xs.chunks_exact_mut(16) {
                // SAFETY: `c` has exactly 16 elements; unaligned load/store.
                unsafe { _mm512_storeu_ps(c.as_mut_ptr(), activate(act, _mm512_loadu_ps(c.as_ptr()))) };
            }
        }
        for act in [Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Sigmoid] {
            let mut ys = xs.clone();
            // SAFETY: AVX-512 support checked above.
            unsafe { activate_slice(act, &mut ys) };
            for (x, y) in xs.iter().zip(&ys) {
                assert!((act.apply(*x) - y).abs() < 2e-6, "{act:?}({x}) = {y}");
            }
        }
    }
}
