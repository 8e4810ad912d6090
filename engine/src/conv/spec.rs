//! The public description of a convolution layer.

use crate::activation::Activation;

/// A convolution layer (cross-correlation, as in ONNX/PyTorch), 1-, 2- or 3-D.
///
/// Spatial vectors (`kernel`, `stride`, ...) are outermost first: `[W]`, `[H, W]` or
/// `[D, H, W]`. Weights are laid out `[Cout][Cin/groups][k0][k1][k2]` (ONNX/PyTorch order);
/// activations are channels-last (`[D][H][W][C]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (before any pixel shuffle).
    pub out_channels: usize,
    /// Kernel size per spatial dim.
    pub kernel: Vec<usize>,
    /// Stride per spatial dim.
    pub stride: Vec<usize>,
    /// Dilation per spatial dim.
    pub dilation: Vec<usize>,
    /// Zero padding before the first element, per spatial dim.
    pub pad_begin: Vec<usize>,
    /// Zero padding after the last element, per spatial dim.
    pub pad_end: Vec<usize>,
    /// Channel groups (`in_channels` for depthwise).
    pub groups: usize,
    /// Activation fused into the store.
    pub activation: Activation,
    /// Sub-pixel (depth-to-space, CRD order) factor fused into the store over the last two
    /// spatial dims; 1 = none. Output channel `c'·r² + i·r + j` lands at `(y·r+i, x·r+j, c')`.
    pub pixel_shuffle: usize,
}

impl ConvSpec {
    /// A stride-1, undilated, unpadded, ungrouped convolution with identity activation.
    pub fn new(in_channels: usize, out_channels: usize, kernel: &[usize]) -> Self {
        let rank = kernel.len();
        Self {
            in_channels,
            out_channels,
            kernel: kernel.to_vec(),
            stride: vec![1; rank],
            dilation: vec![1; rank],
            pad_begin: vec![0; rank],
            pad_end: vec![0; rank],
            groups: 1,
            activation: Activation::Identity,
            pixel_shuffle: 1,
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: &[usize]) -> Self {
        self.stride = stride.to_vec();
        self
    }

    /// Sets the dilation.
    pub fn dilation(mut self, dilation: &[usize]) -> Self {
        self.dilation = dilation.to_vec();
        self
    }

    /// Sets asymmetric zero padding.
    pub fn padding(mut self, begin: &[usize], end: &[usize]) -> Self {
        self.pad_begin = begin.to_vec();
        self.pad_end = end.to_vec();
        self
    }

    /// Symmetric "same" padding for odd kernels at stride 1: `d·(k−1)/2` on each side.
    pub fn same_padding(mut self) -> Self {
        self.pad_begin = self.kernel.iter().zip(&self.dilation).map(|(k, d)| d * (k - 1) / 2).collect();
        self.pad_end = self.kernel.iter().zip(&self.dilation).map(|(k, d)| d * (k - 1) - d * (k - 1) / 2).collect();
        self
    }

    /// Causal padding along the outermost (time) axis: `d·(k−1)` frames before, none after.
    pub fn causal_time(mut self) -> Self {
        if let (Some(k), Some(d)) = (self.kernel.first(), self.dilation.first()) {
            self.pad_begin[0] = d * (k.saturating_sub(1));
            self.pad_end[0] = 0;
        }
        self
    }

    /// Sets the group count.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Sets the fused activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Fuses a pixel shuffle of factor `r` into the store.
    pub fn pixel_shuffle(mut self, r: usize) -> Self {
        self.pixel_shuffle = r;
        self
    }

    /// Number of spatial dims.
    pub fn rank(&self) -> usize {
        self.kernel.len()
    }

    /// Weight element count: `Cout · Cin/groups · Πk`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * (self.in_channels / self.groups.max(1)) * self.kernel.iter().product::<usize>()
    }
}
