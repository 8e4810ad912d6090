//! Small tensor ops around the convolutions: depth-to-space, nearest upsampling, channel
//! concatenation and elementwise add/multiply (with the broadcasts the models need).
//!
//! Each is an immutable plan built from shapes (errors for impossible ones) whose `run` checks
//! buffer lengths, allocates nothing and accepts a batch of `n ≥ 1` images. All are
//! memory-bound copies or one-op loops, written as plain loops that LLVM vectorises; there is no
//! hand SIMD here, so no per-ISA tiers. Data is channels-last (`[D][H][W][C]`).

mod concat;
mod elementwise;
mod pixel_shuffle;
mod upsample;

pub use concat::Concat;
pub use elementwise::{Add, Broadcast, Mul};
pub use pixel_shuffle::PixelShuffle;
pub use upsample::Upsample;

use crate::error::{EngineError, Result, invalid};

/// Normalises 1–3 spatial dims to `[D, H, W]` (missing outer dims = 1), rejecting zeros.
fn dims3(op: &'static str, what: &str, dims: &[usize], fill: usize) -> Result<[usize; 3]> {
    if !(1..=3).contains(&dims.len()) {
        return Err(invalid(op, format!("{what} must have 1, 2 or 3 dims, got {}", dims.len())));
    }
    if dims.contains(&0) {
        return Err(invalid(op, format!("{what} {dims:?} must be at least 1")));
    }
    let mut a = [fill; 3];
    a[3 - dims.len()..].copy_from_slice(dims);
    Ok(a)
}

/// Number of images in `buffer` of `len` floats given one image's length.
fn batch(op: &'static str, buffer: &'static str, image_len: usize, len: usize) -> Result<usize> {
    if len == 0 || image_len == 0 || !len.is_multiple_of(image_len) {
        return Err(EngineError::BufferLength { op, buffer, expected: image_len, got: len });
    }
    Ok(len / image_len)
}
