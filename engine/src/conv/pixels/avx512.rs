//! AVX-512 pixels-in-lanes kernel: 16 pixels per zmm. With `shift` it loads the R+1 aligned
//! blocks of an (input row, ci) once and forms every kw-shifted window with `valignd` across a
//! block pair (one op, immediate shift; the prototype measured it 1.2–1.9× faster on load-bound
//! layers, specs/engine.md §3.5). Without it, and for dilated or unusual widths, each window is
//! an unaligned load; with this kernel's blockings the loads measured slightly faster here, so
//! plans use them (see `PixelsPacked::select`).

use super::avx2::{stage_pixels8, store_pixels8, transpose4x8, transpose8};
use super::store::{full_block, store_tile, stream_target};
use super::{MAX_TILE, RowJob, StoreMode};
use crate::activation::Activation;
use crate::vmath::avx512::{prelu, sigmoid, tanh};
use std::arch::x86_64::*;

const L: usize = 16;

/// Runs one output row on the AVX-512 tier.
/// `stage` is the staging run of a streaming plan (empty otherwise).
pub(super) fn run_row(j: &RowJob, stage: &mut [f32]) {
    // SAFETY: plans pick the AVX-512 tier only after `Isa::require` confirmed its features.
    unsafe { run_row_tf(j, stage) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn run_row_tf(j: &RowJob, stage: &mut [f32]) {
    macro_rules! go {
        ($(($c:literal, $r:literal)),*) => {
            match (j.p.c, j.p.r) {
                $( ($c, $r) => match (j.p.fixed_k, j.p.shift) {
                    (1, _) => row::<$c, $r, 1, false>(j, stage),
                    (3, true) => row::<$c, $r, 3, true>(j, stage),
                    (5, true) => row::<$c, $r, 5, true>(j, stage),
                    (3, false) => row::<$c, $r, 3, false>(j, stage),
                    (5, false) => row::<$c, $r, 5, false>(j, stage),
                    _ => row::<$c, $r, 0, false>(j, stage),
                }, )*
                _ => super::scalar::run_row(j),
            }
        };
    }
    go!((1, 12), (2, 8), (3, 6), (4, 4), (5, 4), (6, 3), (8, 2), (9, 2), (12, 2), (16, 1));
}

/// `lo` shifted down by `s` lanes with `hi` filling the top: lanes `lo[s..], hi[..s]`.
/// `s` is a constant once the kw loop is unrolled, so this is one `valignd`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn shift(lo: __m512, hi: __m512, s: usize) -> __m512 {
    let (a, b) = (_mm512_castps_si512(hi), _mm512_castps_si512(lo));
    macro_rules! align {
        ($($n:literal)*) => {
            match s {
                0 => return lo,
                $( $n => _mm512_alignr_epi32::<$n>(a, b), )*
                _ => return hi,
            }
        };
    }
    _mm512_castsi512_ps(align!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15))
}

/// All blocks of one row with `C` channels × `R` vectors, filter width `KW` (0 = runtime
/// width/dilation), windows by register shifts (`SHIFT`) or unaligned loads.
#[allow(clippy::needless_range_loop)] // acc[c][r] pairs two indices; iterators would obscure the blocking
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn row<const C: usize, const R: usize, const KW: usize, const SHIFT: bool>(j: &RowJob, stage: &mut [f32]) {
    let p = j.p;
    let (k, dw) = if KW > 0 { (KW, 1) } else { (p.k, p.dw) };
    let reach = R * L + (k - 1) * dw + L;
    for pb in 0..p.pxblocks {
        let x0 = pb * R * L;
        let stream = p.stream && x0 + R * L <= p.ow;
        for cb in 0..p.cblocks {
            let w = &p.w[cb * p.wblock..][..p.wblock];
            let mut acc = [[_mm512_setzero_ps(); R]; C];
            for (c, a) in acc.iter_mut().enumerate() {
                *a = [_mm512_set1_ps(j.bias_of(cb, c)); R];
            }
            for &(row_off, tap) in j.taps {
                for ci in 0..p.cin {
                    let src = &j.buf[row_off + ci * p.rowlen + x0..][..reach];
                    let wt = &w[(tap * p.cin + ci) * k * C..][..k * C];
                    if SHIFT {
                        // Blocks 0..R and 1..=R of the window; every shift reads a pair.
                        // SAFETY: b·L + L ≤ (R + 1)·L ≤ reach = src.len().
                        let lo: [_; R] = std::array::from_fn(|b| unsafe { _mm512_loadu_ps(src.as_ptr().add(b * L)) });
                        let hi: [_; R] = std::array::from_fn(|b| {
                            // SAFETY: as above.
                            if b + 1 < R { lo[b + 1] } else { unsafe { _mm512_loadu_ps(src.as_ptr().add(R * L)) } }
                        });
                        for kw in 0..KW {
                            for r in 0..R {
                                // KW ≤ L + 1 for the fixed widths, so kw = L is exactly the next block.
                                let v = if kw == L { hi[r] } else { shift(lo[r], hi[r], kw) };
                                for c in 0..C {
                                    acc[c][r] = _mm512_fmadd_ps(_mm512_set1_ps(w_at(wt, kw * C + c)), v, acc[c][r]);
                                }
                            }
                        }
                    } else {
                        for kw in 0..k {
                            for r in 0..R {
                                // SAFETY: r·L + kw·dw + L ≤ reach = src.len().
                                let v = unsafe { _mm512_loadu_ps(src.as_ptr().add(r * L + kw * dw)) };
                                for c in 0..C {
                                    acc[c][r] = _mm512_fmadd_ps(_mm512_set1_ps(w_at(wt, kw * C + c)), v, acc[c][r]);
                                }
                            }
                        }
                    }
                }
            }
            // A separate array keeps `acc` from escaping, so it stays in registers in the loop above.
            let mut fin = [[_mm512_setzero_ps(); R]; C];
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
                        for h in 0..2 {
                            let rows: [__m256; 8] = std::array::from_fn(|i| half(fin[g * 8 + i][r], h));
                            stage_pixels8(stage, r * L + h * 8, cb * C + g * 8, p.cout, &transpose8(rows));
                        }
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

/// Low (`h` = 0) or high 8 lanes of `v`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn half(v: __m512, h: usize) -> __m256 {
    if h == 0 { _mm512_castps512_ps256(v) } else { _mm512_extractf32x8_ps::<1>(v) }
}

/// Writes a staged run of `npx` whole pixels at `x0` with non-temporal stores, one per 64-byte
/// line (the ragged ends as plain stores).
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn stream_out(j: &RowJob, x0: usize, npx: usize, stage: &[f32]) {
    let (dst, head, body) = stream_target(j, x0, npx);
    let src = &stage[..dst.len()];
    dst[..head].copy_from_slice(&src[..head]);
    for i in (head..body).step_by(L) {
        // SAFETY: i + 16 ≤ body ≤ n = src.len() = dst.len(); dst + head is 64-byte aligned and
        // i − head a multiple of 16, so each store is 64-byte aligned as `vmovntps` requires.
        unsafe { _mm512_stream_ps(dst.as_mut_ptr().add(i), _mm512_loadu_ps(src.as_ptr().add(i))) };
    }
    dst[body..].copy_from_slice(&src[body..]);
}

/// `vpermt2ps` index tables for the pixel-shuffle interleave, `[r=2: out k][r=3: out k, step]`.
/// Output float `n` of the interleaved run takes lane `n/r` of source `n%r`.
const fn shuffle_idx(r: usize, k: usize, step: usize) -> [i32; 16] {
    let mut idx = [0i32; 16];
    let mut m = 0;
    while m < 16 {
        let n = 16 * k + m;
        let (src, lane) = ((n % r) as i32, (n / r) as i32);
        idx[m] = if r == 2 {
            lane | (src << 4)
        } else if step == 0 {
            // sources 0 and 1; lanes meant for source 2 are filled in step 1
            match src {
                0 => lane,
                1 => lane | 16,
                _ => 0,
            }
        } else if src == 2 {
            lane | 16
        } else {
            m as i32
        };
        m += 1;
    }
    idx
}

static IDX2: [[i32; 16]; 2] = [shuffle_idx(2, 0, 0), shuffle_idx(2, 1, 0)];
static IDX3: [[[i32; 16]; 2]; 3] = [
    [shuffle_idx(3, 0, 0), shuffle_idx(3, 0, 1)],
    [shuffle_idx(3, 1, 0), shuffle_idx(3, 1, 1)],
    [shuffle_idx(3, 2, 0), shuffle_idx(3, 2, 1)],
];

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn idx(t: &[i32; 16]) -> __m512i {
    // SAFETY: reads exactly the 16 i32 of `t`.
    unsafe { _mm512_loadu_epi32(t.as_ptr()) }
}

/// Applies `act` to a block, one branch per block rather than per vector.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn activate_all(act: Activation, v: &mut [__m512]) {
    match act {
        Activation::Identity => {}
        Activation::Relu => v.iter_mut().for_each(|x| *x = _mm512_max_ps(*x, _mm512_setzero_ps())),
        Activation::Tanh => v.iter_mut().for_each(|x| *x = tanh(*x)),
        Activation::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
        Activation::Prelu(s) => {
            let s = _mm512_set1_ps(s.get());
            v.iter_mut().for_each(|x| *x = prelu(*x, s));
        }
    }
}

/// Writes one finished block: transposes (channels-last) or interleaves (pixel shuffle) for
/// full blocks, element stores otherwise.
#[allow(clippy::needless_range_loop)] // acc[c][r] pairs two indices; iterators would obscure the blocking
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn store_block<const C: usize, const R: usize>(j: &RowJob, cb: usize, x0: usize, acc: &[[__m512; R]; C]) {
    let p = j.p;
    let full = full_block(j, cb, x0);
    match p.store {
        StoreMode::Contiguous if full && C.is_multiple_of(8) => {
            for g in 0..C / 8 {
                for r in 0..R {
                    for h in 0..2 {
                        let rows: [__m256; 8] = std::array::from_fn(|i| half(acc[g * 8 + i][r], h));
                        store_pixels8(j, x0 + r * L + h * 8, cb * C + g * 8, &transpose8(rows));
                    }
                }
            }
        }
        StoreMode::Contiguous if full && C.is_multiple_of(4) => {
            for g in 0..C / 4 {
                for r in 0..R {
                    for h in 0..2 {
                        let t = transpose4x8(std::array::from_fn(|i| half(acc[g * 4 + i][r], h)));
                        for (px, v) in t.iter().enumerate() {
                            let o = j.map.pixel(j.od, j.oh, x0 + r * L + h * 8 + px) + cb * C + g * 4;
                            // SAFETY: full block: these 4 channels of this pixel are in bounds and ours.
                            unsafe { _mm_storeu_ps(j.out.at(o), *v) };
                        }
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
                    // SAFETY: full block: the f·L outputs of this sub-row for these pixels are in bounds and ours.
                    let dst = unsafe { j.out.at(o) };
                    if f == 2 {
                        let (a, b) = (acc[g * 2][r], acc[g * 2 + 1][r]);
                        for (kk, t) in IDX2.iter().enumerate() {
                            // SAFETY: as above, dst[..32].
                            unsafe { _mm512_storeu_ps(dst.add(kk * L), _mm512_permutex2var_ps(a, idx(t), b)) };
                        }
                    } else {
                        let (a, b, c) = (acc[g * 3][r], acc[g * 3 + 1][r], acc[g * 3 + 2][r]);
                        for (kk, t) in IDX3.iter().enumerate() {
                            let ab = _mm512_permutex2var_ps(a, idx(&t[0]), b);
                            let v = _mm512_permutex2var_ps(ab, idx(&t[1]), c);
                            // SAFETY: as above, dst[..48].
                            unsafe { _mm512_storeu_ps(dst.add(kk * L), v) };
                        }
                    }
                }
            }
        }
        _ => {
            let mut tile = [0.0f32; MAX_TILE];
            for (c, a) in acc.iter().enumerate() {
                for (r, v) in a.iter().enumerate() {
                    // SAFETY: (c·R + r)·L + L ≤ C·R·L ≤ MAX_TILE.
                    unsafe { _mm512_storeu_ps(tile.as_mut_ptr().add((c * R + r) * L), *v) };
                }
            }
            store_tile(j, cb, x0, &tile, R * L);
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
