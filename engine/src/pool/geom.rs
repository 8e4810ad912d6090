//! Validated, rank-normalised geometry of a pooling layer.

use super::spec::PoolSpec;
use crate::error::{Result, invalid};

/// Geometry with every spatial vector normalised to 3 dims `[D, H, W]` (missing outer dims = 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    pub rank: usize,
    pub c: usize,
    pub in_dims: [usize; 3],
    pub out_dims: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub pad: [usize; 3],
}

impl PoolGeom {
    pub fn new(op: &'static str, spec: &PoolSpec, input_dims: &[usize]) -> Result<Self> {
        let rank = spec.rank();
        if !(1..=3).contains(&rank) {
            return Err(invalid(op, format!("rank must be 1, 2 or 3, got {rank} kernel dims")));
        }
        for (name, v) in [
            ("stride", spec.stride.as_slice()),
            ("pad_begin", spec.pad_begin.as_slice()),
            ("pad_end", spec.pad_end.as_slice()),
            ("input dims", input_dims),
        ] {
            if v.len() != rank {
                return Err(invalid(op, format!("{name} has {} dims, kernel has {rank}", v.len())));
            }
        }
        if spec.channels == 0 {
            return Err(invalid(op, "channels must be at least 1"));
        }
        if spec.kernel.contains(&0) || spec.stride.contains(&0) {
            return Err(invalid(
                op,
                format!("kernel {:?} and stride {:?} must be at least 1", spec.kernel, spec.stride),
            ));
        }
        if input_dims.contains(&0) {
            return Err(invalid(op, format!("input dims {input_dims:?} must be at least 1")));
        }
        let norm = |v: &[usize], fill: usize| -> [usize; 3] {
            let mut a = [fill; 3];
            a[3 - rank..].copy_from_slice(v);
            a
        };
        let kernel = norm(&spec.kernel, 1);
        let stride = norm(&spec.stride, 1);
        let pad = norm(&spec.pad_begin, 0);
        let pad_end = norm(&spec.pad_end, 0);
        let in_dims = norm(input_dims, 1);
        let mut out_dims = [1; 3];
        for a in 0..3 {
            let padded = in_dims[a] + pad[a] + pad_end[a];
            if padded < kernel[a] {
                return Err(invalid(
                    op,
                    format!("axis {a}: padded input {padded} is smaller than the window {}", kernel[a]),
                ));
            }
            out_dims[a] = (padded - kernel[a]) / stride[a] + 1;
        }
        Ok(Self { rank, c: spec.channels, in_dims, out_dims, kernel, stride, pad })
    }

    /// Elements of one input image.
    pub fn input_len(&self) -> usize {
        self.in_dims.iter().product::<usize>() * self.c
    }

    /// Elements of one output image.
    pub fn output_len(&self) -> usize {
        self.out_dims.iter().product::<usize>() * self.c
    }

    /// Output rows: (od, oh) pairs, the unit of band splitting.
    pub fn rows(&self) -> usize {
        self.out_dims[0] * self.out_dims[1]
    }

    /// Input positions `lo..hi` covered by output `o`'s window on `axis`, clipped to the input.
    pub fn taps(&self, axis: usize, o: usize) -> (usize, usize) {
        let start = (o * self.stride[axis]) as isize - self.pad[axis] as isize;
        let end = start + self.kernel[axis] as isize;
        let n = self.in_dims[axis] as isize;
        let lo = start.clamp(0, n) as usize;
        let hi = end.clamp(0, n) as usize;
        (lo, hi.max(lo))
    }
}
