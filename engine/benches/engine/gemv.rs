//! GEMV-shaped baselines for the audio path (GRU step, grouped linear) with the `gemm` crate:
//! what the engine's `Gru` and `GroupedLinear` plans are measured against.

use super::im2col::{activate, gemv};
use super::workloads::uniform;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sluice_engine::Activation;

/// A GRU cell with ONNX weights (gate blocks z, r, h; `W` `[3H][I]`, `R` `[3H][H]`, biases
/// `Wb`, `Rb` `[3H]`) and `linear_before_reset = 1` (PyTorch, DeepFilterNet3), so the engine's
/// `Gru` plan can be built from the same tensors and checked against it. The matrices are
/// transposed once to `[I][3H]` so each step is two row-major GEMVs.
pub struct GruBaseline {
    pub hidden: usize,
    /// ONNX tensors, as an engine plan takes them.
    pub w: Vec<f32>,
    pub r: Vec<f32>,
    pub wb: Vec<f32>,
    pub rb: Vec<f32>,
    w_t: Vec<f32>,
    r_t: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
}

fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

impl GruBaseline {
    /// A seeded `input → hidden` GRU.
    pub fn new(input: usize, hidden: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(31);
        let b = 1.0 / (hidden as f32).sqrt();
        let w = uniform(&mut rng, 3 * hidden * input, b);
        let r = uniform(&mut rng, 3 * hidden * hidden, b);
        let (wb, rb) = (uniform(&mut rng, 3 * hidden, b), uniform(&mut rng, 3 * hidden, b));
        let (w_t, r_t) = (transpose(&w, 3 * hidden, input), transpose(&r, 3 * hidden, hidden));
        Self { hidden, w, r, wb, rb, w_t, r_t, gx: vec![0.0; 3 * hidden], gh: vec![0.0; 3 * hidden] }
    }

    /// FLOPs of one step's two GEMVs (gate arithmetic not counted).
    pub fn flops(&self) -> u64 {
        2 * (self.w.len() + self.r.len()) as u64
    }

    /// One step: `h ← GRU(x, h)`.
    pub fn step(&mut self, x: &[f32], h: &mut [f32]) {
        let n = self.hidden;
        gemv(x, &self.w_t, &self.wb, &mut self.gx);
        gemv(h, &self.r_t, &self.rb, &mut self.gh);
        let (gx, gh) = (&mut self.gx, &self.gh);
        for (a, b) in gx[..2 * n].iter_mut().zip(&gh[..2 * n]) {
            *a += b;
        }
        activate(Activation::Sigmoid, &mut gx[..2 * n]);
        // z = gx[..n], r = gx[n..2n]; candidate ĥ = tanh(W_h x + Wb_h + r ⊙ (R_h h + Rb_h)).
        let (zr, hh) = gx.split_at_mut(2 * n);
        for ((v, r), rh) in hh.iter_mut().zip(&zr[n..]).zip(&gh[2 * n..]) {
            *v += r * rh;
        }
        activate(Activation::Tanh, hh);
        for ((hv, z), c) in h.iter_mut().zip(&zr[..n]).zip(hh.iter()) {
            *hv = (1.0 - z) * c + z * *hv;
        }
    }
}

/// A grouped linear layer: `G` independent `in/G → out/G` GEMVs, weights `[G][in_g][out_g]`.
pub struct GroupedLinearBaseline {
    pub groups: usize,
    /// `[G][in_g][out_g]` and `[G·out_g]`, as the engine's `GroupedLinear` takes them.
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

impl GroupedLinearBaseline {
    /// A seeded `input → output` layer in `groups` groups.
    pub fn new(input: usize, output: usize, groups: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(41);
        let bound = 1.0 / ((input / groups) as f32).sqrt();
        Self { groups, w: uniform(&mut rng, input * output / groups, bound), b: uniform(&mut rng, output, bound) }
    }

    /// FLOPs of one call.
    pub fn flops(&self) -> u64 {
        2 * self.w.len() as u64
    }

    /// `y = x · W + b`, group by group.
    pub fn run(&self, x: &[f32], y: &mut [f32]) {
        let (ig, og) = (x.len() / self.groups, y.len() / self.groups);
        for g in 0..self.groups {
            gemv(
                &x[g * ig..][..ig],
                &self.w[g * ig * og..][..ig * og],
                &self.b[g * og..][..og],
                &mut y[g * og..][..og],
            );
        }
    }
}
