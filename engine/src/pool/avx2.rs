//! AVX2 pooling kernels: 8-lane registers, `vmaskmovps` tails.

use super::driver::Pass;
use super::kernel::{Vector, vector_kern};
use std::arch::x86_64::*;
use std::ops::Range;

/// One ymm register of 8 f32 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Ymm(__m256);

/// Lane mask with the first `n` lanes set.
#[inline(always)]
unsafe fn mask(n: usize) -> __m256i {
    // SAFETY: AVX2 present (caller).
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

// SAFETY: `Ymm`'s methods are only called from this module's `#[target_feature]` kernels,
// which plans call only on CPUs with AVX2+FMA.
unsafe impl Vector for Ymm {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: forwarded from the caller (readable, features present).
        unsafe { Ymm(_mm256_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: forwarded from the caller (writable, features present).
        unsafe { _mm256_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> Self {
        // SAFETY: the mask only touches the first `n` floats, which the caller guarantees readable.
        unsafe { Ymm(_mm256_maskload_ps(p, mask(n))) }
    }
    #[inline(always)]
    unsafe fn store_part(self, p: *mut f32, n: usize) {
        // SAFETY: the mask only touches the first `n` floats, which the caller guarantees writable.
        unsafe { _mm256_maskstore_ps(p, mask(n), self.0) }
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        // SAFETY: features present (caller).
        unsafe { Ymm(_mm256_max_ps(self.0, o.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        // SAFETY: features present (caller).
        unsafe { Ymm(_mm256_add_ps(self.0, o.0)) }
    }
}

vector_kern!(Avx2Kern, Ymm, "avx2,fma");

/// [`Pass::run_rows`] with this tier's kernels.
///
/// # Safety
/// The CPU has the tier's features.
pub(crate) unsafe fn run_rows(pass: &Pass, input: &[f32], rows: Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
    if pass.max {
        // SAFETY: forwarded from the caller.
        pass.run_rows(unsafe { Avx2Kern::<true>::new() }, input, rows, out, scratch);
    } else {
        // SAFETY: forwarded from the caller.
        pass.run_rows(unsafe { Avx2Kern::<false>::new() }, input, rows, out, scratch);
    }
}
