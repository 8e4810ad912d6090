//! Concatenation along channels, channels-last.

use super::{batch, dims3};
use crate::error::{EngineError, Result, check_len, invalid};

const OP: &str = "concat";

/// Concatenates N tensors of the same spatial size along channels: output pixel `p` holds
/// input 0's channels, then input 1's, … (ONNX `Concat` on the channel axis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concat {
    channels: Vec<usize>,
    total: usize,
    pixels: usize,
}

impl Concat {
    /// Plans a concatenation of inputs with `channels[i]` channels (each ≥ 1, at least one
    /// input) over `spatial_dims` (1–3 dims).
    pub fn new(channels: &[usize], spatial_dims: &[usize]) -> Result<Self> {
        if channels.is_empty() || channels.contains(&0) {
            return Err(invalid(OP, format!("needs at least one input, each with ≥ 1 channel, got {channels:?}")));
        }
        let pixels = dims3(OP, "spatial dims", spatial_dims, 1)?.iter().product();
        Ok(Self { channels: channels.to_vec(), total: channels.iter().sum(), pixels })
    }

    /// Output channels (the sum of the inputs').
    pub fn output_channels(&self) -> usize {
        self.total
    }

    /// Elements of one image of input `i` (`None` if there is no input `i`).
    pub fn input_len(&self, i: usize) -> Option<usize> {
        self.channels.get(i).map(|c| c * self.pixels)
    }

    /// Elements of one output image.
    pub fn output_len(&self) -> usize {
        self.total * self.pixels
    }

    /// Concatenates `n ≥ 1` images: `inputs[i]` holds `n` images of input `i`.
    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) -> Result<()> {
        if inputs.len() != self.channels.len() {
            return Err(EngineError::BufferLength {
                op: OP,
                buffer: "inputs (count)",
                expected: self.channels.len(),
                got: inputs.len(),
            });
        }
        let n = batch(OP, "output", self.output_len(), output.len())?;
        for (x, c) in inputs.iter().zip(&self.channels) {
            check_len(OP, "input", n * c * self.pixels, x.len())?;
        }
        let mut off = 0;
        for (x, &c) in inputs.iter().zip(&self.channels) {
            for (src, dst) in x.chunks_exact(c).zip(output.chunks_exact_mut(self.total)) {
                dst[off..off + c].copy_from_slice(src);
            }
            off += c;
        }
        Ok(())
    }
}
