//! AVX-512 depthwise blocks: 16 channels per zmm.

use super::{DwArgs, R};
use crate::vmath::avx512::activate;
use std::arch::x86_64::*;

const L: usize = 16;

/// Runs one block (`full`: `R` pixels, else 1) over every full channel vector.
///
/// # Safety
/// The CPU has AVX-512F/BW/DQ/VL + FMA, and every address formed from `a` is in bounds.
pub(super) unsafe fn run_block(full: bool, a: &DwArgs) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (full, a.nkw) {
            (true, 1) => block::<R, 1>(a),
            (true, 3) => block::<R, 3>(a),
            (true, 5) => block::<R, 5>(a),
            (true, _) => block::<R, 0>(a),
            (false, 1) => block::<1, 1>(a),
            (false, 3) => block::<1, 3>(a),
            (false, 5) => block::<1, 5>(a),
            (false, _) => block::<1, 0>(a),
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
#[allow(clippy::needless_range_loop)] // fixed-size register tile
unsafe fn block<const RR: usize, const KW: usize>(a: &DwArgs) {
    let nkw = if KW == 0 { a.nkw } else { KW };
    for cv in 0..a.nvec {
        let c = cv * L;
        let mut acc = [_mm512_setzero_ps(); RR];
        for &(ro, tap) in a.rows {
            // SAFETY (whole loop): taps are clipped to the input by the driver, so each pixel's
            // channels c..c+16 are inside `input`; weights exist for every tap and channel.
            unsafe {
                let x0 = a.input.add(ro + a.in_off + c);
                let w0 = a.w.add((tap + a.kw0) * a.c + c);
                for kw in 0..nkw {
                    let wv = _mm512_loadu_ps(w0.add(kw * a.c));
                    let xk = x0.add(kw * a.kw_step);
                    for r in 0..RR {
                        acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(xk.add(r * a.x_step)), wv, acc[r]);
                    }
                }
            }
        }
        // SAFETY: c + 16 ≤ channels = bias length.
        let b = unsafe { _mm512_loadu_ps(a.bias.as_ptr().add(c)) };
        for r in 0..RR {
            let y = activate(a.act, _mm512_add_ps(acc[r], b));
            let px = a.out_base + r * a.out_step;
            match a.chan {
                // SAFETY: channels c..c+16 of this band's pixel r.
                None => unsafe { _mm512_storeu_ps(a.out.at(px + c), y) },
                Some(t) => {
                    let mut tmp = [0.0f32; L];
                    // SAFETY: `tmp` holds 16 floats.
                    unsafe { _mm512_storeu_ps(tmp.as_mut_ptr(), y) };
                    for j in 0..L {
                        // SAFETY: the table maps this band's pixels to in-bounds, disjoint indices.
                        unsafe { a.out.write(px + t[c + j], tmp[j]) };
                    }
                }
            }
        }
    }
}
