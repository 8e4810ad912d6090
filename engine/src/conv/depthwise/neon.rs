//! NEON depthwise blocks: 4 channels per q register.

use super::{DwArgs, R};
use crate::vmath::neon::activate;
use std::arch::aarch64::*;

const L: usize = 4;

/// Runs one block (`full`: `R` pixels, else 1) over every full channel vector.
///
/// # Safety
/// Every address formed from `a` is in bounds.
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

#[target_feature(enable = "neon")]
#[allow(clippy::needless_range_loop)] // fixed-size register tile
unsafe fn block<const RR: usize, const KW: usize>(a: &DwArgs) {
    let nkw = if KW == 0 { a.nkw } else { KW };
    for cv in 0..a.nvec {
        let c = cv * L;
        let mut acc = [vdupq_n_f32(0.0); RR];
        for &(ro, tap) in a.rows {
            // SAFETY (whole loop): taps are clipped to the input by the driver, so each pixel's
            // channels c..c+4 are inside `input`; weights exist for every tap and channel.
            unsafe {
                let x0 = a.input.add(ro + a.in_off + c);
                let w0 = a.w.add((tap + a.kw0) * a.c + c);
                for kw in 0..nkw {
                    let wv = vld1q_f32(w0.add(kw * a.c));
                    let xk = x0.add(kw * a.kw_step);
                    for r in 0..RR {
                        acc[r] = vfmaq_f32(acc[r], vld1q_f32(xk.add(r * a.x_step)), wv);
                    }
                }
            }
        }
        // SAFETY: c + 4 ≤ channels = bias length.
        let b = unsafe { vld1q_f32(a.bias.as_ptr().add(c)) };
        for r in 0..RR {
            let y = activate(a.act, vaddq_f32(acc[r], b));
            let px = a.out_base + r * a.out_step;
            match a.chan {
                // SAFETY: channels c..c+4 of this band's pixel r.
                None => unsafe { vst1q_f32(a.out.at(px + c), y) },
                Some(t) => {
                    let mut tmp = [0.0f32; L];
                    // SAFETY: `tmp` holds 4 floats.
                    unsafe { vst1q_f32(tmp.as_mut_ptr(), y) };
                    for j in 0..L {
                        // SAFETY: the table maps this band's pixels to in-bounds, disjoint indices.
                        unsafe { a.out.write(px + t[c + j], tmp[j]) };
                    }
                }
            }
        }
    }
}
