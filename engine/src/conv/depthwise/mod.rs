//! Depthwise convolution (groups == cin == cout): every channel is its own 1-channel filter,
//! so channels are vectorised directly (one vector of channels per load, `taps` FMAs per
//! vector) with no broadcasts. DFN3 uses it for its 64-channel (1×3) convolutions over F
//! (stride 1 or 2) and for per-channel 1×1 affines.
//!
//! Borders work as in the channels-in-lanes family: the W interior runs `R`-pixel blocks over
//! the input in place, border pixels run one at a time with the out-of-range kw taps clipped,
//! and out-of-range (kd, kh) rows are left out of the row list. Channels past the last full
//! vector run a scalar loop. A channel multiplier > 1 is left to the channels-in-lanes family.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

use super::geom::{ConvGeom, OutMap};
use super::lanes::{MAX_ROWS, kw_range, tap_rows};
use crate::activation::Activation;
use crate::isa::Isa;
use crate::outptr::OutPtr;
use std::ops::Range;

/// Output pixels per interior block (each vector of weights is reused `R` times).
pub(super) const R: usize = 4;

/// Weights packed `[tap][channel]`.
#[derive(Debug, Clone)]
pub(crate) struct DwPacked {
    isa: Isa,
    w: Vec<f32>,
}

/// One depthwise block call: `RR` pixels × every full vector of channels.
pub(super) struct DwArgs<'a> {
    /// `(input offset, tap index)` of each valid (kd, kh) row at kw = 0, pixel 0, channel 0.
    pub rows: &'a [(usize, usize)],
    /// Input offset of the block's first pixel (first clipped tap), added to each row's.
    pub in_off: usize,
    /// First (clipped) kw tap.
    pub kw0: usize,
    pub nkw: usize,
    pub input: *const f32,
    pub w: *const f32,
    /// Channels (= floats per input pixel and per weight tap).
    pub c: usize,
    /// Full channel vectors to compute.
    pub nvec: usize,
    pub x_step: usize,
    pub kw_step: usize,
    pub bias: &'a [f32],
    pub act: Activation,
    pub out: OutPtr,
    /// Output index of pixel 0 (channel 0).
    pub out_base: usize,
    pub out_step: usize,
    pub chan: Option<&'a [usize]>,
}

/// Whether the depthwise kernel covers `g` on `isa`.
pub(crate) fn supports(isa: Isa, g: &ConvGeom) -> bool {
    super::lanes::supports(isa, g) && g.groups == g.cin && g.cout == g.cin && g.cin >= isa.lanes()
}

impl DwPacked {
    pub fn new(isa: Isa, g: &ConvGeom, weights: &[f32]) -> Self {
        let taps = g.taps();
        let mut w = vec![0.0; taps * g.cout];
        for c in 0..g.cout {
            for t in 0..taps {
                w[t * g.cout + c] = weights[c * taps + t];
            }
        }
        Self { isa, w }
    }

    /// Computes output rows `rows` (flattened (od, oh)) of one image.
    #[allow(clippy::too_many_arguments)] // the kernel contract: geometry, data, destination, band
    pub fn run_rows(
        &self,
        g: &ConvGeom,
        bias: &[f32],
        act: Activation,
        input: &[f32],
        out: OutPtr,
        map: &OutMap,
        rows: Range<usize>,
    ) {
        let mut row_list = [(0usize, 0usize); MAX_ROWS];
        let ow_n = g.out_dims[2];
        let (lo, hi) = g.interior(2);
        let kw_n = g.kernel[2];
        let lanes = self.isa.lanes();
        let nvec = g.cout / lanes;
        for row in rows {
            let (od, oh) = (row / g.out_dims[1], row % g.out_dims[1]);
            let nrows = tap_rows(g, od, oh, &mut row_list);
            let mut args = DwArgs {
                rows: &row_list[..nrows],
                in_off: 0,
                kw0: 0,
                nkw: kw_n,
                input: input.as_ptr(),
                w: self.w.as_ptr(),
                c: g.cout,
                nvec,
                x_step: g.stride[2] * g.cin,
                kw_step: g.dilation[2] * g.cin,
                bias,
                act,
                out,
                out_base: 0,
                out_step: map.strides[2],
                chan: map.chan.as_deref(),
            };
            let mut ow = 0;
            while ow < ow_n {
                let full = ow >= lo && ow + R <= hi;
                let (a, e) = if ow >= lo && ow < hi { (0, kw_n) } else { kw_range(g, ow) };
                let iw0 = (ow * g.stride[2] + a * g.dilation[2]).saturating_sub(g.pad[2]);
                args.in_off = if e > a { iw0 * g.cin } else { 0 };
                args.kw0 = if e > a { a } else { 0 };
                args.nkw = e - a;
                args.out_base = map.pixel(od, oh, ow);
                self.call(full, &args);
                self.tail_channels(g, &args, if full { R } else { 1 });
                ow += if full { R } else { 1 };
            }
        }
    }

    /// Channels past the last full vector, in scalar code.
    fn tail_channels(&self, g: &ConvGeom, a: &DwArgs, pixels: usize) {
        let lanes = self.isa.lanes();
        for p in 0..pixels {
            for c in a.nvec * lanes..g.cout {
                let mut acc = a.bias[c];
                for &(ro, tap) in a.rows {
                    for kw in 0..a.nkw {
                        let x = (ro + a.in_off) + p * a.x_step + kw * a.kw_step + c;
                        let w = (tap + a.kw0 + kw) * g.cout + c;
                        // SAFETY: `input` is the live input slice this call was given (len checked by the
                        // plan), and x is inside it by the tap clipping; see `run_rows`.
                        let xv = unsafe { *a.input.add(x) };
                        acc = xv.mul_add(self.w[w], acc);
                    }
                }
                let idx = a.out_base + p * a.out_step + a.chan.map_or(c, |t| t[c]);
                // SAFETY: this band's pixel, real channel: in bounds and disjoint from other bands.
                unsafe { a.out.write(idx, a.act.apply(acc)) };
            }
        }
    }

    #[inline]
    fn call(&self, full: bool, a: &DwArgs) {
        if a.nvec == 0 {
            return;
        }
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the plan's ISA was checked at build time, and the driver clipped rows and taps
            // so every address the block forms is inside the input, weights and this band's output.
            Isa::Avx512 => unsafe { avx512::run_block(full, a) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { avx2::run_block(full, a) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon => unsafe { neon::run_block(full, a) },
            _ => unreachable!("depthwise kernel planned for {:?}", self.isa),
        }
    }
}
