//! AVX-512 pooling kernels: 16-lane registers, masked tails.

use super::driver::Pass;
use super::kernel::{VecKern, Vector};
use std::arch::x86_64::*;
use std::ops::Range;

/// One zmm register of 16 f32 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Zmm(__m512);

#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

// SAFETY: `Zmm` is only used through `VecKern`, which is built only inside `run_rows` below,
// a function compiled with (and called only on CPUs with) the AVX-512 features.
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

/// [`Pass::run_rows`] with 16-lane kernels.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub(crate) fn run_rows(pass: &Pass, input: &[f32], rows: Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
    if pass.max {
        // SAFETY: this function is compiled with the AVX-512 features and only called where they exist.
        pass.run_rows(unsafe { VecKern::<Zmm, true>::new() }, input, rows, out, scratch);
    } else {
        // SAFETY: as above.
        pass.run_rows(unsafe { VecKern::<Zmm, false>::new() }, input, rows, out, scratch);
    }
}
