//! AVX2+FMA pixels-in-lanes kernel: 8 pixels per ymm. The kw-shifted windows are unaligned
//! loads at offset kw·dw (a cross-lane shift costs 2–3 ops on AVX2, a load is cheaper).
//! Also the 8×8 transposes shared with the AVX-512 tier (line-buffer fill, channels-last stores).

use super::store::{full_block, store_tile, stream_target};
use super::{MAX_TILE, RowJob, StoreMode};
use crate::activation::Activation;
use crate::vmath::avx2::{prelu, sigmoid, tanh};
use std::arch::x86_64::*;

const L: usize = 8;

/// Runs one output row on the AVX2 tier.
/// `stage` is the staging run of a streaming plan (empty otherwise).
pub(super) fn run_row(j: &RowJob, stage: &mut [f32]) {
    // SAFETY: plans pick the AVX2 tier only after `Isa::require` confirmed avx2+fma.
    unsafe { run_row_tf(j, stage) }
}

#[target_feature(enable = "avx2,fma")]
fn run_row_tf(j: &RowJob, stage: &mut [f32]) {
    macro_rules! go {
        ($(($c:literal, $r:literal)),*) => {
            match (j.p.c, j.p.r) {
                $( ($c, $r) => match j.p.fixed_k {
                    1 => row::<$c, $r, 1>(j, stage),
                    3 => row::<$c, $r, 3>(j, stage),
                    5 => row::<$c, $r, 5>(j, stage),
                    _ => row::<$c, $r, 0>(j, stage),
                }, )*
                _ => super::scalar::run_row(j),
            }
        };
    }
    go!((1, 8), (2, 6), (3, 4), (4, 3), (5, 2), (6, 2), (8, 1), (9, 1), (12, 1));
}

/// All blocks of one row with `C` channels × `R` vectors, filter width `KW` (0 = runtime width/dilation).
#[allow(clippy::needless_range_loop)] // acc[c][r] pairs two indices; iterators would obscure the blocking
#[target_feature(enable = "avx2,fma")]
fn row<const C: usize, const R: usize, const KW: usize>(j: &RowJob, stage: &mut [f32]) {
    let p = j.p;
    let (k, dw) = if KW > 0 { (KW, 1) } else { (p.k, p.dw) };
    let reach = R * L + (k - 1) * dw;
    for pb in 0..p.pxblocks {
        let x0 = pb * R * L;
        let stream = p.stream && x0 + R * L <= p.ow;
        for cb in 0..p.cblocks {
            let w = &p.w[cb * p.wblock..][..p.wblock];
            let mut acc = [[_mm256_setzero_ps(); R]; C];
            for (c, a) in acc.iter_mut().enumerate() {
                *a = [_mm256_set1_ps(j.bias_of(cb, c)); R];
            }
            for &(row_off, tap) in j.taps {
                for ci in 0..p.cin {
                    let src = &j.buf[row_off + ci * p.rowlen + x0..][..reach];
                    let wt = &w[(tap * p.cin + ci) * k * C..][..k * C];
                    for kw in 0..k {
                        for r in 0..R {
                            // SAFETY: r·L + kw·dw + L ≤ reach = src.len().
                            let v = unsafe { _mm256_loadu_ps(src.as_ptr().add(r * L + kw * dw)) };
                            for c in 0..C {
                                acc[c][r] = _mm256_fmadd_ps(_mm256_set1_ps(w_at(wt, kw * C + c)), v, acc[c][r]);
                            }
                        }
                    }
                }
            }
            // A separate array keeps `acc` from escaping, so it stays in registers in the loop above.
            let mut fin = [[_mm256_setzero_ps(); R]; C];
            for c in 0..C {
                for r in 0..R {
                    fin[c][r] = acc[c][r];
                }
            }
            // `activate` may stay out of line and take its vector by address: only `fin` may escape.
            activate_all(j.act, fin.as_flattened_mut());
            if stream {
                for g in 0..C / 8 {
                    for r in 0..R {
                        let rows: [__m256; 8] = std::array::from_fn(|i| fin[g * 8 + i][r]);
                        stage_pixels8(stage, r * L, cb * C + g * 8, p.cout, &transpose8(rows));
                    }
                }
            } else {
                store_block::<C, R>(j, cb, x0, &fin);
            }
        }
        if stream {
            stream_out(j, x0, R * L, stage);
        }
    }
    if p.stream {
        // Order the non-temporal stores before the band reports done.
        _mm_sfence();
    }
}

/// Writes a staged run of `npx` whole pixels at `x0` with non-temporal stores (whole lines; the
/// ragged ends as plain stores).
#[target_feature(enable = "avx2,fma")]
fn stream_out(j: &RowJob, x0: usize, npx: usize, stage: &[f32]) {
    let (dst, head, body) = stream_target(j, x0, npx);
    let src = &stage[..dst.len()];
    dst[..head].copy_from_slice(&src[..head]);
    for i in (head..body).step_by(8) {
        // SAFETY: i + 8 ≤ body ≤ n = src.len() = dst.len(); dst + head is 64-byte aligned and i − head
        // a multiple of 8, so each store is 32-byte aligned as `vmovntps` requires.
        unsafe { _mm256_stream_ps(dst.as_mut_ptr().add(i), _mm256_loadu_ps(src.as_ptr().add(i))) };
    }
    dst[body..].copy_from_slice(&src[body..]);
}

/// Puts 8 pixel vectors (8 channels each) into the staging run at pixels `px0..px0+8`, channel
/// `ch`, `cout` floats per pixel.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn stage_pixels8(stage: &mut [f32], px0: usize, ch: usize, cout: usize, t: &[__m256; 8]) {
    let s = &mut stage[px0 * cout + ch..][..7 * cout + 8];
    for (px, v) in t.iter().enumerate() {
        // SAFETY: px·cout + 8 ≤ 7·cout + 8 = s.len().
        unsafe { _mm256_storeu_ps(s.as_mut_ptr().add(px * cout), *v) };
    }
}

/// Applies `act` to a block, one branch per block rather than per vector.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn activate_all(act: Activation, v: &mut [__m256]) {
    match act {
        Activation::Identity => {}
        Activation::Relu => v.iter_mut().for_each(|x| *x = _mm256_max_ps(*x, _mm256_setzero_ps())),
        Activation::Tanh => v.iter_mut().for_each(|x| *x = tanh(*x)),
        Activation::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
        Activation::Prelu(s) => {
            let s = _mm256_set1_ps(s.get());
            v.iter_mut().for_each(|x| *x = prelu(*x, s));
        }
    }
}

/// Writes one finished block: vector transposes / interleaves for full blocks, element stores otherwise.
#[allow(clippy::needless_range_loop)] // acc[c][r] pairs two indices; iterators would obscure the blocking
#[target_feature(enable = "avx2,fma")]
fn store_block<const C: usize, const R: usize>(j: &RowJob, cb: usize, x0: usize, acc: &[[__m256; R]; C]) {
    let p = j.p;
    let full = full_block(j, cb, x0);
    match p.store {
        StoreMode::Contiguous if full && C.is_multiple_of(8) => {
            for g in 0..C / 8 {
                for r in 0..R {
                    let rows: [__m256; 8] = std::array::from_fn(|i| acc[g * 8 + i][r]);
                    store_pixels8(j, x0 + r * L, cb * C + g * 8, &transpose8(rows));
                }
            }
        }
        StoreMode::Contiguous if full && C.is_multiple_of(4) => {
            for g in 0..C / 4 {
                for r in 0..R {
                    let ch = cb * C + g * 4;
                    let t = transpose4x8([acc[g * 4][r], acc[g * 4 + 1][r], acc[g * 4 + 2][r], acc[g * 4 + 3][r]]);
                    for (px, v) in t.iter().enumerate() {
                        let o = j.map.pixel(j.od, j.oh, x0 + r * L + px) + ch;
                        // SAFETY: full block: pixel and channels ch..ch+4 are inside this band's output row.
                        unsafe { _mm_storeu_ps(j.out.at(o), *v) };
                    }
                }
            }
        }
        StoreMode::Shuffle(f) if full && C.is_multiple_of(f) => {
            let chan = j.map.chan.as_deref().unwrap_or(&[]);
            for g in 0..C / f {
                let sub = chan[cb * C + g * f];
                for r in 0..R {
                    let o = j.map.pixel(j.od, j.oh, x0 + r * L) + sub;
                    // SAFETY: full block: the f·L outputs of sub-row `sub` for these pixels are in bounds.
                    let dst = unsafe { j.out.at(o) };
                    if f == 2 {
                        interleave2(acc[g * 2][r], acc[g * 2 + 1][r], dst);
                    } else {
                        interleave3(acc[g * 3][r], acc[g * 3 + 1][r], acc[g * 3 + 2][r], dst);
                    }
                }
            }
        }
        _ => {
            let mut tile = [0.0f32; MAX_TILE];
            for (c, a) in acc.iter().enumerate() {
                for (r, v) in a.iter().enumerate() {
                    // SAFETY: (c·R + r)·L + L ≤ C·R·L ≤ MAX_TILE.
                    unsafe { _mm256_storeu_ps(tile.as_mut_ptr().add((c * R + r) * L), *v) };
                }
            }
            store_tile(j, cb, x0, &tile, R * L);
        }
    }
}

/// Stores 8 pixel vectors (8 channels each) at pixels `ow0..ow0+8`, channel `ch`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn store_pixels8(j: &RowJob, ow0: usize, ch: usize, t: &[__m256; 8]) {
    for (px, v) in t.iter().enumerate() {
        let o = j.map.pixel(j.od, j.oh, ow0 + px) + ch;
        // SAFETY: callers pass a full block, so these 8 channels of this pixel are in bounds and ours.
        unsafe { _mm256_storeu_ps(j.out.at(o), *v) };
    }
}

/// Interleaves `a`, `b` into 16 contiguous floats `a0 b0 a1 b1 …` at `dst`.
#[target_feature(enable = "avx2,fma")]
fn interleave2(a: __m256, b: __m256, dst: *mut f32) {
    let lo = _mm256_unpacklo_ps(a, b); // a0 b0 a1 b1 | a4 b4 a5 b5
    let hi = _mm256_unpackhi_ps(a, b); // a2 b2 a3 b3 | a6 b6 a7 b7
    // SAFETY: the caller owns dst[..16].
    unsafe {
        _mm256_storeu_ps(dst, _mm256_permute2f128_ps::<0x20>(lo, hi));
        _mm256_storeu_ps(dst.add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
    }
}

/// Interleaves `a`, `b`, `c` into 24 contiguous floats `a0 b0 c0 a1 …` at `dst`: output `n`
/// takes lane `n/3` of source `n%3`, so one index vector serves all three sources and blends pick.
#[target_feature(enable = "avx2,fma")]
fn interleave3(a: __m256, b: __m256, c: __m256, dst: *mut f32) {
    let idx = [
        _mm256_setr_epi32(0, 0, 0, 1, 1, 1, 2, 2),
        _mm256_setr_epi32(2, 3, 3, 3, 4, 4, 4, 5),
        _mm256_setr_epi32(5, 5, 6, 6, 6, 7, 7, 7),
    ];
    let pick =
        |i: __m256i| (_mm256_permutevar8x32_ps(a, i), _mm256_permutevar8x32_ps(b, i), _mm256_permutevar8x32_ps(c, i));
    let (a0, b0, c0) = pick(idx[0]);
    let o0 = _mm256_blend_ps::<0x24>(_mm256_blend_ps::<0x92>(a0, b0), c0);
    let (a1, b1, c1) = pick(idx[1]);
    let o1 = _mm256_blend_ps::<0x49>(_mm256_blend_ps::<0x24>(a1, b1), c1);
    let (a2, b2, c2) = pick(idx[2]);
    let o2 = _mm256_blend_ps::<0x92>(_mm256_blend_ps::<0x49>(a2, b2), c2);
    // SAFETY: the caller owns dst[..24].
    unsafe {
        _mm256_storeu_ps(dst, o0);
        _mm256_storeu_ps(dst.add(8), o1);
        _mm256_storeu_ps(dst.add(16), o2);
    }
}

/// 8×8 transpose: `r[c]` holds channel c of pixels 0..8; result `[p]` holds pixel p's 8 channels.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    // s0: pixel 0 | pixel 4 (channels 0-3), s1: 1 | 5, s2: 2 | 6, s3: 3 | 7; s4..s7 channels 4-7.
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}

/// 4×8 transpose: `r[c]` holds channel c of pixels 0..8; result `[p]` holds pixel p's 4 channels.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn transpose4x8(r: [__m256; 4]) -> [__m128; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let s = [
        _mm256_shuffle_ps::<0x44>(t0, t2),
        _mm256_shuffle_ps::<0xEE>(t0, t2),
        _mm256_shuffle_ps::<0x44>(t1, t3),
        _mm256_shuffle_ps::<0xEE>(t1, t3),
    ];
    std::array::from_fn(|p| {
        let v = s[p % 4];
        if p < 4 { _mm256_castps256_ps128(v) } else { _mm256_extractf128_ps::<1>(v) }
    })
}

/// Line-buffer fill for `cin % 8 == 0`: 8×8 transposes turn 8 pixels × 8 channels into 8
/// planar channel runs; the few remaining pixels go element by element.
#[target_feature(enable = "avx2,fma")]
pub(super) fn fill_row_planar8(src: &[f32], dst: &mut [f32], cin: usize, rowlen: usize, pl: usize, iw: usize) {
    assert!(src.len() >= iw * cin && dst.len() >= cin * rowlen && pl + iw <= rowlen);
    for ci in 0..cin {
        let d = &mut dst[ci * rowlen..][..rowlen];
        d[..pl].fill(0.0);
        d[pl + iw..].fill(0.0);
    }
    let body = iw / 8 * 8;
    // Pixels outer, channel groups inner: the source row is read front to back.
    for x in (0..body).step_by(8) {
        for g in (0..cin).step_by(8) {
            // SAFETY: (x + i)·cin + g + 8 ≤ iw·cin ≤ src.len() (asserted above).
            let rows: [__m256; 8] =
                std::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.as_ptr().add((x + i) * cin + g)) });
            for (c, v) in transpose8(rows).iter().enumerate() {
                // SAFETY: (g + c)·rowlen + pl + x + 8 ≤ cin·rowlen since pl + iw ≤ rowlen.
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add((g + c) * rowlen + pl + x), *v) };
            }
        }
    }
    for ci in 0..cin {
        for x in body..iw {
            dst[ci * rowlen + pl + x] = src[x * cin + ci];
        }
    }
}

/// Weight `i` of a tap slice. Unchecked so the unroller sees a lean body and fully unrolls the
/// C·R·KW loop nest, which keeps the accumulators in registers.
#[inline(always)]
fn w_at(wt: &[f32], i: usize) -> f32 {
    debug_assert!(i < wt.len());
    // SAFETY: callers index kw·C + c with kw < k and c < C, and `wt` holds k·C weights.
    unsafe { *wt.get_unchecked(i) }
}
