//! GRU gate nonlinearities fused per element, one hidden row at a time.
//!
//! Inputs are the projections already computed by the linear kernels (`gx = W x + Wb`,
//! `gh = R h + Rb`, gate blocks in ONNX order z, r, h). The SIMD tiers use the vmath
//! sigmoid/tanh approximations; the scalar twin uses `f32` library functions.

use crate::activation::sigmoid;
use crate::linear::Kernel;
use crate::linear::simd::Vector;

/// `linear_before_reset = 1`: z, r from `gx + gh`; ĥ = tanh(gx_h + r ⊙ gh_h); h ← ĥ + z ⊙ (h − ĥ).
/// `gx`, `gh` have 3H elements, `h` has H.
pub(crate) fn lbr_on(kernel: Kernel, gx: &[f32], gh: &[f32], h: &mut [f32]) {
    debug_assert!(gx.len() == 3 * h.len() && gh.len() == 3 * h.len());
    match kernel {
        Kernel::Scalar => scalar_lbr_on(gx, gh, h),
        // SAFETY: the kernel value proves the CPU has the tier (`Kernel::for_isa`).
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { x86::lbr_on_avx2(gx, gh, h) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { x86::lbr_on_avx512(gx, gh, h) },
        // SAFETY: NEON is always present on aarch64.
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => unsafe { arm::lbr_on_neon(gx, gh, h) },
    }
}

/// `linear_before_reset = 0`, first half: `gzr` (2H, in: R_zr h + Rb_zr) gets z in its first H
/// elements; `rh` (H, out) gets r ⊙ h, the input of the candidate's recurrent projection.
pub(crate) fn reset_gate(kernel: Kernel, gx: &[f32], gzr: &mut [f32], h: &[f32], rh: &mut [f32]) {
    debug_assert!(gx.len() == 3 * h.len() && gzr.len() == 2 * h.len() && rh.len() == h.len());
    match kernel {
        Kernel::Scalar => scalar_reset_gate(gx, gzr, h, rh),
        // SAFETY: the kernel value proves the CPU has the tier.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { x86::reset_gate_avx2(gx, gzr, h, rh) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { x86::reset_gate_avx512(gx, gzr, h, rh) },
        // SAFETY: NEON is always present on aarch64.
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => unsafe { arm::reset_gate_neon(gx, gzr, h, rh) },
    }
}

/// `linear_before_reset = 0`, second half: ĥ = tanh(gx_h + hh) with `hh = R_h (r ⊙ h) + Rb_h`;
/// h ← ĥ + z ⊙ (h − ĥ).
pub(crate) fn candidate(kernel: Kernel, gx: &[f32], z: &[f32], hh: &[f32], h: &mut [f32]) {
    debug_assert!(gx.len() == 3 * h.len() && z.len() == h.len() && hh.len() == h.len());
    match kernel {
        Kernel::Scalar => scalar_candidate(gx, z, hh, h),
        // SAFETY: the kernel value proves the CPU has the tier.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { x86::candidate_avx2(gx, z, hh, h) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { x86::candidate_avx512(gx, z, hh, h) },
        // SAFETY: NEON is always present on aarch64.
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => unsafe { arm::candidate_neon(gx, z, hh, h) },
    }
}

fn scalar_lbr_on(gx: &[f32], gh: &[f32], h: &mut [f32]) {
    let hn = h.len();
    for (j, hj) in h.iter_mut().enumerate() {
        let z = sigmoid(gx[j] + gh[j]);
        let r = sigmoid(gx[hn + j] + gh[hn + j]);
        let c = (gx[2 * hn + j] + r * gh[2 * hn + j]).tanh();
        *hj = c + z * (*hj - c);
    }
}

fn scalar_reset_gate(gx: &[f32], gzr: &mut [f32], h: &[f32], rh: &mut [f32]) {
    let hn = h.len();
    for j in 0..hn {
        gzr[j] = sigmoid(gx[j] + gzr[j]);
        rh[j] = sigmoid(gx[hn + j] + gzr[hn + j]) * h[j];
    }
}

fn scalar_candidate(gx: &[f32], z: &[f32], hh: &[f32], h: &mut [f32]) {
    let hn = h.len();
    for (j, hj) in h.iter_mut().enumerate() {
        let c = (gx[2 * hn + j] + hh[j]).tanh();
        *hj = c + z[j] * (*hj - c);
    }
}

/// Loads `n ≤ LANES` floats at `p`.
///
/// # Safety
/// `n` floats readable at `p`; `S`'s ISA available.
#[inline(always)]
unsafe fn ld<S: Vector>(p: *const f32, n: usize) -> S::V {
    // SAFETY: forwarded from the caller.
    unsafe { if n == S::LANES { S::load(p) } else { S::load_partial(p, n) } }
}

/// Stores the first `n ≤ LANES` lanes at `p`.
///
/// # Safety
/// `n` floats writable at `p`; `S`'s ISA available.
#[inline(always)]
unsafe fn st<S: Vector>(p: *mut f32, v: S::V, n: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { if n == S::LANES { S::store(p, v) } else { S::store_partial(p, v, n) } }
}

/// Vector `lbr_on`. # Safety: `S`'s ISA available; lengths as in [`lbr_on`].
#[inline(always)]
unsafe fn simd_lbr_on<S: Vector>(gx: &[f32], gh: &[f32], h: &mut [f32]) {
    let hn = h.len();
    let (gx, gh, hp) = (gx.as_ptr(), gh.as_ptr(), h.as_mut_ptr());
    let mut j = 0;
    while j < hn {
        let n = S::LANES.min(hn - j);
        // SAFETY: j + n ≤ H, and gx/gh hold 3H floats; ISA from the caller.
        unsafe {
            let z = S::sigmoid(S::add(ld::<S>(gx.add(j), n), ld::<S>(gh.add(j), n)));
            let r = S::sigmoid(S::add(ld::<S>(gx.add(hn + j), n), ld::<S>(gh.add(hn + j), n)));
            let c = S::tanh(S::fma(r, ld::<S>(gh.add(2 * hn + j), n), ld::<S>(gx.add(2 * hn + j), n)));
            let hv = ld::<S>(hp.add(j), n);
            st::<S>(hp.add(j), S::fma(z, S::sub(hv, c), c), n);
        }
        j += n;
    }
}

/// Vector `reset_gate`. # Safety: `S`'s ISA available; lengths as in [`reset_gate`].
#[inline(always)]
unsafe fn simd_reset_gate<S: Vector>(gx: &[f32], gzr: &mut [f32], h: &[f32], rh: &mut [f32]) {
    let hn = h.len();
    let (gx, gzr, hp, rh) = (gx.as_ptr(), gzr.as_mut_ptr(), h.as_ptr(), rh.as_mut_ptr());
    let mut j = 0;
    while j < hn {
        let n = S::LANES.min(hn - j);
        // SAFETY: j + n ≤ H; gx holds 3H, gzr 2H, h and rh H floats; ISA from the caller.
        unsafe {
            let z = S::sigmoid(S::add(ld::<S>(gx.add(j), n), ld::<S>(gzr.add(j), n)));
            let r = S::sigmoid(S::add(ld::<S>(gx.add(hn + j), n), ld::<S>(gzr.add(hn + j), n)));
            st::<S>(gzr.add(j), z, n);
            st::<S>(rh.add(j), S::mul(r, ld::<S>(hp.add(j), n)), n);
        }
        j += n;
    }
}

/// Vector `candidate`. # Safety: `S`'s ISA available; lengths as in [`candidate`].
#[inline(always)]
unsafe fn simd_candidate<S: Vector>(gx: &[f32], z: &[f32], hh: &[f32], h: &mut [f32]) {
    let hn = h.len();
    let (gx, zp, hh, hp) = (gx.as_ptr(), z.as_ptr(), hh.as_ptr(), h.as_mut_ptr());
    let mut j = 0;
    while j < hn {
        let n = S::LANES.min(hn - j);
        // SAFETY: j + n ≤ H; gx holds 3H, the others H floats; ISA from the caller.
        unsafe {
            let c = S::tanh(S::add(ld::<S>(gx.add(2 * hn + j), n), ld::<S>(hh.add(j), n)));
            let hv = ld::<S>(hp.add(j), n);
            st::<S>(hp.add(j), S::fma(ld::<S>(zp.add(j), n), S::sub(hv, c), c), n);
        }
        j += n;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::linear::avx2::Avx2;
    use crate::linear::avx512::Avx512;

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn lbr_on_avx2(gx: &[f32], gh: &[f32], h: &mut [f32]) {
        // SAFETY: AVX2+FMA enabled here.
        unsafe { super::simd_lbr_on::<Avx2>(gx, gh, h) }
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn reset_gate_avx2(gx: &[f32], gzr: &mut [f32], h: &[f32], rh: &mut [f32]) {
        // SAFETY: AVX2+FMA enabled here.
        unsafe { super::simd_reset_gate::<Avx2>(gx, gzr, h, rh) }
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn candidate_avx2(gx: &[f32], z: &[f32], hh: &[f32], h: &mut [f32]) {
        // SAFETY: AVX2+FMA enabled here.
        unsafe { super::simd_candidate::<Avx2>(gx, z, hh, h) }
    }
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
    pub(super) fn lbr_on_avx512(gx: &[f32], gh: &[f32], h: &mut [f32]) {
        // SAFETY: AVX-512 enabled here.
        unsafe { super::simd_lbr_on::<Avx512>(gx, gh, h) }
    }
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
    pub(super) fn reset_gate_avx512(gx: &[f32], gzr: &mut [f32], h: &[f32], rh: &mut [f32]) {
        // SAFETY: AVX-512 enabled here.
        unsafe { super::simd_reset_gate::<Avx512>(gx, gzr, h, rh) }
    }
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
    pub(super) fn candidate_avx512(gx: &[f32], z: &[f32], hh: &[f32], h: &mut [f32]) {
        // SAFETY: AVX-512 enabled here.
        unsafe { super::simd_candidate::<Avx512>(gx, z, hh, h) }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use crate::linear::neon::Neon;

    #[target_feature(enable = "neon")]
    pub(super) fn lbr_on_neon(gx: &[f32], gh: &[f32], h: &mut [f32]) {
        // SAFETY: NEON enabled here.
        unsafe { super::simd_lbr_on::<Neon>(gx, gh, h) }
    }
    #[target_feature(enable = "neon")]
    pub(super) fn reset_gate_neon(gx: &[f32], gzr: &mut [f32], h: &[f32], rh: &mut [f32]) {
        // SAFETY: NEON enabled here.
        unsafe { super::simd_reset_gate::<Neon>(gx, gzr, h, rh) }
    }
    #[target_feature(enable = "neon")]
    pub(super) fn candidate_neon(gx: &[f32], z: &[f32], hh: &[f32], h: &mut [f32]) {
        // SAFETY: NEON enabled here.
        unsafe { super::simd_candidate::<Neon>(gx, z, hh, h) }
    }
}
