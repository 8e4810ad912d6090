//! Scalar reference convolution: direct loops, any geometry. Always compiled; it is the
//! `SLUICE_ISA=scalar` tier and the fallback for shapes no vector kernel covers.

use super::geom::{ConvGeom, OutMap};
use crate::activation::Activation;
use crate::outptr::OutPtr;
use std::ops::Range;

/// Output channels accumulated at once (a stack buffer; no heap in `run`).
const BLOCK: usize = 64;

/// Weights packed `[group][tap][ci_g][co_g]` so the innermost loop runs over output channels.
#[derive(Debug, Clone)]
pub(crate) struct RefPacked {
    w: Vec<f32>,
}

impl RefPacked {
    pub fn new(g: &ConvGeom, weights: &[f32]) -> Self {
        let taps = g.taps();
        let mut w = vec![0.0; weights.len()];
        for co in 0..g.cout {
            let (grp, col) = (co / g.cout_g, co % g.cout_g);
            for ci in 0..g.cin_g {
                for t in 0..taps {
                    w[((grp * taps + t) * g.cin_g + ci) * g.cout_g + col] = weights[(co * g.cin_g + ci) * taps + t];
                }
            }
        }
        Self { w }
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
        let taps = g.taps();
        let [_, oh_n, ow_n] = g.out_dims;
        let [id_n, ih_n, iw_n] = g.in_dims;
        let mut acc = [0.0f32; BLOCK];
        for row in rows {
            let (od, oh) = (row / oh_n, row % oh_n);
            for ow in 0..ow_n {
                let base = map.pixel(od, oh, ow);
                for grp in 0..g.groups {
                    let mut cb = 0;
                    while cb < g.cout_g {
                        let nb = (g.cout_g - cb).min(BLOCK);
                        let c0 = grp * g.cout_g + cb;
                        acc[..nb].copy_from_slice(&bias[c0..c0 + nb]);
                        for kd in 0..g.kernel[0] {
                            let Some(id) = tap_pos(od, kd, 0, g, id_n) else { continue };
                            for kh in 0..g.kernel[1] {
                                let Some(ih) = tap_pos(oh, kh, 1, g, ih_n) else { continue };
                                for kw in 0..g.kernel[2] {
                                    let Some(iw) = tap_pos(ow, kw, 2, g, iw_n) else { continue };
                                    let t = (kd * g.kernel[1] + kh) * g.kernel[2] + kw;
                                    let ib = ((id * ih_n + ih) * iw_n + iw) * g.cin + grp * g.cin_g;
                                    for ci in 0..g.cin_g {
                                        let x = input[ib + ci];
                                        let wb = ((grp * taps + t) * g.cin_g + ci) * g.cout_g + cb;
                                        for (a, w) in acc[..nb].iter_mut().zip(&self.w[wb..wb + nb]) {
                                            *a = x.mul_add(*w, *a);
                                        }
                                    }
                                }
                            }
                        }
                        for (j, a) in acc[..nb].iter().enumerate() {
                            let c = c0 + j;
                            let off = map.chan.as_ref().map_or(c, |t| t[c]);
                            // SAFETY: (od, oh) is in this band's rows, so the index is ours alone;
                            // the map only produces in-bounds indices for in-range pixels.
                            unsafe { out.write(base + off, act.apply(*a)) };
                        }
                        cb += nb;
                    }
                }
            }
        }
    }
}

/// Input position for output `o`, tap `k` on `axis`, or `None` if it falls in the padding.
#[inline(always)]
fn tap_pos(o: usize, k: usize, axis: usize, g: &ConvGeom, n: usize) -> Option<usize> {
    let p = (o * g.stride[axis] + k * g.dilation[axis]).checked_sub(g.pad[axis])?;
    (p < n).then_some(p)
}
