//! A [`ConvNet`] built two ways, engine plans and im2col + GEMM, with the buffers between layers.

use super::im2col::{Im2colConv, Par, Workspace};
use super::workloads::ConvNet;
use sluice_engine::{Conv, Threads};

/// Engine plans for every layer, with scratch for up to `max_threads`.
pub struct EngineChain {
    pub plans: Vec<Conv>,
    scratch: Vec<f32>,
}

impl EngineChain {
    pub fn new(net: &ConvNet, max_threads: &Threads) -> Result<Self, sluice_engine::EngineError> {
        let plans = net
            .layers
            .iter()
            .map(|l| Conv::new(&l.spec, &l.in_dims, &l.weights, Some(&l.bias)))
            .collect::<Result<Vec<_>, _>>()?;
        let scratch = vec![0.0; plans.iter().map(|p| p.scratch_len(max_threads)).max().unwrap_or(0)];
        Ok(Self { plans, scratch })
    }

    /// Runs layer `i` alone.
    pub fn run_layer(&mut self, i: usize, input: &[f32], output: &mut [f32], t: &Threads) {
        if let Err(e) = self.plans[i].run(input, output, &mut self.scratch, t) {
            panic!("engine layer {i} failed: {e}");
        }
    }

    /// Runs every layer; `bufs[i]` receives layer `i`'s output.
    pub fn run_all(&mut self, input: &[f32], bufs: &mut [Vec<f32>], t: &Threads) {
        for i in 0..self.plans.len() {
            let (done, rest) = bufs.split_at_mut(i);
            let src = if i == 0 { input } else { &done[i - 1] };
            self.run_layer(i, src, &mut rest[0], t);
        }
    }
}

/// The same layers as im2col + GEMM, sharing one workspace.
pub struct BaselineChain {
    pub layers: Vec<Im2colConv>,
    pub ws: Workspace,
}

impl BaselineChain {
    /// Baseline layers for `net` (`only`: just that layer, so its workspace is sized for it alone).
    pub fn new(net: &ConvNet, only: Option<usize>) -> Self {
        let layers: Vec<_> = net
            .layers
            .iter()
            .enumerate()
            .filter(|(i, _)| only.is_none_or(|o| o == *i))
            .map(|(_, l)| Im2colConv::new(&l.spec, &l.in_dims, &l.weights, &l.bias))
            .collect();
        let ws = Workspace::new(&layers);
        Self { layers, ws }
    }

    pub fn run_layer(&mut self, i: usize, input: &[f32], output: &mut [f32], par: &Par) {
        self.layers[i].run(input, output, &mut self.ws, par);
    }

    pub fn run_all(&mut self, input: &[f32], bufs: &mut [Vec<f32>], par: &Par) {
        for i in 0..self.layers.len() {
            let (done, rest) = bufs.split_at_mut(i);
            let src = if i == 0 { input } else { &done[i - 1] };
            self.run_layer(i, src, &mut rest[0], par);
        }
    }
}

/// Output buffers for every layer of `chain`, written once so their pages are resident.
pub fn output_bufs(plans: &[Conv]) -> Vec<Vec<f32>> {
    plans.iter().map(|p| touched(p.output_len())).collect()
}

/// A vector of `n` floats whose pages are all resident (not just reserved by calloc).
pub fn touched(n: usize) -> Vec<f32> {
    vec![1.0f32; n]
}
