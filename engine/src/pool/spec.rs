//! The public description of a pooling layer.

/// What a pooling window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// Largest element of the window; padding is −∞ (never chosen unless the window is all padding).
    Max,
    /// Mean of the window; padding is 0. The divisor depends on [`PoolSpec::count_include_pad`].
    Avg,
}

/// How the sliding window is evaluated along each axis. All methods give the same result
/// (up to f32 rounding order for `Avg`); they differ only in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WindowMethod {
    /// Pick per axis from the window and stride: direct for windows ≤ 5 or stride ≥ window.
    #[default]
    Auto,
    /// `w − 1` operations per output: best for tiny windows and stride ≥ window.
    Direct,
    /// Block prefix/suffix scans (van Herk / Gil-Werman): ~3 operations per output whatever
    /// the window. Used along H and along W when channels fill the vector lanes.
    PrefixSuffix,
}

/// A max or average pooling layer, 1-, 2- or 3-D, on channels-last data (`[D][H][W][C]`).
///
/// Spatial vectors (`kernel`, `stride`, ...) are outermost first: `[W]`, `[H, W]` or `[D, H, W]`,
/// as in [`crate::ConvSpec`]. Defaults follow ONNX: stride 1, no padding, `count_include_pad = false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// Max or average.
    pub kind: PoolKind,
    /// Channels (innermost, unchanged by pooling).
    pub channels: usize,
    /// Window size per spatial dim.
    pub kernel: Vec<usize>,
    /// Stride per spatial dim.
    pub stride: Vec<usize>,
    /// Padding before the first element, per spatial dim.
    pub pad_begin: Vec<usize>,
    /// Padding after the last element, per spatial dim.
    pub pad_end: Vec<usize>,
    /// Average only: divide by the full window size (true) or by the number of taps that fall
    /// inside the input (false, the ONNX default). A window entirely in padding averages to 0.
    pub count_include_pad: bool,
    /// Evaluation method (speed only).
    pub method: WindowMethod,
}

impl PoolSpec {
    fn new(kind: PoolKind, channels: usize, kernel: &[usize]) -> Self {
        let rank = kernel.len();
        Self {
            kind,
            channels,
            kernel: kernel.to_vec(),
            stride: vec![1; rank],
            pad_begin: vec![0; rank],
            pad_end: vec![0; rank],
            count_include_pad: false,
            method: WindowMethod::Auto,
        }
    }

    /// Max pooling of `channels` channels with window `kernel`, stride 1, no padding.
    pub fn max(channels: usize, kernel: &[usize]) -> Self {
        Self::new(PoolKind::Max, channels, kernel)
    }

    /// Average pooling of `channels` channels with window `kernel`, stride 1, no padding.
    pub fn avg(channels: usize, kernel: &[usize]) -> Self {
        Self::new(PoolKind::Avg, channels, kernel)
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: &[usize]) -> Self {
        self.stride = stride.to_vec();
        self
    }

    /// Sets asymmetric padding.
    pub fn padding(mut self, begin: &[usize], end: &[usize]) -> Self {
        self.pad_begin = begin.to_vec();
        self.pad_end = end.to_vec();
        self
    }

    /// "Same" padding for stride 1: `(k−1)/2` before and the rest after, per dim.
    pub fn same_padding(mut self) -> Self {
        self.pad_begin = self.kernel.iter().map(|k| k.saturating_sub(1) / 2).collect();
        self.pad_end = self.kernel.iter().map(|k| k.saturating_sub(1) - k.saturating_sub(1) / 2).collect();
        self
    }

    /// Average only: whether padding counts in the divisor (ONNX `count_include_pad`).
    pub fn count_include_pad(mut self, include: bool) -> Self {
        self.count_include_pad = include;
        self
    }

    /// Forces an evaluation method (benches and tests; results do not change).
    pub fn method(mut self, method: WindowMethod) -> Self {
        self.method = method;
        self
    }

    /// Number of spatial dims.
    pub fn rank(&self) -> usize {
        self.kernel.len()
    }
}
