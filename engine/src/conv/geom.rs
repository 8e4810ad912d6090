//! Validated, rank-normalised geometry of a convolution, shared by every kernel.

use super::spec::ConvSpec;
use crate::error::{EngineError, Result, invalid};

/// Geometry with every spatial vector normalised to 3 dims `[D, H, W]` (missing outer dims = 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub rank: usize,
    pub cin: usize,
    pub cout: usize,
    pub groups: usize,
    pub cin_g: usize,
    pub cout_g: usize,
    pub in_dims: [usize; 3],
    pub out_dims: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    pub pad: [usize; 3],
    pub shuffle: usize,
}

impl ConvGeom {
    pub fn new(op: &'static str, spec: &ConvSpec, input_dims: &[usize]) -> Result<Self> {
        let rank = spec.rank();
        if !(1..=3).contains(&rank) {
            return Err(invalid(op, format!("rank must be 1, 2 or 3, got {rank} kernel dims")));
        }
        for (name, v) in [
            ("stride", &spec.stride),
            ("dilation", &spec.dilation),
            ("pad_begin", &spec.pad_begin),
            ("pad_end", &spec.pad_end),
            ("input dims", &input_dims.to_vec()),
        ] {
            if v.len() != rank {
                return Err(invalid(op, format!("{name} has {} dims, kernel has {rank}", v.len())));
            }
        }
        if spec.in_channels == 0 || spec.out_channels == 0 || spec.groups == 0 {
            return Err(invalid(op, "channel and group counts must be at least 1"));
        }
        if !spec.in_channels.is_multiple_of(spec.groups) || !spec.out_channels.is_multiple_of(spec.groups) {
            return Err(invalid(
                op,
                format!(
                    "groups {} must divide in_channels {} and out_channels {}",
                    spec.groups, spec.in_channels, spec.out_channels
                ),
            ));
        }
        if spec.kernel.contains(&0) || spec.stride.contains(&0) || spec.dilation.contains(&0) {
            return Err(invalid(op, "kernel, stride and dilation must be at least 1"));
        }
        if input_dims.contains(&0) {
            return Err(invalid(op, "input dims must be at least 1"));
        }
        let r = spec.pixel_shuffle;
        if r == 0 || (r > 1 && (rank < 2 || !spec.out_channels.is_multiple_of(r * r))) {
            return Err(invalid(
                op,
                format!("pixel shuffle {r} needs rank >= 2 and out_channels divisible by {}", r * r),
            ));
        }
        let norm = |v: &[usize], fill: usize| -> [usize; 3] {
            let mut a = [fill; 3];
            a[3 - rank..].copy_from_slice(v);
            a
        };
        let kernel = norm(&spec.kernel, 1);
        let stride = norm(&spec.stride, 1);
        let dilation = norm(&spec.dilation, 1);
        let pad = norm(&spec.pad_begin, 0);
        let pad_end = norm(&spec.pad_end, 0);
        let in_dims = norm(input_dims, 1);
        let mut out_dims = [1; 3];
        for a in 0..3 {
            let span = dilation[a] * (kernel[a] - 1) + 1;
            let padded = in_dims[a] + pad[a] + pad_end[a];
            if padded < span {
                return Err(invalid(
                    op,
                    format!("axis {a}: padded input {padded} is smaller than the dilated kernel {span}"),
                ));
            }
            out_dims[a] = (padded - span) / stride[a] + 1;
        }
        Ok(Self {
            rank,
            cin: spec.in_channels,
            cout: spec.out_channels,
            groups: spec.groups,
            cin_g: spec.in_channels / spec.groups,
            cout_g: spec.out_channels / spec.groups,
            in_dims,
            out_dims,
            kernel,
            stride,
            dilation,
            pad,
            shuffle: r,
        })
    }

    /// Elements of one input image.
    pub fn input_len(&self) -> usize {
        self.in_dims.iter().product::<usize>() * self.cin
    }

    /// Elements of one output image (shuffle does not change the count).
    pub fn output_len(&self) -> usize {
        self.out_dims.iter().product::<usize>() * self.cout
    }

    /// Output rows: (od, oh) pairs, the unit of band splitting.
    pub fn rows(&self) -> usize {
        self.out_dims[0] * self.out_dims[1]
    }

    /// Multiply-adds of one image, times two.
    pub fn flops(&self) -> u64 {
        2 * (self.output_len() as u64) * (self.cin_g * self.kernel.iter().product::<usize>()) as u64
    }

    /// Number of kernel taps.
    pub fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Output spatial dims as the caller sees them (after pixel shuffle), at the spec's rank.
    pub fn user_out_dims(&self) -> Vec<usize> {
        let mut d = self.out_dims;
        d[1] *= self.shuffle;
        d[2] *= self.shuffle;
        d[3 - self.rank..].to_vec()
    }

    /// Output channels as the caller sees them (after pixel shuffle).
    pub fn user_out_channels(&self) -> usize {
        self.cout / (self.shuffle * self.shuffle)
    }

    /// Range of output positions along `axis` whose taps all fall inside the input
    /// (no padding touched): `lo..hi`, possibly empty.
    pub fn interior(&self, axis: usize) -> (usize, usize) {
        let (p, s, d, k, n, o) = (
            self.pad[axis],
            self.stride[axis],
            self.dilation[axis],
            self.kernel[axis],
            self.in_dims[axis],
            self.out_dims[axis],
        );
        // first o with o*s >= p
        let lo = p.div_ceil(s).min(o);
        // last o with o*s - p + d*(k-1) <= n-1  →  o*s <= n-1+p-d(k-1)
        let span = d * (k - 1);
        let hi = if n - 1 + p >= span { ((n - 1 + p - span) / s + 1).min(o) } else { 0 };
        (lo, hi.max(lo))
    }

    /// Checks a weight tensor's length.
    pub fn check_weights(&self, op: &'static str, weights: &[f32], bias: Option<&[f32]>) -> Result<()> {
        let expected = self.cout * self.cin_g * self.taps();
        if weights.len() != expected {
            return Err(EngineError::WeightShape { op, tensor: "weights", expected, got: weights.len() });
        }
        if let Some(b) = bias
            && b.len() != self.cout
        {
            return Err(EngineError::WeightShape { op, tensor: "bias", expected: self.cout, got: b.len() });
        }
        Ok(())
    }
}

/// Where each output element goes: `offset + od·strides[0] + oh·strides[1] + ow·strides[2] + chan[c]`.
/// Plain convs write contiguous channels-last; pixel shuffle and transposed-conv phases write
/// through a channel table and/or strided pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutMap {
    pub offset: usize,
    pub strides: [usize; 3],
    /// `None` = channel c at +c (contiguous); `Some(t)` = channel c at +t[c].
    pub chan: Option<Vec<usize>>,
}

impl OutMap {
    /// Contiguous channels-last output of `g`, with the pixel shuffle applied if any.
    pub fn for_geom(g: &ConvGeom) -> Self {
        let [_, oh, ow] = g.out_dims;
        let r = g.shuffle;
        if r == 1 {
            return Self { offset: 0, strides: [oh * ow * g.cout, ow * g.cout, g.cout], chan: None };
        }
        let c2 = g.cout / (r * r);
        let row = ow * r * c2; // elements in one output row after shuffle
        let chan = (0..g.cout)
            .map(|c| {
                let (cp, sub) = (c / (r * r), c % (r * r));
                let (i, j) = (sub / r, sub % r);
                i * row + j * c2 + cp
            })
            .collect();
        Self { offset: 0, strides: [oh * r * row, r * row, r * c2], chan: Some(chan) }
    }

    /// Index of output pixel (od, oh, ow), channel 0 base.
    #[inline]
    pub fn pixel(&self, od: usize, oh: usize, ow: usize) -> usize {
        self.offset + od * self.strides[0] + oh * self.strides[1] + ow * self.strides[2]
    }

    /// Whether channels are stored contiguously (vector stores allowed).
    pub fn contiguous(&self) -> bool {
        self.chan.is_none()
    }
}
