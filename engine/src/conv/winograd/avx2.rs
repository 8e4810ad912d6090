//! AVX2 Winograd stages: 8 channels per ymm, a 6-tile × 16-channel GEMM block (12 accumulators
//! of the 16 registers).

use super::tier::winograd_tier;
use super::{Job, WinoPacked, plane};
use crate::activation::Activation;
use std::arch::x86_64::*;
use std::ops::Range;

type V = __m256;
const L: usize = 8;
/// Tiles per GEMM register block.
const MR: usize = 6;

winograd_tier!("avx2,fma");

#[inline]
#[target_feature(enable = "avx2,fma")]
fn add(a: V, b: V) -> V {
    _mm256_add_ps(a, b)
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn sub(a: V, b: V) -> V {
    _mm256_sub_ps(a, b)
}
/// a·b + c
#[inline]
#[target_feature(enable = "avx2,fma")]
fn fmadd(a: V, b: V, c: V) -> V {
    _mm256_fmadd_ps(a, b, c)
}
/// c − a·b
#[inline]
#[target_feature(enable = "avx2,fma")]
fn fnmadd(a: V, b: V, c: V) -> V {
    _mm256_fnmadd_ps(a, b, c)
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn set1(x: f32) -> V {
    _mm256_set1_ps(x)
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn zero() -> V {
    _mm256_setzero_ps()
}
/// # Safety
/// `p..p + L` is readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load(p: *const f32) -> V {
    // SAFETY: guaranteed by the caller.
    unsafe { _mm256_loadu_ps(p) }
}
/// # Safety
/// `p..p + L` is writable and the caller's.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store(p: *mut f32, v: V) {
    // SAFETY: guaranteed by the caller.
    unsafe { _mm256_storeu_ps(p, v) }
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn act(a: Activation, v: V) -> V {
    crate::vmath::avx2::activate(a, v)
}
