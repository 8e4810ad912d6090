//! NEON pooling kernels: 4-lane registers, tails through a stack buffer.

use super::driver::Pass;
use super::kernel::{Vector, vector_kern};
use std::arch::aarch64::*;
use std::ops::Range;

/// One q register of 4 f32 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Q(float32x4_t);

// SAFETY: NEON is architecturally present on aarch64; `Q`'s methods are only called from this
// module's `#[target_feature]` kernels.
unsafe impl Vector for Q {
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: forwarded from the caller (readable).
        unsafe { Q(vld1q_f32(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: forwarded from the caller (writable).
        unsafe { vst1q_f32(p, self.0) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> Self {
        let mut buf = [0.0f32; 4];
        // SAFETY: the caller guarantees `p..p+n` readable, `n < 4`; `buf` holds 4 floats.
        unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            Q(vld1q_f32(buf.as_ptr()))
        }
    }
    #[inline(always)]
    unsafe fn store_part(self, p: *mut f32, n: usize) {
        let mut buf = [0.0f32; 4];
        // SAFETY: `buf` holds 4 floats; the caller guarantees `p..p+n` writable, `n < 4`.
        unsafe {
            vst1q_f32(buf.as_mut_ptr(), self.0);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        // SAFETY: NEON present.
        unsafe { Q(vmaxq_f32(self.0, o.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        // SAFETY: NEON present.
        unsafe { Q(vaddq_f32(self.0, o.0)) }
    }
}

vector_kern!(NeonKern, Q, "neon");

/// [`Pass::run_rows`] with this tier's kernels.
///
/// # Safety
/// The CPU has the tier's features.
pub(crate) unsafe fn run_rows(pass: &Pass, input: &[f32], rows: Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
    if pass.max {
        // SAFETY: forwarded from the caller.
        pass.run_rows(unsafe { NeonKern::<true>::new() }, input, rows, out, scratch);
    } else {
        // SAFETY: forwarded from the caller.
        pass.run_rows(unsafe { NeonKern::<false>::new() }, input, rows, out, scratch);
    }
}
