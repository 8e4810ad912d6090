//! AVX2+FMA tier: 8 lanes, 16 registers (tiles up to 6 rows × 2 vectors), masked tails.

use super::pack::Packed;
use super::simd::{self, Vector};
use crate::activation::Activation;
use crate::vmath::avx2 as vm;
use std::arch::x86_64::*;

/// Marker for the AVX2 register type.
pub(crate) struct Avx2;

#[inline(always)]
unsafe fn mask(n: usize) -> __m256i {
    // SAFETY: AVX2 present (caller's contract); lane i is all-ones when i < n.
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

// SAFETY: every method is only called from `#[target_feature(enable = "avx2,fma")]` entry points
// of plans built after `Isa::Avx2.require()` (or Avx512, a superset).
unsafe impl Vector for Avx2 {
    const LANES: usize = 8;
    const GEMM_V: usize = 2;
    const GEMV_ACC: usize = 12;
    type V = __m256;

    #[inline(always)]
    unsafe fn zero() -> __m256 {
        // SAFETY: AVX present (trait contract).
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        // SAFETY: AVX present.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 8 readable floats at `p`.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: the caller guarantees 8 writable floats at `p`.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m256 {
        // SAFETY: masked load touches only the first `n` floats, which the caller guarantees.
        unsafe { _mm256_maskload_ps(p, mask(n)) }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m256, n: usize) {
        // SAFETY: masked store touches only the first `n` floats, which the caller guarantees.
        unsafe { _mm256_maskstore_ps(p, mask(n), v) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: FMA present.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX present.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX present.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX present.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sigmoid(v: __m256) -> __m256 {
        // SAFETY: AVX2+FMA present.
        unsafe { vm::sigmoid(v) }
    }
    #[inline(always)]
    unsafe fn tanh(v: __m256) -> __m256 {
        // SAFETY: AVX2+FMA present.
        unsafe { vm::tanh(v) }
    }
    #[inline(always)]
    unsafe fn activate(act: Activation, v: __m256) -> __m256 {
        // SAFETY: AVX2+FMA present.
        unsafe { vm::activate(act, v) }
    }
}

/// Runs a packed linear/grouped linear on `m` rows (see [`simd::run`]).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn run(p: &Packed, act: Activation, x: &[f32], y: &mut [f32], m: usize) {
    // SAFETY: this function's features are the ISA's; the plan checked lengths and lanes.
    unsafe { simd::run::<Avx2>(p, act, x, y, m) }
}
