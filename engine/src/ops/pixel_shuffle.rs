//! Standalone depth-to-space (pixel shuffle), channels-last, CRD order.

use super::{batch, dims3};
use crate::error::{Result, check_len, invalid};

const OP: &str = "pixel_shuffle";

/// Depth-to-space over the last two spatial dims: input channel `c'·r² + i·r + j` of pixel
/// `(y, x)` goes to output pixel `(y·r + i, x·r + j)`, channel `c'` (PyTorch `PixelShuffle`,
/// ONNX `DepthToSpace` mode CRD). For a conv's output prefer the fused form
/// ([`crate::ConvSpec::pixel_shuffle`]), which saves this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelShuffle {
    rank: usize,
    in_dims: [usize; 3],
    c_in: usize,
    r: usize,
}

impl PixelShuffle {
    /// Plans a shuffle of factor `r` for `in_channels` channels (a multiple of `r²`) and
    /// spatial dims `input_dims` (2 or 3 dims; the last two are enlarged).
    pub fn new(in_channels: usize, r: usize, input_dims: &[usize]) -> Result<Self> {
        if input_dims.len() < 2 {
            return Err(invalid(OP, format!("needs 2 or 3 spatial dims, got {}", input_dims.len())));
        }
        let in_dims = dims3(OP, "input dims", input_dims, 1)?;
        if r == 0 || in_channels == 0 || !in_channels.is_multiple_of(r * r) {
            return Err(invalid(
                OP,
                format!("in_channels {in_channels} must be a positive multiple of r² = {}", r * r),
            ));
        }
        Ok(Self { rank: input_dims.len(), in_dims, c_in: in_channels, r })
    }

    /// Output channels: `in_channels / r²`.
    pub fn output_channels(&self) -> usize {
        self.c_in / (self.r * self.r)
    }

    /// Output spatial dims (the last two multiplied by `r`).
    pub fn output_dims(&self) -> Vec<usize> {
        let [d, h, w] = self.in_dims;
        let v = [d, h * self.r, w * self.r];
        v[3 - self.rank..].to_vec()
    }

    /// Elements of one input image.
    pub fn input_len(&self) -> usize {
        self.in_dims.iter().product::<usize>() * self.c_in
    }

    /// Elements of one output image (same as the input).
    pub fn output_len(&self) -> usize {
        self.input_len()
    }

    /// Shuffles `n ≥ 1` images.
    pub fn run(&self, input: &[f32], output: &mut [f32]) -> Result<()> {
        let n = batch(OP, "input", self.input_len(), input.len())?;
        check_len(OP, "output", n * self.output_len(), output.len())?;
        let [d_n, h_n, w_n] = self.in_dims;
        let (r, c_in) = (self.r, self.c_in);
        let c2 = self.output_channels();
        let out_row = w_n * r * c2;
        // One input row (d, y) becomes output rows y·r + i, i < r: r·out_row floats, contiguous.
        let rows = input.chunks_exact(w_n * c_in).zip(output.chunks_exact_mut(r * out_row));
        for (src, dst) in rows.take(n * d_n * h_n) {
            for (i, dst_row) in dst.chunks_exact_mut(out_row).enumerate() {
                for (x, px) in src.chunks_exact(c_in).enumerate() {
                    for j in 0..r {
                        let o = &mut dst_row[(x * r + j) * c2..(x * r + j + 1) * c2];
                        let first = i * r + j;
                        for (cp, v) in o.iter_mut().enumerate() {
                            *v = px[cp * r * r + first];
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
