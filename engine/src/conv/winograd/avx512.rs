//! AVX-512 Winograd stages: 16 channels per zmm, a 12-tile × 32-channel GEMM block (24
//! accumulators of the 32 registers).

use super::tier::winograd_tier;
use super::{Job, WinoPacked, plane};
use crate::activation::Activation;
use std::arch::x86_64::*;
use std::ops::Range;

type V = __m512;
const L: usize = 16;
/// Tiles per GEMM register block.
const MR: usize = 12;

winograd_tier!("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma");

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn add(a: V, b: V) -> V {
    _mm512_add_ps(a, b)
}
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn sub(a: V, b: V) -> V {
    _mm512_sub_ps(a, b)
}
/// a·b + c
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn fmadd(a: V, b: V, c: V) -> V {
    _mm512_fmadd_ps(a, b, c)
}
/// c − a·b
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn fnmadd(a: V, b: V, c: V) -> V {
    _mm512_fnmadd_ps(a, b, c)
}
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn set1(x: f32) -> V {
    _mm512_set1_ps(x)
}
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn zero() -> V {
    _mm512_setzero_ps()
}
/// # Safety
/// `p..p + L` is readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn load(p: *const f32) -> V {
    // SAFETY: guaranteed by the caller.
    unsafe { _mm512_loadu_ps(p) }
}
/// # Safety
/// `p..p + L` is writable and the caller's.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn store(p: *mut f32, v: V) {
    // SAFETY: guaranteed by the caller.
    unsafe { _mm512_storeu_ps(p, v) }
}
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn act(a: Activation, v: V) -> V {
    crate::vmath::avx512::activate(a, v)
}
