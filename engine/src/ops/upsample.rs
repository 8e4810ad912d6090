//! Nearest-neighbour upsampling by integer factors, channels-last.

use super::{batch, dims3};
use crate::error::{Result, check_len, invalid};

const OP: &str = "upsample";

/// Nearest upsampling: output pixel `(z, y, x)` copies input pixel `(z/fd, y/fh, x/fw)`
/// (ONNX `Resize` nearest with integer scales, `asymmetric` + `floor`; Keras `UpSampling3D`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsample {
    rank: usize,
    c: usize,
    in_dims: [usize; 3],
    factors: [usize; 3],
}

impl Upsample {
    /// Plans upsampling of `channels` channels by `factors` (one per spatial dim, ≥ 1) for
    /// inputs of spatial size `input_dims`.
    pub fn new(channels: usize, factors: &[usize], input_dims: &[usize]) -> Result<Self> {
        if factors.len() != input_dims.len() {
            return Err(invalid(OP, format!("{} factors for {} spatial dims", factors.len(), input_dims.len())));
        }
        if channels == 0 {
            return Err(invalid(OP, "channels must be at least 1"));
        }
        let in_dims = dims3(OP, "input dims", input_dims, 1)?;
        let factors = dims3(OP, "factors", factors, 1)?;
        Ok(Self { rank: input_dims.len(), c: channels, in_dims, factors })
    }

    /// Output spatial dims.
    pub fn output_dims(&self) -> Vec<usize> {
        let v: Vec<usize> = (0..3).map(|a| self.in_dims[a] * self.factors[a]).collect();
        v[3 - self.rank..].to_vec()
    }

    /// Elements of one input image.
    pub fn input_len(&self) -> usize {
        self.in_dims.iter().product::<usize>() * self.c
    }

    /// Elements of one output image.
    pub fn output_len(&self) -> usize {
        self.input_len() * self.factors.iter().product::<usize>()
    }

    /// Upsamples `n ≥ 1` images. Each output row is built once from its input row; repeated
    /// rows and planes are copies of it.
    pub fn run(&self, input: &[f32], output: &mut [f32]) -> Result<()> {
        let n = batch(OP, "input", self.input_len(), input.len())?;
        check_len(OP, "output", n * self.output_len(), output.len())?;
        let [d_n, h_n, w_n] = self.in_dims;
        let [fd, fh, fw] = self.factors;
        let c = self.c;
        let out_row = w_n * fw * c;
        let out_plane = h_n * fh * out_row;
        let planes = input.chunks_exact(h_n * w_n * c).zip(output.chunks_exact_mut(fd * out_plane));
        for (src, dst) in planes.take(n * d_n) {
            let (first_plane, rest_planes) = dst.split_at_mut(out_plane);
            for (row, drows) in src.chunks_exact(w_n * c).zip(first_plane.chunks_exact_mut(fh * out_row)) {
                let (first_row, rest_rows) = drows.split_at_mut(out_row);
                if c == 1 {
                    for (o, v) in first_row.chunks_exact_mut(fw).zip(row) {
                        o.fill(*v);
                    }
                } else {
                    for (o, px) in first_row.chunks_exact_mut(fw * c).zip(row.chunks_exact(c)) {
                        for dpx in o.chunks_exact_mut(c) {
                            dpx.copy_from_slice(px);
                        }
                    }
                }
                for r in rest_rows.chunks_exact_mut(out_row) {
                    r.copy_from_slice(first_row);
                }
            }
            for p in rest_planes.chunks_exact_mut(out_plane) {
                p.copy_from_slice(first_plane);
            }
        }
        Ok(())
    }
}
