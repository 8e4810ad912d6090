//! AVX-512 pooling kernels: 16-lane registers, masked tails.

use super::driver::Pass;
use super::kernel::{Vector, vector_kern};
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

vector_kern!(Avx512Kern, Zmm, "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma");

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
