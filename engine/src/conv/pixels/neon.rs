//! NEON pixels-in-lanes kernel: 4 pixels per q register; the kw-shifted windows come from
//! `ext` across a block pair (the native one-op sliding shift). Stores go element-wise
//! through the output map.

use super::store::store_tile;
use super::{MAX_TILE, RowJob};
use crate::vmath::neon::activate;
use std::arch::aarch64::*;

const L: usize = 4;

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
    go!((1, 12), (2, 8), (3, 6), (4, 4), (5, 4), (6, 3), (8, 2), (9, 2), (12, 2), (16, 1));
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
                        // Blocks 0..R and 1..=R of the window; every shift reads a pair.
                        // SAFETY: b·L + L ≤ (R + 1)·L ≤ reach = src.len().
                        let lo: [_; R] = std::array::from_fn(|b| unsafe { vld1q_f32(src.as_ptr().add(b * L)) });
                        let hi: [_; R] = std::array::from_fn(|b| {
                            // SAFETY: as above.
                            if b + 1 < R { lo[b + 1] } else { unsafe { vld1q_f32(src.as_ptr().add(R * L)) } }
                        });
                        for kw in 0..KW {
                            for r in 0..R {
                                // KW ≤ L + 1 for the fixed widths, so kw = L is exactly the next block.
                                let v = if kw == L { hi[r] } else { shift(lo[r], hi[r], kw) };
                                for c in 0..C {
                                    acc[c][r] = vfmaq_n_f32(acc[c][r], v, w_at(wt, kw * C + c));
                                }
                            }
                        }
                    } else {
                        for kw in 0..k {
                            for r in 0..R {
                                // SAFETY: r·L + kw·dw + L ≤ reach = src.len().
                                let v = unsafe { vld1q_f32(src.as_ptr().add(r * L + kw * dw)) };
                                for c in 0..C {
                                    acc[c][r] = vfmaq_n_f32(acc[c][r], v, w_at(wt, kw * C + c));
                                }
                            }
                        }
                    }
                }
            }
            let mut tile = [0.0f32; MAX_TILE];
            for c in 0..C {
                for r in 0..R {
                    // SAFETY: (c·R + r)·L + L ≤ C·R·L ≤ MAX_TILE.
                    unsafe { vst1q_f32(tile.as_mut_ptr().add((c * R + r) * L), acc[c][r]) };
                }
            }
            // Activation after the copy so `acc` never escapes (it stays in registers above).
            for v in tile[..C * R * L].chunks_exact_mut(L) {
                // SAFETY: each chunk holds exactly L = 4 floats.
                unsafe { vst1q_f32(v.as_mut_ptr(), activate(j.act, vld1q_f32(v.as_ptr()))) };
            }
            store_tile(j, cb, x0, &tile, rl);
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
