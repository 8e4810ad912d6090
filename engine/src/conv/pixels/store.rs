//! Element stores of a finished block through the output map: W tails, partial channel
//! blocks and arbitrary channel tables.

use super::RowJob;

/// Writes `tile[c·stride + px]` (already biased and activated) for the block's valid pixels
/// (`ow0..`) and valid channels of channel block `cb`.
pub(super) fn store_tile(j: &RowJob, cb: usize, ow0: usize, tile: &[f32], stride: usize) {
    let p = j.p;
    let npx = (p.ow - ow0).min(stride);
    let nc = (p.cout - cb * p.c).min(p.c);
    for c in 0..nc {
        let ch = cb * p.c + c;
        let off = j.map.chan.as_ref().map_or(ch, |t| t[ch]);
        for (px, v) in tile[c * stride..][..npx].iter().enumerate() {
            // SAFETY: pixel (od, oh, ow0 + px) is in this band's row and inside the output
            // (px < npx), channel ch < cout; the map yields in-bounds indices for those.
            unsafe { j.out.write(j.map.pixel(j.od, j.oh, ow0 + px) + off, *v) };
        }
    }
}

/// Whether block (`cb`, `ow0`) is complete: all `c` channels real and all pixels inside the row,
/// so the vector store paths apply.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // NEON stores element-wise only
pub(super) fn full_block(j: &RowJob, cb: usize, ow0: usize) -> bool {
    (cb + 1) * j.p.c <= j.p.cout && ow0 + j.p.r * j.p.lanes <= j.p.ow
}

/// The output row slice a staged run of `npx` pixels goes to (pixels `x0..x0 + npx`), and the
/// bounds `head..body` of its whole 64-byte lines (before: a ragged head, after: a ragged tail).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // NEON stores element-wise only
pub(super) fn stream_target<'o>(j: &RowJob, x0: usize, npx: usize) -> (&'o mut [f32], usize, usize) {
    let n = npx * j.p.cout;
    // SAFETY: streaming plans have a contiguous map with pixel stride Cout, so pixels
    // x0..x0+npx of this band's row are the n elements from `pixel(x0)`, all this band's.
    let dst = unsafe { j.out.slice(j.map.pixel(j.od, j.oh, x0), n) };
    let head = dst.as_ptr().align_offset(64).min(n);
    let body = head + (n - head) / 16 * 16;
    (dst, head, body)
}
