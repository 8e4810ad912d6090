//! Channels-in-lanes direct convolution ("family A", NHWC/NDHWC).
//!
//! Output channels sit in SIMD lanes; a block computes `R` consecutive output pixels × `V`
//! vectors of output channels. For every valid (kd, kh) input row, every kw tap and every input
//! channel it loads `V` weight vectors, broadcasts `R` input scalars and does `R·V` FMAs, so the
//! input is read in place (no im2col, no padded copy). Padding is handled by splitting each
//! output row into its interior (all W taps inside the input: the blocked kernel) and border
//! pixels (one pixel at a time with the out-of-range taps clipped); out-of-range (kd, kh) rows
//! are simply left out of the row list. An interior that is not a multiple of `R` ends with one
//! block overlapping its predecessor rather than a slow single-pixel tail; interiors and tails
//! shorter than `R` use a narrow tile of about `R/2`.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

use super::geom::{ConvGeom, OutMap};
use crate::activation::Activation;
use crate::isa::Isa;
use crate::outptr::OutPtr;
use std::ops::Range;

/// Most (kd, kh) input rows one output row may touch (kernels with more rows are not planned here).
pub(crate) const MAX_ROWS: usize = 128;
/// Most lanes one block covers (`lanes · V`): 16 × 4.
const MAX_BLOCK: usize = 64;
/// Output pixels per row chunk: every co-block computes a chunk before the next one starts.
const CHUNK: usize = 128;
/// Co-blocks interleaved over one chunk (more are run in successive passes).
const MAX_CURSORS: usize = 16;

/// One output row's context, shared by its segments.
struct RowCtx<'a> {
    g: &'a ConvGeom,
    bias: &'a [f32],
    act: Activation,
    input: &'a [f32],
    out: OutPtr,
    map: &'a OutMap,
    rows: &'a [(usize, usize)],
    od: usize,
    oh: usize,
}

/// One block of output channels: `v` vectors starting at channel `c0` of the group.
#[derive(Debug, Clone, Copy)]
struct CoBlock {
    c0: usize,
    v: usize,
    /// Offset of this block's packed weights inside a group.
    off: usize,
}

/// Weights packed `[group][co-block][tap][ci_g][lanes·V]` (zero padded to the lane grid).
#[derive(Debug, Clone)]
pub(crate) struct LanesPacked {
    isa: Isa,
    lanes: usize,
    blocks: Vec<CoBlock>,
    group_len: usize,
    w: Vec<f32>,
}

/// Everything a blocked kernel call needs. Pointers are into the plan's packed weights and the
/// caller's input; the driver guarantees every address the kernel forms is in bounds.
pub(super) struct BlockArgs<'a> {
    /// `(input offset, tap index)` of each valid (kd, kh) row at kw = 0, pixel 0, channel 0.
    pub rows: &'a [(usize, usize)],
    /// Added to every row's input offset: the block's first input pixel and the group's channels.
    pub in_off: usize,
    /// Added to every row's weight offset (`tap · cin_g · lanes · V`): the co-block and the
    /// first (clipped) kw tap.
    pub w_off: usize,
    pub input: *const f32,
    pub w: *const f32,
    pub cin_g: usize,
    /// Floats between the inputs of consecutive output pixels (stride · cin).
    pub x_step: usize,
    /// Floats between consecutive kw taps (dilation · cin).
    pub kw_step: usize,
    /// Tap count along W for the generic-width kernel.
    pub nkw: usize,
    /// `lanes · V` bias values (zero padded).
    pub bias: &'a [f32; MAX_BLOCK],
    pub act: Activation,
    pub out: OutPtr,
    /// Output index of pixel 0's first channel of the block (contiguous map) or of pixel 0 (table).
    pub out_base: usize,
    /// Output elements between consecutive output pixels.
    pub out_step: usize,
    /// Real channels in the block (≤ lanes · V); the rest are lane padding and are not stored.
    pub nvalid: usize,
    /// Channel table slice starting at the block's first channel (pixel shuffle), if any.
    pub chan: Option<&'a [usize]>,
}

/// Width of one kernel call: the register tile `R`, the narrow tile `R_NARROW`, or one pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tile {
    Full,
    Narrow,
    Single,
}

/// The block that covers output column `ow` of a row whose interior (all W taps inside the
/// input) is `lo..hi`, with tiles of `r` and `rn ≤ r` pixels: `(first pixel, tile, next column)`.
/// Border pixels go one at a time (their taps are clipped). Interior pixels go in full tiles;
/// a remainder longer than a narrow tile gets one more full tile ending at `hi` (overlapping
/// its predecessor: the same values recomputed, not a slow tail), a shorter one a narrow tile
/// ending at `hi`; an interior narrower than `r` goes in narrow tiles the same way, and one
/// narrower than `rn` pixel by pixel.
fn next_block(ow: usize, lo: usize, hi: usize, r: usize, rn: usize) -> (usize, Tile, usize) {
    if ow < lo || ow >= hi {
        return (ow, Tile::Single, ow + 1);
    }
    let (rem, width) = (hi - ow, hi - lo);
    if rem >= r {
        (ow, Tile::Full, ow + r)
    } else if width >= r && rem > rn {
        (hi - r, Tile::Full, hi)
    } else if rem >= rn {
        (ow, Tile::Narrow, ow + rn)
    } else if width >= rn {
        (hi - rn, Tile::Narrow, hi)
    } else {
        (ow, Tile::Single, ow + 1)
    }
}

/// Register tiles `R` for each `V` (index V, 1..=4) per ISA; keep `R·V + V + 1` within the
/// register file (16 ymm on AVX2, 32 zmm / 32 q on AVX-512 / NEON). Measured (specs/engine.md §3.5).
pub(super) fn tile_r(isa: Isa, v: usize) -> (usize, usize) {
    let (full, narrow): ([usize; 5], [usize; 5]) = match isa {
        Isa::Avx2 => avx2_tiles(),
        Isa::Avx512 => avx512_tiles(),
        _ => neon_tiles(),
    };
    (full[v], narrow[v])
}

#[cfg(target_arch = "x86_64")]
fn avx2_tiles() -> ([usize; 5], [usize; 5]) {
    (avx2::R, avx2::R_NARROW)
}
#[cfg(not(target_arch = "x86_64"))]
fn avx2_tiles() -> ([usize; 5], [usize; 5]) {
    ([1; 5], [1; 5])
}
#[cfg(target_arch = "x86_64")]
fn avx512_tiles() -> ([usize; 5], [usize; 5]) {
    (avx512::R, avx512::R_NARROW)
}
#[cfg(not(target_arch = "x86_64"))]
fn avx512_tiles() -> ([usize; 5], [usize; 5]) {
    ([1; 5], [1; 5])
}
#[cfg(target_arch = "aarch64")]
fn neon_tiles() -> ([usize; 5], [usize; 5]) {
    (neon::R, neon::R_NARROW)
}
#[cfg(not(target_arch = "aarch64"))]
fn neon_tiles() -> ([usize; 5], [usize; 5]) {
    ([1; 5], [1; 5])
}

/// Whether this family covers `g` on `isa`.
pub(crate) fn supports(isa: Isa, g: &ConvGeom) -> bool {
    matches!(isa, Isa::Avx2 | Isa::Avx512 | Isa::Neon) && isa.is_supported() && g.kernel[0] * g.kernel[1] <= MAX_ROWS
}

/// Widest channel block (in vectors) for `cout_g` output channels per group. Measured on Zen 4
/// (specs/engine.md §3.5, re-checked here on ESPCN l2 and the 16→16 Conv3d).
fn max_v(isa: Isa, nvec: usize) -> usize {
    match isa {
        // Cout ≤ 32: V=1 per 16 channels (V=2 with R=8 or 12 was no faster on l2);
        // Cout ≥ 48: up to V=4 with R=6.
        Isa::Avx512 => {
            if nvec <= 2 {
                1
            } else {
                nvec.min(4)
            }
        }
        // Cout 16–32: (R, V) = (6, 2) (l2: 83.5 ms vs 85.7 ms with (2, 4)); Cout > 32: (2, 4).
        // (3, 4) would need 17 registers and spill.
        Isa::Avx2 => match nvec {
            1 => 1,
            2..=4 => 2,
            _ => 4,
        },
        _ => nvec.min(4),
    }
}

impl LanesPacked {
    pub fn new(isa: Isa, g: &ConvGeom, weights: &[f32]) -> Self {
        let lanes = isa.lanes();
        let taps = g.taps();
        let nvec = g.cout_g.div_ceil(lanes);
        let vmax = max_v(isa, nvec);
        let mut blocks = Vec::new();
        let (mut vec0, mut off) = (0, 0);
        while vec0 < nvec {
            let v = vmax.min(nvec - vec0);
            blocks.push(CoBlock { c0: vec0 * lanes, v, off });
            off += taps * g.cin_g * lanes * v;
            vec0 += v;
        }
        let group_len = off;
        let mut w = vec![0.0; group_len * g.groups];
        for grp in 0..g.groups {
            for b in &blocks {
                let lv = lanes * b.v;
                let base = grp * group_len + b.off;
                for t in 0..taps {
                    for ci in 0..g.cin_g {
                        for j in 0..lv.min(g.cout_g - b.c0) {
                            let co = grp * g.cout_g + b.c0 + j;
                            w[base + (t * g.cin_g + ci) * lv + j] = weights[(co * g.cin_g + ci) * taps + t];
                        }
                    }
                }
            }
        }
        Self { isa, lanes, blocks, group_len, w }
    }

    /// The widest block's tile, for logs: (R, V).
    pub fn tile(&self) -> (usize, usize) {
        let v = self.blocks.first().map_or(1, |b| b.v);
        (tile_r(self.isa, v).0, v)
    }

    /// Computes output rows `rows` (flattened (od, oh)) of one image.
    ///
    /// Each row is walked in chunks of [`CHUNK`] output pixels, and every co-block finishes its
    /// part of a chunk before the next chunk starts, so the chunk's input stays in L1 while all
    /// output channels are computed from it.
    #[allow(clippy::too_many_arguments)] // the kernel contract: geometry, data, destination, band
    pub fn run_rows(
        &self,
        g: &ConvGeom,
        bias: &[f32],
        act: Activation,
        input: &[f32],
        out: OutPtr,
        map: &OutMap,
        rows: Range<usize>,
    ) {
        let mut row_list = [(0usize, 0usize); MAX_ROWS];
        let ow_n = g.out_dims[2];
        for row in rows {
            let (od, oh) = (row / g.out_dims[1], row % g.out_dims[1]);
            let nrows = tap_rows(g, od, oh, &mut row_list);
            let row = RowCtx { g, bias, act, input, out, map, rows: &row_list[..nrows], od, oh };
            for grp in 0..g.groups {
                for blocks in self.blocks.chunks(MAX_CURSORS) {
                    let mut cursor = [0usize; MAX_CURSORS];
                    let mut end = 0;
                    while end < ow_n {
                        end = (end + CHUNK).min(ow_n);
                        for (b, cur) in blocks.iter().zip(&mut cursor) {
                            self.segment(&row, grp, b, cur, end);
                        }
                    }
                }
            }
        }
    }

    /// Advances co-block `b` of group `grp` from output column `*cur` to at least `end`: border
    /// pixels one at a time with clipped taps, interior pixels in blocks ([`next_block`]; a block
    /// may run past `end`).
    fn segment(&self, row: &RowCtx, grp: usize, b: &CoBlock, cur: &mut usize, end: usize) {
        let g = row.g;
        let (lo, hi) = g.interior(2);
        let kw_n = g.kernel[2];
        let lv = self.lanes * b.v;
        debug_assert!(lv <= MAX_BLOCK);
        let c0 = grp * g.cout_g + b.c0;
        let nvalid = lv.min(g.cout_g - b.c0);
        let mut bpad = [0.0f32; MAX_BLOCK];
        bpad[..nvalid].copy_from_slice(&row.bias[c0..c0 + nvalid]);
        let wblk = grp * self.group_len + b.off;
        let (r, rn) = tile_r(self.isa, b.v);
        let chan_off = if row.map.contiguous() { c0 } else { 0 };
        let mut args = BlockArgs {
            rows: row.rows,
            in_off: 0,
            w_off: wblk,
            input: row.input.as_ptr(),
            w: self.w.as_ptr(),
            cin_g: g.cin_g,
            x_step: g.stride[2] * g.cin,
            kw_step: g.dilation[2] * g.cin,
            nkw: kw_n,
            bias: &bpad,
            act: row.act,
            out: row.out,
            out_base: 0,
            out_step: row.map.strides[2],
            nvalid,
            chan: row.map.chan.as_deref().map(|t| &t[c0..c0 + nvalid]),
        };
        while *cur < end {
            let ow = *cur;
            let (start, tile, next) = next_block(ow, lo, hi, r, rn);
            let interior = ow >= lo && ow < hi;
            let (a, e) = if interior { (0, kw_n) } else { kw_range(g, start) };
            // start·s + a·d − p ≥ 0 for the first valid tap; a pixel with no taps reads nothing.
            let iw0 = (start * g.stride[2] + a * g.dilation[2]).saturating_sub(g.pad[2]);
            let some = e > a;
            args.in_off = if some { iw0 * g.cin + grp * g.cin_g } else { 0 };
            args.w_off = wblk + if some { a * g.cin_g * lv } else { 0 };
            args.nkw = e - a;
            args.out_base = row.map.pixel(row.od, row.oh, start) + chan_off;
            self.call(b.v, tile, args.nkw, &args);
            *cur = next;
        }
    }

    /// Runs one block of `tile`'s width on the plan's ISA.
    #[inline]
    fn call(&self, v: usize, tile: Tile, nkw: usize, a: &BlockArgs) {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the plan's ISA was checked at build time (`Isa::require`), and the driver
            // built `a` so that every input, weight and output address the block forms is in bounds
            // (rows and taps clipped to the input, outputs in this band's rows).
            Isa::Avx512 => unsafe { avx512::run_block(v, tile, nkw, a) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { avx2::run_block(v, tile, nkw, a) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon => unsafe { neon::run_block(v, tile, nkw, a) },
            _ => unreachable!("lanes kernel planned for {:?}", self.isa),
        }
    }
}

/// Fills `list` with one `(input offset, tap index)` entry per valid (kd, kh) row of output row
/// (od, oh): the offset of input row (id, ih) pixel 0 and the index of tap (kd, kh, kw = 0).
/// Returns how many rows are valid.
pub(super) fn tap_rows(g: &ConvGeom, od: usize, oh: usize, list: &mut [(usize, usize); MAX_ROWS]) -> usize {
    let [id_n, ih_n, iw_n] = g.in_dims;
    let mut n = 0;
    for kd in 0..g.kernel[0] {
        let Some(id) = tap_pos(od, kd, 0, g, id_n) else { continue };
        for kh in 0..g.kernel[1] {
            let Some(ih) = tap_pos(oh, kh, 1, g, ih_n) else { continue };
            let tap = (kd * g.kernel[1] + kh) * g.kernel[2];
            list[n] = ((id * ih_n + ih) * iw_n * g.cin, tap);
            n += 1;
        }
    }
    n
}

/// Valid kw taps `a..e` of output column `ow` (empty when every tap is in the padding).
pub(super) fn kw_range(g: &ConvGeom, ow: usize) -> (usize, usize) {
    let (s, d, p, k, n) = (g.stride[2], g.dilation[2], g.pad[2], g.kernel[2], g.in_dims[2]);
    let x0 = ow * s;
    // first kw with x0 + kw·d ≥ p
    let a = if x0 >= p { 0 } else { (p - x0).div_ceil(d) }.min(k);
    // last kw with x0 + kw·d − p ≤ n − 1
    let e = if n - 1 + p >= x0 { ((n - 1 + p - x0) / d + 1).min(k) } else { 0 };
    (a, e.max(a))
}

#[inline(always)]
fn tap_pos(o: usize, k: usize, axis: usize, g: &ConvGeom, n: usize) -> Option<usize> {
    let p = (o * g.stride[axis] + k * g.dilation[axis]).checked_sub(g.pad[axis])?;
    (p < n).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvSpec;

    /// `kw_range` equals the set of kw taps `tap_pos` accepts, for every column of many geometries.
    #[test]
    fn kw_range_matches_tap_positions() -> crate::error::Result<()> {
        for k in 1..=5 {
            for s in 1..=3 {
                for d in 1..=3 {
                    for (pb, pe) in [(0, 0), (1, 1), (k, 0), (0, k), (2 * k, 2 * k)] {
                        for n in 1..=12 {
                            let spec = ConvSpec::new(1, 1, &[k]).stride(&[s]).dilation(&[d]).padding(&[pb], &[pe]);
                            let Ok(g) = ConvGeom::new("test", &spec, &[n]) else { continue };
                            for ow in 0..g.out_dims[2] {
                                let valid: Vec<usize> =
                                    (0..k).filter(|&kw| tap_pos(ow, kw, 2, &g, n).is_some()).collect();
                                let (a, e) = kw_range(&g, ow);
                                assert_eq!((a..e).collect::<Vec<_>>(), valid, "k{k} s{s} d{d} p{pb},{pe} n{n} ow{ow}");
                            }
                            let (lo, hi) = g.interior(2);
                            for ow in lo..hi {
                                assert_eq!(kw_range(&g, ow), (0, k));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Walks a row of `n` output pixels (interior `lo..hi`) the way `segment` does.
    fn walk(n: usize, lo: usize, hi: usize, r: usize, rn: usize) -> Vec<(usize, Tile, usize)> {
        let mut blocks = Vec::new();
        let mut ow = 0;
        while ow < n {
            let b = next_block(ow, lo, hi, r, rn);
            blocks.push(b);
            ow = b.2;
        }
        blocks
    }

    /// Every pixel of every row shape is computed, each block stays inside the interior (or is a
    /// single border pixel), and long interiors use full tiles: no row goes pixel by pixel where
    /// a tile fits.
    #[test]
    fn blocks_cover_each_row_with_the_widest_tiles_that_fit() {
        for (r, rn) in [(16, 6), (12, 6), (8, 4), (6, 3), (4, 2), (2, 1), (1, 1)] {
            for n in 1..60usize {
                for pad in 0..3.min(n) {
                    let (lo, hi) = (pad, n - pad);
                    let width = hi.saturating_sub(lo);
                    let blocks = walk(n, lo, hi, r, rn);
                    let mut covered = vec![false; n];
                    for &(start, tile, next) in &blocks {
                        let span = match tile {
                            Tile::Full => r,
                            Tile::Narrow => rn,
                            Tile::Single => 1,
                        };
                        assert!(
                            next > start && next <= start + span,
                            "{r}/{rn} n={n}: block {start} {tile:?} → {next}"
                        );
                        if tile != Tile::Single {
                            assert!(
                                start >= lo && start + span <= hi,
                                "{r}/{rn} n={n}: {tile:?} at {start} leaves {lo}..{hi}"
                            );
                        }
                        covered[start..start + span].iter_mut().for_each(|c| *c = true);
                    }
                    assert!(covered.iter().all(|&c| c), "{r}/{rn} n={n} pad={pad}: {blocks:?}");
                    let singles = blocks.iter().filter(|b| b.1 == Tile::Single && b.0 >= lo && b.0 < hi).count();
                    if width >= rn {
                        assert_eq!(singles, 0, "{r}/{rn} n={n} pad={pad}: interior pixels one by one: {blocks:?}");
                    }
                    let fulls = blocks.iter().filter(|b| b.1 == Tile::Full).count();
                    assert_eq!(fulls >= 1, width >= r, "{r}/{rn} n={n} pad={pad}: {blocks:?}");
                }
            }
        }
    }
}
