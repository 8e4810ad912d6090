//! AVX-512 pooling kernels: 16-lane registers, masked tails.

use super::driver::Pass;
use super::kernel::{self, Vector, vector_kern};
use std::arch::x86_64::*;
use std::ops::Range;

/// One zmm register of 16 f32 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Zmm(__m512);

#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

// SAFETY: `Zmm`'s methods are only called from this module's `#[target_feature]` kernels,
// which plans call only on CPUs with the AVX-512 features.
unsafe impl Vector for Zmm {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: forwarded from the caller (readable, features present).
        unsafe { Zmm(_mm512_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: forwarded from the caller (writable, features present).
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> Self {
        // SAFETY: the mask only touches the first `n` floats, which the caller guarantees readable.
        unsafe { Zmm(_mm512_maskz_loadu_ps(mask(n), p)) }
    }
    #[inline(always)]
    unsafe fn store_part(self, p: *mut f32, n: usize) {
        // SAFETY: the mask only touches the first `n` floats, which the caller guarantees writable.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), self.0) }
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        // SAFETY: features present (caller).
        unsafe { Zmm(_mm512_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        // SAFETY: features present (caller).
        unsafe { Zmm(_mm512_add_ps(self.0, o.0)) }
    }
}

vector_kern!(Avx512Kern, Zmm, "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma", shift_reduce);

/// [`super::kernel::Kern::shift_reduce`] for AVX-512. Pixels in lanes (`step < 16`, windows of
/// 2 or 3) slide by register shifts: one aligned load per 16 outputs, each shifted copy made
/// from a register pair by `vpermt2ps` (a runtime-amount `valignd`), instead of `taps`
/// unaligned loads of which most straddle two cache lines. Other shapes use the generic loads.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn shift_reduce<const MAX: bool>(src: &[f32], step: usize, taps: usize, dst: &mut [f32]) {
    match taps {
        2 if step < 16 => shift_reduce_reg::<MAX, 2>(src, step, dst),
        3 if step < 16 => shift_reduce_reg::<MAX, 3>(src, step, dst),
        // SAFETY: this function is compiled with the AVX-512 features.
        _ => unsafe { kernel::shift_reduce::<Zmm, MAX>(src, step, taps, dst) },
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn shift_reduce_reg<const MAX: bool, const TAPS: usize>(src: &[f32], step: usize, dst: &mut [f32]) {
    let n = dst.len();
    assert!(step < 16 && src.len() >= n + (TAPS - 1) * step);
    let op = |a: __m512, b: __m512| if MAX { _mm512_max_ps(a, b) } else { _mm512_add_ps(a, b) };
    // Tap t reads lanes r..r+15 of the block pair starting at block q: offset t·step = 16q + r.
    let mut idx = [_mm512_setzero_si512(); TAPS];
    let mut hi = [false; TAPS];
    for t in 1..TAPS {
        let (q, r) = ((t * step) / 16, (t * step) % 16);
        idx[t] = _mm512_add_epi32(
            _mm512_set1_epi32(r as i32),
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        );
        hi[t] = q == 1;
    }
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    // Align the loads: the head goes through the generic kernel.
    let head = ((16 - (s as usize / 4) % 16) % 16).min(n);
    // SAFETY: features present (this function's).
    unsafe { kernel::shift_reduce::<Zmm, MAX>(src, step, TAPS, &mut dst[..head]) };
    let mut i = head;
    // Blocks b0, b1, b2 start at s+i, s+i+16, s+i+32; (TAPS−1)·step < 32 so b2 is the last needed.
    // SAFETY: the loop keeps i + 48 <= src.len() for the three block loads and i + 16 <= n for
    // the store; the rest goes to the generic kernel, which checks its own bounds.
    unsafe {
        if i + 48 <= src.len() && i + 16 <= n {
            let mut b0 = _mm512_loadu_ps(s.add(i));
            let mut b1 = _mm512_loadu_ps(s.add(i + 16));
            while i + 48 <= src.len() && i + 16 <= n {
                let b2 = _mm512_loadu_ps(s.add(i + 32));
                let mut acc = b0;
                for t in 1..TAPS {
                    let sh = if hi[t] {
                        _mm512_permutex2var_ps(b1, idx[t], b2)
                    } else {
                        _mm512_permutex2var_ps(b0, idx[t], b1)
                    };
                    acc = op(acc, sh);
                }
                _mm512_storeu_ps(d.add(i), acc);
                (b0, b1) = (b1, b2);
                i += 16;
            }
        }
        kernel::shift_reduce::<Zmm, MAX>(&src[i..], step, TAPS, &mut dst[i..]);
    }
}

/// [`Pass::run_rows`] with this tier's kernels.
///
/// # Safety
/// The CPU has the tier's features.
pub(crate) unsafe fn run_rows(pass: &Pass, input: &[f32], rows: Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
    if pass.max {
        // SAFETY: forwarded from the caller.
        pass.run_rows(unsafe { Avx512Kern::<true>::new() }, input, rows, out, scratch);
    } else {
        // SAFETY: forwarded from the caller.
        pass.run_rows(unsafe { Avx512Kern::<false>::new() }, input, rows, out, scratch);
    }
}
