//! AVX-512 tier: 16 lanes, 32 registers (tiles up to 6 rows × 4 vectors), masked tails.

use super::pack::Packed;
use super::simd::{self, Vector};
use crate::activation::Activation;
use crate::vmath::avx512 as vm;
use std::arch::x86_64::*;

/// Marker for the AVX-512 register type.
pub(crate) struct Avx512;

fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

// SAFETY: every method is only called from `#[target_feature(enable = FEATURES)]` entry points of
// plans built after `Isa::Avx512.require()`.
unsafe impl Vector for Avx512 {
    const LANES: usize = 16;
    const GEMM_V: usize = 4;
    const GEMV_ACC: usize = 12;
    type V = __m512;

    #[inline(always)]
    unsafe fn zero() -> __m512 {
        // SAFETY: AVX-512F present (trait contract).
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        // SAFETY: AVX-512F present.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the caller guarantees 16 readable floats at `p`.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: the caller guarantees 16 writable floats at `p`.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> __m512 {
        // SAFETY: masked load touches only the first `n` floats, which the caller guarantees.
        unsafe { _mm512_maskz_loadu_ps(mask(n), p) }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m512, n: usize) {
        // SAFETY: masked store touches only the first `n` floats, which the caller guarantees.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), v) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: AVX-512F present.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F present.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F present.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: AVX-512F present.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sigmoid(v: __m512) -> __m512 {
        // SAFETY: AVX-512 features present.
        unsafe { vm::sigmoid(v) }
    }
    #[inline(always)]
    unsafe fn tanh(v: __m512) -> __m512 {
        // SAFETY: AVX-512 features present.
        unsafe { vm::tanh(v) }
    }
    #[inline(always)]
    unsafe fn activate(act: Activation, v: __m512) -> __m512 {
        // SAFETY: AVX-512 features present.
        unsafe { vm::activate(act, v) }
    }
}

/// Runs a packed linear/grouped linear on `m` rows (see [`simd::run`]).
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub(crate) fn run(p: &Packed, act: Activation, x: &[f32], y: &mut [f32], m: usize) {
    // SAFETY: this function's features are the ISA's; the plan checked lengths and lanes.
    unsafe { simd::run::<Avx512>(p, act, x, y, m) }
}
