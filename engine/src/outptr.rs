//! A raw output pointer shared by the threads of one plan run.
//!
//! Bands of a layer write disjoint sets of output elements, but those sets are not always
//! contiguous slices (pixel shuffle, transposed-conv phases), so `split_at_mut` cannot express
//! them. Kernels receive this pointer and write only the elements of their own rows.

/// Pointer + length of a caller-provided `&mut [f32]`, shareable across band threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutPtr {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: an `OutPtr` is only created from a `&mut [f32]` that outlives the plan run, and the
// plan drivers hand each band a disjoint set of indices, so concurrent writes never alias.
unsafe impl Send for OutPtr {}
// SAFETY: as above; shared access only ever writes disjoint indices.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Wraps a mutable slice for the duration of a run.
    pub fn new(s: &mut [f32]) -> Self {
        Self { ptr: s.as_mut_ptr(), len: s.len() }
    }

    /// The same buffer seen from element `n` on (image `i` of a batch).
    pub fn advance(self, n: usize) -> Self {
        assert!(n <= self.len, "OutPtr advance {n} out of {}", self.len);
        // SAFETY: n <= len, so the pointer stays within (or one past) the allocation.
        Self { ptr: unsafe { self.ptr.add(n) }, len: self.len - n }
    }

    /// Writes one element.
    ///
    /// # Safety
    /// `i < len`, and no other thread writes or reads index `i` during the run.
    #[inline(always)]
    pub unsafe fn write(self, i: usize, v: f32) {
        debug_assert!(i < self.len, "OutPtr write {i} out of {}", self.len);
        // SAFETY: guaranteed by the caller.
        unsafe { *self.ptr.add(i) = v }
    }

    /// Raw pointer to element `i` (for vector stores).
    ///
    /// # Safety
    /// `i + width <= len` for the store the caller makes, and the elements are the caller's band's.
    #[inline(always)]
    pub unsafe fn at(self, i: usize) -> *mut f32 {
        debug_assert!(i <= self.len);
        // SAFETY: guaranteed by the caller.
        unsafe { self.ptr.add(i) }
    }

    /// A mutable sub-slice `start..start+n`.
    ///
    /// # Safety
    /// The range is in bounds and belongs exclusively to the calling band for the run.
    #[inline]
    #[allow(clippy::mut_from_ref)] // disjointness across bands is the caller's contract, documented above
    pub unsafe fn slice<'a>(self, start: usize, n: usize) -> &'a mut [f32] {
        assert!(start + n <= self.len, "OutPtr slice {start}+{n} out of {}", self.len);
        // SAFETY: in bounds (checked), exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), n) }
    }
}
