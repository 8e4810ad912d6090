//! The kernel contract of pooling: three slice operations, written once per ISA.
//!
//! The driver ([`super::driver`]) expresses every pass (vertical rows, horizontal pixels, both
//! the direct and the prefix/suffix method) with these, so an ISA only supplies `⊕` over slices.
//! `⊕` is `max` or `+`, fixed by the implementor's `MAX` parameter.

/// Slice operations with one associative, commutative `⊕`.
pub(crate) trait Kern: Copy {
    /// f32 lanes of one register; channel counts below this use the pixels-in-lanes W pass.
    const LANES: usize;
    /// `dst[i] = dst[i] ⊕ src[i]`. Lengths are equal.
    fn acc(self, dst: &mut [f32], src: &[f32]);
    /// `dst[i] = a[i] ⊕ b[i]`. Lengths are equal.
    fn combine(self, dst: &mut [f32], a: &[f32], b: &[f32]);
    /// The sliding window as shifted copies: `dst[j] = ⊕_{t<taps} src[j + t·step]`.
    /// `src.len() >= dst.len() + (taps − 1)·step`.
    fn shift_reduce(self, src: &[f32], step: usize, taps: usize, dst: &mut [f32]);
}

/// One SIMD register of f32 lanes, as the generic vector kernels need it.
///
/// # Safety
/// Implementors' methods are only called where the CPU has the register's features.
pub(crate) unsafe trait Vector: Copy {
    /// Lanes per register.
    const LANES: usize;
    /// Unaligned load of `LANES` floats.
    ///
    /// # Safety
    /// `p..p+LANES` readable; the CPU has the features.
    unsafe fn load(p: *const f32) -> Self;
    /// Unaligned store of `LANES` floats.
    ///
    /// # Safety
    /// `p..p+LANES` writable; the CPU has the features.
    unsafe fn store(self, p: *mut f32);
    /// Loads the first `n < LANES` floats (other lanes unspecified).
    ///
    /// # Safety
    /// `p..p+n` readable; the CPU has the features.
    unsafe fn load_part(p: *const f32, n: usize) -> Self;
    /// Stores the first `n < LANES` lanes.
    ///
    /// # Safety
    /// `p..p+n` writable; the CPU has the features.
    unsafe fn store_part(self, p: *mut f32, n: usize);
    /// Lane-wise maximum.
    ///
    /// # Safety
    /// The CPU has the features.
    unsafe fn max(self, o: Self) -> Self;
    /// Lane-wise sum.
    ///
    /// # Safety
    /// The CPU has the features.
    unsafe fn add(self, o: Self) -> Self;
}

#[inline(always)]
unsafe fn op<V: Vector, const MAX: bool>(a: V, b: V) -> V {
    // SAFETY: forwarded from the caller (the features are present).
    unsafe { if MAX { a.max(b) } else { a.add(b) } }
}

/// Floats to handle before `p` is register-aligned (capped at `n`): caller buffers are often
/// 16 B off a cache line, and every full-width load would then straddle two lines (measured:
/// no gain on the DRAM-bound 64-channel case, kept because it is free).
#[inline(always)]
fn head<V: Vector>(p: *const f32, n: usize) -> usize {
    let misalign = (p as usize / 4) % V::LANES;
    ((V::LANES - misalign) % V::LANES).min(n)
}

/// [`Kern::acc`] for any [`Vector`]: two registers per step, then one, then a partial tail.
///
/// # Safety
/// The CPU has `V`'s features. Call it from a `#[target_feature]` function enabling them so the
/// register operations inline.
#[inline(always)]
pub(crate) unsafe fn acc<V: Vector, const MAX: bool>(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len());
    let n = dst.len();
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    let mut i = head::<V>(s, n);
    // SAFETY: every access is below `n` (a partial head that aligns the source, full registers
    // while i + LANES <= n, then the `n − i` tail); the features are present (caller).
    unsafe {
        if i > 0 {
            op::<V, MAX>(V::load_part(d, i), V::load_part(s, i)).store_part(d, i);
        }
        while i + 2 * V::LANES <= n {
            let a = op::<V, MAX>(V::load(d.add(i)), V::load(s.add(i)));
            let b = op::<V, MAX>(V::load(d.add(i + V::LANES)), V::load(s.add(i + V::LANES)));
            a.store(d.add(i));
            b.store(d.add(i + V::LANES));
            i += 2 * V::LANES;
        }
        while i + V::LANES <= n {
            op::<V, MAX>(V::load(d.add(i)), V::load(s.add(i))).store(d.add(i));
            i += V::LANES;
        }
        if i < n {
            op::<V, MAX>(V::load_part(d.add(i), n - i), V::load_part(s.add(i), n - i)).store_part(d.add(i), n - i);
        }
    }
}

/// [`Kern::combine`] for any [`Vector`].
///
/// # Safety
/// As [`acc`].
#[inline(always)]
pub(crate) unsafe fn combine<V: Vector, const MAX: bool>(dst: &mut [f32], a: &[f32], b: &[f32]) {
    assert!(a.len() == dst.len() && b.len() == dst.len());
    let n = dst.len();
    let (d, pa, pb) = (dst.as_mut_ptr(), a.as_ptr(), b.as_ptr());
    let mut i = head::<V>(pa, n);
    // SAFETY: as in `acc`: accesses below `n`, features present.
    unsafe {
        if i > 0 {
            op::<V, MAX>(V::load_part(pa, i), V::load_part(pb, i)).store_part(d, i);
        }
        while i + 2 * V::LANES <= n {
            let x = op::<V, MAX>(V::load(pa.add(i)), V::load(pb.add(i)));
            let y = op::<V, MAX>(V::load(pa.add(i + V::LANES)), V::load(pb.add(i + V::LANES)));
            x.store(d.add(i));
            y.store(d.add(i + V::LANES));
            i += 2 * V::LANES;
        }
        while i + V::LANES <= n {
            op::<V, MAX>(V::load(pa.add(i)), V::load(pb.add(i))).store(d.add(i));
            i += V::LANES;
        }
        if i < n {
            op::<V, MAX>(V::load_part(pa.add(i), n - i), V::load_part(pb.add(i), n - i)).store_part(d.add(i), n - i);
        }
    }
}

/// [`Kern::shift_reduce`] for any [`Vector`]: shifted copies by unaligned loads.
///
/// # Safety
/// As [`acc`].
#[inline(always)]
pub(crate) unsafe fn shift_reduce<V: Vector, const MAX: bool>(src: &[f32], step: usize, taps: usize, dst: &mut [f32]) {
    let n = dst.len();
    assert!(taps >= 1 && src.len() >= n + (taps - 1) * step);
    let (d, s) = (dst.as_mut_ptr(), src.as_ptr());
    let mut i = head::<V>(s, n);
    // SAFETY: the largest read is `s[i + (taps−1)·step + LANES − 1]` with `i + LANES <= n`
    // (or the partial head / `n − i` tail), in bounds by the assert; features present (caller).
    unsafe {
        if i > 0 {
            let mut a = V::load_part(s, i);
            for t in 1..taps {
                a = op::<V, MAX>(a, V::load_part(s.add(t * step), i));
            }
            a.store_part(d, i);
        }
        while i + 2 * V::LANES <= n {
            let mut a = V::load(s.add(i));
            let mut b = V::load(s.add(i + V::LANES));
            for t in 1..taps {
                a = op::<V, MAX>(a, V::load(s.add(i + t * step)));
                b = op::<V, MAX>(b, V::load(s.add(i + t * step + V::LANES)));
            }
            a.store(d.add(i));
            b.store(d.add(i + V::LANES));
            i += 2 * V::LANES;
        }
        while i + V::LANES <= n {
            let mut a = V::load(s.add(i));
            for t in 1..taps {
                a = op::<V, MAX>(a, V::load(s.add(i + t * step)));
            }
            a.store(d.add(i));
            i += V::LANES;
        }
        if i < n {
            let r = n - i;
            let mut a = V::load_part(s.add(i), r);
            for t in 1..taps {
                a = op::<V, MAX>(a, V::load_part(s.add(i + t * step), r));
            }
            a.store_part(d.add(i), r);
        }
    }
}

/// Implements [`Kern`] for an ISA: `$kern<MAX>` forwards each slice operation to a
/// `#[target_feature]` function instantiating the generic body with register type `$v`
/// (or, for `shift_reduce`, to the ISA's own `$shift` when given).
/// The plan constructs `$kern` only after [`crate::Isa::require`] succeeded for the tier.
macro_rules! vector_kern {
    ($kern:ident, $v:ty, $features:literal) => {
        #[target_feature(enable = $features)]
        fn shift_reduce_tf<const MAX: bool>(src: &[f32], step: usize, taps: usize, dst: &mut [f32]) {
            // SAFETY: this function is compiled with the register's features.
            unsafe { $crate::pool::kernel::shift_reduce::<$v, MAX>(src, step, taps, dst) }
        }
        $crate::pool::kernel::vector_kern!($kern, $v, $features, shift_reduce_tf);
    };
    ($kern:ident, $v:ty, $features:literal, $shift:ident) => {
        /// The tier's [`Kern`]; only constructed by plans whose tier passed `Isa::require`.
        #[derive(Clone, Copy, Debug)]
        pub(crate) struct $kern<const MAX: bool>(());

        impl<const MAX: bool> $kern<MAX> {
            /// # Safety
            /// The CPU has the tier's features.
            pub unsafe fn new() -> Self {
                Self(())
            }
        }

        #[target_feature(enable = $features)]
        fn acc_tf<const MAX: bool>(dst: &mut [f32], src: &[f32]) {
            // SAFETY: this function is compiled with the register's features.
            unsafe { $crate::pool::kernel::acc::<$v, MAX>(dst, src) }
        }

        #[target_feature(enable = $features)]
        fn combine_tf<const MAX: bool>(dst: &mut [f32], a: &[f32], b: &[f32]) {
            // SAFETY: this function is compiled with the register's features.
            unsafe { $crate::pool::kernel::combine::<$v, MAX>(dst, a, b) }
        }

        impl<const MAX: bool> $crate::pool::kernel::Kern for $kern<MAX> {
            const LANES: usize = <$v as $crate::pool::kernel::Vector>::LANES;
            #[inline]
            fn acc(self, dst: &mut [f32], src: &[f32]) {
                // SAFETY: a `$kern` exists only where the tier's features are present (see `new`).
                unsafe { acc_tf::<MAX>(dst, src) }
            }
            #[inline]
            fn combine(self, dst: &mut [f32], a: &[f32], b: &[f32]) {
                // SAFETY: as above.
                unsafe { combine_tf::<MAX>(dst, a, b) }
            }
            #[inline]
            fn shift_reduce(self, src: &[f32], step: usize, taps: usize, dst: &mut [f32]) {
                // SAFETY: as above.
                unsafe { $shift::<MAX>(src, step, taps, dst) }
            }
        }
    };
}
pub(crate) use vector_kern;
