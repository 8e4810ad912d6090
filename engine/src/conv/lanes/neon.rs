//! NEON channels-in-lanes blocks: 4 output channels per q register; channel tails stored lane
//! by lane.

use super::{BlockArgs, Tile};
use crate::vmath::neon::activate;
use std::arch::aarch64::*;

const L: usize = 4;

/// Pixels per block for V = 1..=4 (index V): 32 q registers allow R·V + V + 1 ≤ 32.
pub(super) const R: [usize; 5] = [1, 8, 8, 6, 6];

/// Narrow tiles for rows and row tails too short for `R` (small maps): about half of `R`.
pub(super) const R_NARROW: [usize; 5] = [1, 4, 4, 3, 3];

/// Runs one block: `tile` picks the `R[v]`- or `R_NARROW[v]`-pixel tile or a single pixel.
///
/// # Safety
/// Every address formed from `a` is in bounds (NEON is baseline on aarch64).
pub(super) unsafe fn run_block(v: usize, tile: Tile, nkw: usize, a: &BlockArgs) {
    macro_rules! by_kw {
        ($r:expr, $v:literal) => {
            match nkw {
                1 => block::<{ $r }, $v, 1>(a),
                3 => block::<{ $r }, $v, 3>(a),
                5 => block::<{ $r }, $v, 5>(a),
                _ => block::<{ $r }, $v, 0>(a),
            }
        };
    }
    macro_rules! by_r {
        ($v:literal) => {
            match tile {
                Tile::Full => by_kw!(R[$v], $v),
                Tile::Narrow => by_kw!(R_NARROW[$v], $v),
                Tile::Single => by_kw!(1, $v),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match v {
            1 => by_r!(1),
            2 => by_r!(2),
            3 => by_r!(3),
            _ => by_r!(4),
        }
    }
}

/// `RR` pixels × `V` q registers of output channels; `KW` = 0 means `a.nkw` taps.
#[target_feature(enable = "neon")]
#[allow(clippy::needless_range_loop)] // fixed-size register tiles indexed by two loop counters
unsafe fn block<const RR: usize, const V: usize, const KW: usize>(a: &BlockArgs) {
    if RR == 1 {
        // SAFETY: forwarded from the caller.
        return unsafe { pixel::<V, KW>(a) };
    }
    let nkw = if KW == 0 { a.nkw } else { KW };
    let lv = L * V;
    let mut acc = [[vdupq_n_f32(0.0); V]; RR];
    for &(ro, tap) in a.rows {
        // SAFETY (whole loop): the driver clipped rows and taps to the input, so every input
        // scalar and weight vector read below is in bounds.
        unsafe {
            let x0 = a.input.add(ro + a.in_off);
            let w0 = a.w.add(a.w_off + tap * a.cin_g * lv);
            for kw in 0..nkw {
                let xk = x0.add(kw * a.kw_step);
                let mut wp = w0.add(kw * a.cin_g * lv);
                for ci in 0..a.cin_g {
                    let mut wv = [vdupq_n_f32(0.0); V];
                    for v in 0..V {
                        wv[v] = vld1q_f32(wp.add(v * L));
                    }
                    for r in 0..RR {
                        let x = *xk.add(r * a.x_step + ci);
                        for v in 0..V {
                            acc[r][v] = vfmaq_n_f32(acc[r][v], wv[v], x);
                        }
                    }
                    wp = wp.add(lv);
                }
            }
        }
    }
    store::<RR, V>(a, &acc);
}

/// One pixel × `V` vectors (borders and narrow rows). A single pixel has only `V` accumulator
/// chains, too few to hide the FMA latency, so the ci loop is split over independent partial sums.
#[target_feature(enable = "neon")]
#[allow(clippy::needless_range_loop)] // fixed-size register tiles indexed by two loop counters
unsafe fn pixel<const V: usize, const KW: usize>(a: &BlockArgs) {
    let nkw = if KW == 0 { a.nkw } else { KW };
    let lv = L * V;
    let chains = match V {
        1 => 4,
        2 => 2,
        _ => 1,
    };
    let mut acc = [[vdupq_n_f32(0.0); V]; 4];
    for &(ro, tap) in a.rows {
        // SAFETY (whole loop): as in `block`, every input scalar and weight vector is in bounds.
        unsafe {
            let x0 = a.input.add(ro + a.in_off);
            let w0 = a.w.add(a.w_off + tap * a.cin_g * lv);
            for kw in 0..nkw {
                let xk = x0.add(kw * a.kw_step);
                let wk = w0.add(kw * a.cin_g * lv);
                let mut ci = 0;
                while ci < a.cin_g {
                    let n = chains.min(a.cin_g - ci);
                    for k in 0..n {
                        let x = *xk.add(ci + k);
                        for v in 0..V {
                            let wv = vld1q_f32(wk.add((ci + k) * lv + v * L));
                            acc[k][v] = vfmaq_n_f32(acc[k][v], wv, x);
                        }
                    }
                    ci += n;
                }
            }
        }
    }
    for k in 1..chains {
        for v in 0..V {
            acc[0][v] = vaddq_f32(acc[0][v], acc[k][v]);
        }
    }
    let one = [acc[0]];
    store::<1, V>(a, &one);
}

/// Adds bias, applies the activation and stores `RR` pixels × `V` vectors.
#[inline]
#[target_feature(enable = "neon")]
#[allow(clippy::needless_range_loop)] // fixed-size register tiles indexed by two loop counters
fn store<const RR: usize, const V: usize>(a: &BlockArgs, acc: &[[float32x4_t; V]; RR]) {
    let mut bias = [vdupq_n_f32(0.0); V];
    for v in 0..V {
        // SAFETY: `a.bias` holds 64 ≥ 4·V floats.
        bias[v] = unsafe { vld1q_f32(a.bias.as_ptr().add(v * L)) };
    }
    for r in 0..RR {
        let px = a.out_base + r * a.out_step;
        for v in 0..V {
            let c = v * L;
            if c >= a.nvalid {
                break;
            }
            let n = (a.nvalid - c).min(L);
            let y = activate(a.act, vaddq_f32(acc[r][v], bias[v]));
            if a.chan.is_none() && n == L {
                // SAFETY: channels c..c+4 of pixel r are real outputs of this band's row.
                unsafe { vst1q_f32(a.out.at(px + c), y) };
                continue;
            }
            let mut tmp = [0.0f32; L];
            // SAFETY: `tmp` holds 4 floats.
            unsafe { vst1q_f32(tmp.as_mut_ptr(), y) };
            for j in 0..n {
                let idx = px + a.chan.map_or(c + j, |t| t[c + j]);
                // SAFETY: real channels of this band's pixels map to in-bounds, disjoint indices.
                unsafe { a.out.write(idx, tmp[j]) };
            }
        }
    }
}
