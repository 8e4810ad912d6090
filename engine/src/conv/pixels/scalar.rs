//! Scalar twin of the pixels-in-lanes kernel: the same blocking, line buffer and shifted
//! windows with lanes emulated by arrays. It is what the SIMD tiers are tested against and
//! the fallback for a blocking no tier instantiates.

use super::store::store_tile;
use super::{MAX_TILE, RowJob};

/// Converts one channels-last row (`iw` pixels × `cin`) into `cin` planar rows of `rowlen`
/// floats: `pl` zeros, the pixels, then zeros.
pub(super) fn fill_row_planar(src: &[f32], dst: &mut [f32], cin: usize, rowlen: usize, pl: usize, iw: usize) {
    for ci in 0..cin {
        let d = &mut dst[ci * rowlen..][..rowlen];
        d[..pl].fill(0.0);
        for (x, v) in d[pl..pl + iw].iter_mut().enumerate() {
            *v = src[x * cin + ci];
        }
        d[pl + iw..].fill(0.0);
    }
}

/// Computes and stores every block of one output row.
pub(super) fn run_row(j: &RowJob) {
    let p = j.p;
    let rl = p.r * p.lanes;
    let mut acc = [0.0f32; MAX_TILE];
    for pb in 0..p.pxblocks {
        let x0 = pb * rl;
        for cb in 0..p.cblocks {
            let w = &p.w[cb * p.wblock..][..p.wblock];
            for c in 0..p.c {
                acc[c * rl..][..rl].fill(j.bias_of(cb, c));
            }
            for &(row_off, tap) in j.taps {
                for ci in 0..p.cin {
                    // The window of tap kw is the input shifted by kw·dw lanes.
                    let src = &j.buf[row_off + ci * p.rowlen + x0..];
                    let wt = &w[(tap * p.cin + ci) * p.k * p.c..][..p.k * p.c];
                    for kw in 0..p.k {
                        let sh = &src[kw * p.dw..][..rl];
                        for c in 0..p.c {
                            let wv = wt[kw * p.c + c];
                            for (a, x) in acc[c * rl..][..rl].iter_mut().zip(sh) {
                                *a += wv * x;
                            }
                        }
                    }
                }
            }
            for a in &mut acc[..p.c * rl] {
                *a = j.act.apply(*a);
            }
            store_tile(j, cb, x0, &acc, rl);
        }
    }
}
