//! GEMV-shaped baselines for the audio path (GRU step, grouped linear) with the `gemm` crate:
//! what the engine's `Gru` and `GroupedLinear` plans are measured against.

use super::im2col::{activate, gemv};
use super::workloads::uniform;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sluice_engine::Activation;

/// A GRU cell (PyTorch gate order r, z, n), weights `[in][3H]` so each step is two GEMVs.
pub struct GruBaseline {
    pub hidden: usize,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
}

impl GruBaseline {
    /// A seeded `input → hidden` GRU.
    pub fn new(input: usize, hidden: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(31);
        let b = 1.0 / (hidden as f32).sqrt();
        Self {
            hidden,
            w_ih: uniform(&mut rng, input * 3 * hidden, b),
            w_hh: uniform(&mut rng, hidden * 3 * hidden, b),
            b_ih: uniform(&mut rng, 3 * hidden, b),
            b_hh: uniform(&mut rng, 3 * hidden, b),
            gx: vec![0.0; 3 * hidden],
            gh: vec![0.0; 3 * hidden],
        }
    }

    /// FLOPs of one step's two GEMVs (gate arithmetic not counted).
    pub fn flops(&self) -> u64 {
        2 * (self.w_ih.len() + self.w_hh.len()) as u64
    }

    /// One step: `h ← GRU(x, h)`.
    pub fn step(&mut self, x: &[f32], h: &mut [f32]) {
        let n = self.hidden;
        gemv(x, &self.w_ih, &self.b_ih, &mut self.gx);
        gemv(h, &self.w_hh, &self.b_hh, &mut self.gh);
        let (gx, gh) = (&mut self.gx, &self.gh);
        for (a, b) in gx[..2 * n].iter_mut().zip(&gh[..2 * n]) {
            *a += b;
        }
        activate(Activation::Sigmoid, &mut gx[..2 * n]);
        let (rz, nn) = gx.split_at_mut(2 * n);
        for ((v, r), hn) in nn.iter_mut().zip(&rz[..n]).zip(&gh[2 * n..]) {
            *v += r * hn;
        }
        activate(Activation::Tanh, nn);
        for ((hv, z), v) in h.iter_mut().zip(&rz[n..]).zip(nn.iter()) {
            *hv = (1.0 - z) * v + z * *hv;
        }
    }
}

/// A grouped linear layer: `G` independent `in/G → out/G` GEMVs, weights `[G][in_g][out_g]`.
pub struct GroupedLinearBaseline {
    pub groups: usize,
    w: Vec<f32>,
    b: Vec<f32>,
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
