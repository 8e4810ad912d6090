//! Scalar reference twin of the vector pooling kernels: the same contract in plain loops.
//! It is the `SLUICE_ISA=scalar` tier; with one lane it also always takes the channels-in-lanes
//! (prefix/suffix) W pass, so that method is exercised for every channel count.

use super::kernel::Kern;

/// Scalar `⊕` = max (`MAX`) or `+`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ScalarKern<const MAX: bool>;

impl<const MAX: bool> ScalarKern<MAX> {
    #[inline(always)]
    fn op(a: f32, b: f32) -> f32 {
        if MAX { a.max(b) } else { a + b }
    }
}

impl<const MAX: bool> Kern for ScalarKern<MAX> {
    const LANES: usize = 1;

    fn acc(self, dst: &mut [f32], src: &[f32]) {
        assert_eq!(dst.len(), src.len());
        for (d, s) in dst.iter_mut().zip(src) {
            *d = Self::op(*d, *s);
        }
    }

    fn combine(self, dst: &mut [f32], a: &[f32], b: &[f32]) {
        assert!(a.len() == dst.len() && b.len() == dst.len());
        for ((d, x), y) in dst.iter_mut().zip(a).zip(b) {
            *d = Self::op(*x, *y);
        }
    }

    fn shift_reduce(self, src: &[f32], step: usize, taps: usize, dst: &mut [f32]) {
        assert!(taps >= 1 && src.len() >= dst.len() + (taps - 1) * step);
        for (j, d) in dst.iter_mut().enumerate() {
            let mut a = src[j];
            for t in 1..taps {
                a = Self::op(a, src[j + t * step]);
            }
            *d = a;
        }
    }
}
