//! NEON tier (aarch64): 4 lanes, 32 registers (tiles up to 6 rows × 4 vectors); tails go
//! through a small stack buffer.

use super::pack::Packed;
use super::simd::{self, Vector};
use crate::activation::Activation;
use crate::vmath::neon as vm;
use std::arch::aarch64::*;

/// Marker for the NEON register type.
pub(crate) struct Neon;

// SAFETY: NEON is architecturally present on aarch64; methods are called from `neon` entry points.
unsafe impl Vector for Neon {
    const LANES: usize = 4;
    const GEMM_V: usize = 4;
    const GEMV_ACC: usize = 8;
    type V = float32x4_t;

    #[inline(always)]
    unsafe fn zero() -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        // SAFETY: the caller guarantees 4 readable floats at `p`.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: float32x4_t) {
        // SAFETY: the caller guarantees 4 writable floats at `p`.
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, n: usize) -> float32x4_t {
        let mut buf = [0.0f32; 4];
        // SAFETY: the caller guarantees `n < 4` readable floats at `p`; `buf` holds 4.
        unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            vld1q_f32(buf.as_ptr())
        }
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: float32x4_t, n: usize) {
        let mut buf = [0.0f32; 4];
        // SAFETY: `buf` holds 4 floats; the caller guarantees `n < 4` writable floats at `p`.
        unsafe {
            vst1q_f32(buf.as_mut_ptr(), v);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
    #[inline(always)]
    unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    unsafe fn sigmoid(v: float32x4_t) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vm::sigmoid(v) }
    }
    #[inline(always)]
    unsafe fn tanh(v: float32x4_t) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vm::tanh(v) }
    }
    #[inline(always)]
    unsafe fn activate(act: Activation, v: float32x4_t) -> float32x4_t {
        // SAFETY: NEON present.
        unsafe { vm::activate(act, v) }
    }
}

/// Runs a packed linear/grouped linear on `m` rows (see [`simd::run`]).
#[target_feature(enable = "neon")]
pub(crate) fn run(p: &Packed, act: Activation, x: &[f32], y: &mut [f32], m: usize) {
    // SAFETY: NEON is enabled here; the plan checked lengths and lanes.
    unsafe { simd::run::<Neon>(p, act, x, y, m) }
}
