//! Scalar reference tier: one panel as wide as the layer (`[k][n]` per group), plain loops.
//! The output row itself is the accumulator, so no scratch is needed.

use super::pack::Packed;
use crate::activation::Activation;

/// Runs `y[M][G·n] = act(x[M][G·k] · blockdiag(W) + b)`; `p` packed with one lane, one panel.
pub(crate) fn run(p: &Packed, act: Activation, x: &[f32], y: &mut [f32], m: usize) {
    let (g, k, n) = (p.groups, p.k, p.n);
    debug_assert_eq!(p.padded_n, n);
    for (xr, yr) in x.chunks_exact(g * k).zip(y.chunks_exact_mut(g * n)).take(m) {
        for gi in 0..g {
            let (xs, ys) = (&xr[gi * k..][..k], &mut yr[gi * n..][..n]);
            let w = &p.w[gi * k * n..][..k * n];
            ys.fill(0.0);
            for (xv, wrow) in xs.iter().zip(w.chunks_exact(n)) {
                for (acc, wv) in ys.iter_mut().zip(wrow) {
                    *acc += xv * wv;
                }
            }
            for (acc, b) in ys.iter_mut().zip(&p.bias[gi * n..][..n]) {
                *acc = act.apply(*acc + b);
            }
        }
    }
}
