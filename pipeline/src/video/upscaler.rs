//! The seam between the frame stage and a super-resolution model.

use super::VideoError;

/// Upscales one luma plane by an integer factor.
///
/// Contract: `src` is `width × height` packed full-range luma (Y' of BT.601/709, full range)
/// in [0, 1]; `dst` is `(width·scale) × (height·scale)` and receives the same, clamped to
/// [0, 1]. The frame stage expands limited-range video before and compresses after.
/// Implementations keep their buffers between calls (a frame size change may reallocate).
pub trait LumaUpscaler: Send {
    /// The integer factor, ≥ 1.
    fn scale(&self) -> usize;

    /// A short name for logs and summaries (`bicubic`, `espcn`).
    fn name(&self) -> &'static str;

    /// Upscales `src` into `dst`.
    fn upscale(&mut self, src: &[f32], width: usize, height: usize, dst: &mut [f32]) -> Result<(), VideoError>;
}
