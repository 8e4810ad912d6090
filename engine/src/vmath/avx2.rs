//! AVX2+FMA vector math. Every function requires the `avx2,fma` target features, which the
//! callers (kernels compiled with the same features) guarantee.

use super::{TANH_CLAMP, TANH_P, TANH_Q};
use crate::activation::Activation;
use std::arch::x86_64::*;

/// tanh of 8 lanes (rational approximation, see the module docs).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn tanh(x: __m256) -> __m256 {
    // `max`/`min` return their second operand when one is NaN: x last keeps NaN a NaN.
    let x = _mm256_min_ps(_mm256_set1_ps(TANH_CLAMP), _mm256_max_ps(_mm256_set1_ps(-TANH_CLAMP), x));
    let x2 = _mm256_mul_ps(x, x);
    let mut p = _mm256_set1_ps(TANH_P[4]);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(TANH_P[3]));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(TANH_P[2]));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(TANH_P[1]));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(TANH_P[0]));
    p = _mm256_mul_ps(p, x);
    let mut q = _mm256_set1_ps(TANH_Q[3]);
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(TANH_Q[2]));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(TANH_Q[1]));
    q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(TANH_Q[0]));
    _mm256_div_ps(p, q)
}

/// Logistic sigmoid of 8 lanes, as 0.5 + 0.5·tanh(x/2).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn sigmoid(x: __m256) -> __m256 {
    let half = _mm256_set1_ps(0.5);
    _mm256_fmadd_ps(tanh(_mm256_mul_ps(x, half)), half, half)
}

/// PReLU of 8 lanes with the slope broadcast in `slope`: slope·x where x < 0, else x
/// (the scalar's test, so bit-exact; NaN and −0 pass through).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn prelu(x: __m256, slope: __m256) -> __m256 {
    let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps());
    _mm256_blendv_ps(x, _mm256_mul_ps(x, slope), neg)
}

/// Applies `act` to 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub fn activate(act: Activation, x: __m256) -> __m256 {
    match act {
        Activation::Identity => x,
        Activation::Relu => _mm256_max_ps(x, _mm256_setzero_ps()),
        Activation::Tanh => tanh(x),
        Activation::Sigmoid => sigmoid(x),
        Activation::Prelu(s) => prelu(x, _mm256_set1_ps(s.get())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_activations_match_scalar() {
        if !crate::Isa::Avx2.is_supported() {
            assert!(!std::arch::is_x86_feature_detected!("avx2") || !std::arch::is_x86_feature_detected!("fma"));
            return;
        }
        let xs = crate::vmath::activation_test_inputs(8);
        /// Applies the vector activation to every 8-lane chunk.
        #[target_feature(enable = "avx2,fma")]
        fn activate_slice(act: Activation, xs: &mut [f32]) {
            for c in xs.chunks_exact_mut(8) {
                // SAFETY: `c` has exactly 8 elements; unaligned load/store.
                unsafe { _mm256_storeu_ps(c.as_mut_ptr(), activate(act, _mm256_loadu_ps(c.as_ptr()))) };
            }
        }
        for act in crate::vmath::test_activations() {
            let mut ys = xs.clone();
            // SAFETY: AVX2+FMA support checked above.
            unsafe { activate_slice(act, &mut ys) };
            crate::vmath::check_activation(act, &xs, &ys);
        }
    }

    /// The vector tanh over the shared sweep: f64-accurate to 5e-7, NaN-free, ±1 at ±∞.
    #[test]
    fn tanh_matches_f64_everywhere() {
        if !crate::Isa::Avx2.is_supported() {
            return;
        }
        #[target_feature(enable = "avx2,fma")]
        fn tanh_slice(xs: &[f32], ys: &mut [f32]) {
            for (x, y) in xs.chunks_exact(8).zip(ys.chunks_exact_mut(8)) {
                // SAFETY: both chunks have exactly 8 elements; unaligned load/store.
                unsafe { _mm256_storeu_ps(y.as_mut_ptr(), tanh(_mm256_loadu_ps(x.as_ptr()))) };
            }
        }
        let xs = crate::vmath::tanh_test_inputs();
        let mut ys = vec![0.0; xs.len()];
        // SAFETY: the tier's features were checked above.
        unsafe { tanh_slice(&xs, &mut ys) };
        crate::vmath::check_tanh("avx2", &xs, &ys);
    }
}
