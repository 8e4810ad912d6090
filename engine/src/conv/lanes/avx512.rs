//! AVX-512 channels-in-lanes blocks: 16 output channels per zmm, masked stores for channel tails.

use super::{BlockArgs, Tile};
use crate::vmath::avx512::activate;
use std::arch::x86_64::*;

const L: usize = 16;

/// Pixels per block for V = 1..=4 (index V): 32 zmm allow R·V + V + 1 ≤ 32. A core with two
/// full-width 512-bit FMA pipes (Zen 5) needs ≥ 8 independent accumulators to hide the 4-cycle
/// FMA latency, which V = 1 gets only from R ≥ 8: R = 16 (Zen 5, alternated runs) took the
/// 16→16 Conv3d bench from 18.7–19.4 ms (R = 6, chosen on Zen 4, which has one) to 15.8–15.9
/// (R = 8: 18.0–18.2, R = 12: 16.7–17.0, R = 20–28: 16.1–17.7, their row tails overlap more).
/// On Zen 4 (one 512-bit FMA per cycle) R = 6 had measured best: Conv3d 31.2–31.4 ms against
/// 31.6–32.0 for R = 8, and R = 12 or 16 slowed a 32-channel layer by 5–10 %.
pub(super) const R: [usize; 5] = [1, 16, 12, 6, 6];

/// Narrow tiles for rows and row tails too short for `R` (small maps): about half of `R`.
pub(super) const R_NARROW: [usize; 5] = [1, 6, 6, 3, 3];

/// Runs one block: `tile` picks the `R[v]`- or `R_NARROW[v]`-pixel tile or a single pixel;
/// `nkw` taps along W (1, 3 and 5 have unrolled kernels).
///
/// # Safety
/// The CPU has AVX-512F/BW/DQ/VL + FMA, and every address formed from `a` is in bounds.
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

/// `RR` pixels × `V` zmm of output channels; `KW` = 0 means `a.nkw` taps.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
#[allow(clippy::needless_range_loop)] // fixed-size register tiles indexed by two loop counters
unsafe fn block<const RR: usize, const V: usize, const KW: usize>(a: &BlockArgs) {
    if RR == 1 {
        // SAFETY: forwarded from the caller.
        return unsafe { pixel::<V, KW>(a) };
    }
    let nkw = if KW == 0 { a.nkw } else { KW };
    let lv = L * V;
    let mut acc = [[_mm512_setzero_ps(); V]; RR];
    for &(ro, tap) in a.rows {
        // SAFETY (whole loop): the driver clipped rows and taps to the input, so pixel
        // `r·x_step + kw·kw_step` channel `ci < cin_g` lies inside `input`; weights of tap
        // (row, kw) exist for every ci and lane of the block.
        unsafe {
            let x0 = a.input.add(ro + a.in_off);
            let w0 = a.w.add(a.w_off + tap * a.cin_g * lv);
            for kw in 0..nkw {
                let xk = x0.add(kw * a.kw_step);
                let mut wp = w0.add(kw * a.cin_g * lv);
                for ci in 0..a.cin_g {
                    let mut wv = [_mm512_setzero_ps(); V];
                    for v in 0..V {
                        wv[v] = _mm512_loadu_ps(wp.add(v * L));
                    }
                    for r in 0..RR {
                        let xb = _mm512_set1_ps(*xk.add(r * a.x_step + ci));
                        for v in 0..V {
                            acc[r][v] = _mm512_fmadd_ps(xb, wv[v], acc[r][v]);
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
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
#[allow(clippy::needless_range_loop)] // fixed-size register tiles indexed by two loop counters
unsafe fn pixel<const V: usize, const KW: usize>(a: &BlockArgs) {
    let nkw = if KW == 0 { a.nkw } else { KW };
    let lv = L * V;
    let chains = match V {
        1 => 4,
        2 => 2,
        _ => 1,
    };
    let mut acc = [[_mm512_setzero_ps(); V]; 4];
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
                        let x = _mm512_set1_ps(*xk.add(ci + k));
                        for v in 0..V {
                            let wv = _mm512_loadu_ps(wk.add((ci + k) * lv + v * L));
                            acc[k][v] = _mm512_fmadd_ps(x, wv, acc[k][v]);
                        }
                    }
                    ci += n;
                }
            }
        }
    }
    for k in 1..chains {
        for v in 0..V {
            acc[0][v] = _mm512_add_ps(acc[0][v], acc[k][v]);
        }
    }
    let one = [acc[0]];
    store::<1, V>(a, &one);
}

/// Adds bias, applies the activation and stores `RR` pixels × `V` vectors.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
#[allow(clippy::needless_range_loop)] // fixed-size register tiles indexed by two loop counters
fn store<const RR: usize, const V: usize>(a: &BlockArgs, acc: &[[__m512; V]; RR]) {
    let mut bias = [_mm512_setzero_ps(); V];
    for v in 0..V {
        // SAFETY: `a.bias` holds 64 ≥ 16·V floats.
        bias[v] = unsafe { _mm512_loadu_ps(a.bias.as_ptr().add(v * L)) };
    }
    for r in 0..RR {
        let px = a.out_base + r * a.out_step;
        for v in 0..V {
            let c = v * L;
            if c >= a.nvalid {
                break;
            }
            let n = (a.nvalid - c).min(L);
            let y = activate(a.act, _mm512_add_ps(acc[r][v], bias[v]));
            match a.chan {
                None if n == L => {
                    // SAFETY: channels c..c+16 of pixel r are real outputs of this band's row.
                    unsafe { _mm512_storeu_ps(a.out.at(px + c), y) }
                }
                None => {
                    let m: __mmask16 = (1u32 << n).wrapping_sub(1) as u16;
                    // SAFETY: the mask keeps only the n real channels, which are this band's.
                    unsafe { _mm512_mask_storeu_ps(a.out.at(px + c), m, y) }
                }
                Some(t) => {
                    let mut tmp = [0.0f32; L];
                    // SAFETY: `tmp` holds 16 floats.
                    unsafe { _mm512_storeu_ps(tmp.as_mut_ptr(), y) };
                    for j in 0..n {
                        // SAFETY: the channel table maps this band's pixels to in-bounds, disjoint indices.
                        unsafe { a.out.write(px + t[c + j], tmp[j]) };
                    }
                }
            }
        }
    }
}
