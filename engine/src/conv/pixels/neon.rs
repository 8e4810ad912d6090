//! NEON pixels-in-lanes kernel: 4 pixels per q register; the kw-shifted windows come from
//! `ext` across a block pair (the native one-op sliding shift). Stores go element-wise
//! through the output map.

use super::store::store_tile;
use super::{MAX_TILE, RowJob};
use crate::vmath::neon::activate;
use std::arch::aarch64::*;

const L: usize = 4;
/// Most input blocks a shift window needs: R + 1 + (KW − 1)/L ≤ 12 + 2.
const MAX_BLOCKS: usize = 16;

/// Runs one output row on the NEON tier.
pub(super) fn run_row(j: &RowJob) {
    // SAFETY: plans pick the NEON tier only after `Isa::require` confirmed it.
    unsafe { run_row_tf(j) }
}

#[target_feature(enable = "neon")]
fn run_row_tf(j: &RowJob) {
    macro_rules! go {
        ($(($c:literal, $r:literal)),*) => {
            match (j.p.c, j.p.r) {
                $( ($c, $r) => match (j.p.fixed_k, j.p.shift) {
                    (1, _) => row::<$c, $r, 1, false>(j),
                    (3, true) => row::<$c, $r, 3, true>(j),
                    (5, true) => row::<$c, $r, 5, true>(j),
                    _ => row::<$c, $r, 0, false>(j),
                }, )*
                _ => super::scalar::run_row(j),
            }
        };
    }
    go!((1, 12), (2, 8), (3, 6), (4, 4), (5, 4), (6, 3), (8, 2), (9, 2), (12, 2));
}

/// Lanes `lo[s..], hi[..s]` (one `ext` once `s` is a constant).
#[inline]
#[target_feature(enable = "neon")]
fn shift(lo: float32x4_t, hi: float32x4_t, s: usize) -> float32x4_t {
    match s {
        0 => lo,
        1 => vextq_f32::<1>(lo, hi),
        2 => vextq_f32::<2>(lo, hi),
        3 => vextq_f32::<3>(lo, hi),
        _ => hi,
    }
}

/// All blocks of one row with `C` channels × `R` vectors, filter width `KW` (0 = runtime
/// width/dilation), windows by `ext` shifts (`SHIFT`) or unaligned loads.
#[allow(clippy::needless_range_loop)] // acc[c][r] pairs two indices; iterators would obscure the blocking
#[target_feature(enable = "neon")]
fn row<const C: usize, const R: usize, const KW: usize, const SHIFT: bool>(j: &RowJob) {
    let p = j.p;
    let (k, dw) = if KW > 0 { (KW, 1) } else { (p.k, p.dw) };
    let reach = R * L + (k - 1) * dw + L;
    let rl = R * L;
    for pb in 0..p.pxblocks {
        let x0 = pb * rl;
        for cb in 0..p.cblocks {
            let w = &p.w[cb * p.wblock..][..p.wblock];
            let mut acc = [[vdupq_n_f32(0.0); R]; C];
            for (c, a) in acc.iter_mut().enumerate() {
                *a = [vdupq_n_f32(j.bias_of(cb, c)); R];
            }
            for &(row_off, tap) in j.taps {
                for ci in 0..p.cin {
                    let src = &j.buf[row_off + ci * p.rowlen + x0..][..reach];
                    let wt = &w[(tap * p.cin + ci) * k * C..][..k * C];
                    if SHIFT {
                        let mut blk = [vdupq_n_f32(0.0); MAX_BLOCKS];
                        for (b, v) in blk.iter_mut().enumerate().take(R + 1 + KW.saturating_sub(1) / L) {
                            // SAFETY: b·L + L ≤ (R + 1 + (KW−1)/L)·L ≤ reach = src.len().
                            *v = unsafe { vld1q_f32(src.as_ptr().add(b * L)) };
                        }
                        for kw in 0..KW {
                            let (q, s) = (kw / L, kw % L);
                            for r in 0..R {
                                let v = shift(blk[r + q], blk[r + q + 1], s);
                                for c in 0..C {
                                    acc[c][r] = vfmaq_n_f32(acc[c][r], v, wt[kw * C + c]);
                                }
                            }
                        }
                    } else {
                        for kw in 0..k {
                            for r in 0..R {
                                // SAFETY: r·L + kw·dw + L ≤ reach = src.len().
                                let v = unsafe { vld1q_f32(src.as_ptr().add(r * L + kw * dw)) };
                                for c in 0..C {
                                    acc[c][r] = vfmaq_n_f32(acc[c][r], v, wt[kw * C + c]);
                                }
                            }
                        }
                    }
                }
            }
            let mut tile = [0.0f32; MAX_TILE];
            for (c, a) in acc.iter().enumerate() {
                for (r, v) in a.iter().enumerate() {
                    // SAFETY: (c·R + r)·L + L ≤ C·R·L ≤ MAX_TILE.
                    unsafe { vst1q_f32(tile.as_mut_ptr().add((c * R + r) * L), activate(j.act, *v)) };
                }
            }
            store_tile(j, cb, x0, &tile, rl);
        }
    }
}
