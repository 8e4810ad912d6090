//! Pixels-in-lanes sliding-window convolution ("family B").
//!
//! Consecutive output pixels along W sit in SIMD lanes; a block holds `C` output channels ×
//! `R` vectors of pixels as accumulators. For each (input row, ci) the kernel loads the
//! block's input vectors once and forms the kw-shifted copies — register shifts across a
//! block pair (`valignd` on AVX-512, `ext` on NEON) or unaligned loads (AVX2, dilated W) —
//! then does `C·R` FMAs per tap with broadcast weights. It suits layers where few channels
//! make channels-in-lanes waste lanes: one input channel (first layers) or few outputs (last
//! layers, with the pixel shuffle fused into the store).
//!
//! Activations are channels-last, so each band keeps a small line buffer: the `kD·kH` input
//! rows the current output row needs, converted to planar `[ci][pad_l + W + pad_r + slack]`
//! with zeros in the padding, so the kernels have no W-border code.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
mod store;

use super::geom::{ConvGeom, OutMap};
use crate::activation::Activation;
use crate::isa::Isa;
use crate::outptr::OutPtr;
use std::ops::Range;

/// Most line-buffer rows (kD·kH taps) a plan may need; bigger kernels use another family.
const MAX_SLOTS: usize = 64;
/// Largest `C·R·lanes` accumulator tile (stack buffer for tail stores).
pub(super) const MAX_TILE: usize = 24 * 16;
/// Largest `R·lanes·Cout` pixel run staged in L1 before it is streamed out (16 KiB).
pub(super) const MAX_STAGE: usize = 4096;
/// Outputs at least this large (bytes per image) are streamed: larger than the last-level cache
/// of the machines measured (32 MiB L3), so the next layer reads them from memory either way.
const STREAM_MIN_BYTES: usize = 32 << 20;

/// How a block's results reach the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreMode {
    /// Channels-last contiguous: vector transposes write channel groups per pixel.
    Contiguous,
    /// Fused pixel shuffle with one output channel: channels `(i, 0..r)` interleave into
    /// `r·lanes` contiguous outputs of sub-row `i`.
    Shuffle(usize),
    /// Any other map: element stores through the channel table.
    Table,
}

/// A plan's packed weights and blocking for family B.
#[derive(Debug, Clone)]
pub(crate) struct PixelsPacked {
    pub(super) isa: Isa,
    /// Output channels per block.
    pub(super) c: usize,
    /// Pixel vectors per block.
    pub(super) r: usize,
    pub(super) lanes: usize,
    /// Filter width and W dilation.
    pub(super) k: usize,
    pub(super) dw: usize,
    /// `k` when a const-generic specialisation exists (1, 3, 5 at dilation 1), else 0.
    pub(super) fixed_k: usize,
    /// Form shifted vectors by register shifts (true) or unaligned loads (false).
    pub(super) shift: bool,
    pub(super) cin: usize,
    pub(super) cout: usize,
    /// Channel blocks and floats of packed weights per block.
    pub(super) cblocks: usize,
    pub(super) wblock: usize,
    /// Weights `[cblock][kd·kH + kh][ci][kw][c]`, zero for channels past `cout`.
    pub(super) w: Vec<f32>,
    /// Planar row length (floats per input channel) and pixel blocks per output row.
    pub(super) rowlen: usize,
    pub(super) pxblocks: usize,
    /// Valid output width.
    pub(super) ow: usize,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // NEON stores element-wise only
    pub(super) store: StoreMode,
    /// Large channels-last outputs: full pixel blocks are transposed into an L1 staging run of
    /// `R·lanes` whole pixels (every channel block), then written front to back with
    /// non-temporal stores. Stored in place, each channel block writes one 32–64-byte piece of
    /// every pixel, a strided pattern whose write-allocate misses stalled ESPCN l1 (59 MB out)
    /// for about a third of its time.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // NEON stores element-wise only
    pub(super) stream: bool,
    slots: usize,
}

/// One output row's work, handed to an ISA's row kernel.
pub(super) struct RowJob<'a> {
    pub p: &'a PixelsPacked,
    /// Line buffer holding the planar rows.
    pub buf: &'a [f32],
    /// Live taps: (offset of the planar row in `buf`, tap index `kd·kH + kh`).
    pub taps: &'a [(usize, usize)],
    pub bias: &'a [f32],
    pub act: Activation,
    pub out: OutPtr,
    pub map: &'a OutMap,
    pub od: usize,
    pub oh: usize,
}

impl RowJob<'_> {
    /// Bias of channel `c` of block `cb` (0 for padding channels).
    #[inline(always)]
    pub fn bias_of(&self, cb: usize, c: usize) -> f32 {
        self.bias.get(cb * self.p.c + c).copied().unwrap_or(0.0)
    }
}

/// (C, R) blockings each tier may use; bounded by its register file.
fn blockings(isa: Isa) -> &'static [(usize, usize)] {
    match isa {
        Isa::Avx2 | Isa::Scalar => &[(1, 8), (2, 6), (3, 4), (4, 3), (5, 2), (6, 2), (8, 1), (9, 1), (12, 1)],
        Isa::Avx512 | Isa::Neon => &[(1, 12), (2, 8), (3, 6), (4, 4), (5, 4), (6, 3), (8, 2), (9, 2), (12, 2), (16, 1)],
    }
}

/// Picks (C, R): fewest padded channels, then most accumulators, then widest C
/// (fewer passes over the input, and C = 8 / C = r² enable the vector stores).
fn choose_blocking(isa: Isa, cout: usize) -> (usize, usize) {
    let mut best = (1, 8);
    let mut key = (usize::MAX, 0, 0);
    for &(c, r) in blockings(isa) {
        // C a multiple of 8 gets the transposed channels-last stores (measured 42 vs 33 GFLOP/s
        // for ESPCN l1 on AVX2 with C=8 R=1 vs C=4 R=3).
        let k = (cout.div_ceil(c) * c, usize::from(c % 8 == 0) * 1000 + c * r, c);
        if k.0 < key.0 || (k.0 == key.0 && (k.1, k.2) > (key.1, key.2)) {
            key = k;
            best = (c, r);
        }
    }
    best
}

/// Whether `map` is a pixel shuffle with one output channel: channel `i·r + j` of pixel `ow`
/// lands at `i·row + ow·r + j`.
fn shuffle_factor(g: &ConvGeom, map: &OutMap) -> Option<usize> {
    let r = g.shuffle;
    let t = map.chan.as_ref()?;
    let ok = (r == 2 || r == 3)
        && g.cout == r * r
        && map.strides[2] == r
        && t.len() == g.cout
        && (0..r).all(|i| (0..r).all(|j| t[i * r + j] == t[i * r] + j));
    ok.then_some(r)
}

impl PixelsPacked {
    /// Plans family B if it suits `isa` and the geometry, else `None`.
    pub fn select(isa: Isa, g: &ConvGeom, map: &OutMap, weights: &[f32]) -> Option<Self> {
        let vector_tier = matches!(isa, Isa::Avx2 | Isa::Avx512 | Isa::Neon);
        if !vector_tier || !Self::fits(g) || !(g.cin == 1 || g.cout <= 12) {
            return None;
        }
        // AVX-512 forms windows with unaligned loads by default: on this Zen 4 the `valignd`
        // variant measured 16.3–16.4 ms vs 14.7–15.6 ms thread CPU on ESPCN l3 (C=9 R=2) and
        // within noise on l1, see `espcn_timing`. NEON keeps `ext` shifts; AVX2 always loads.
        Some(Self::new(isa, g, map, weights, isa == Isa::Neon))
    }

    /// Geometry the family covers: ungrouped, unit W stride, a line buffer of ≤ MAX_SLOTS rows.
    fn fits(g: &ConvGeom) -> bool {
        g.groups == 1 && g.stride[2] == 1 && g.kernel[0] * g.kernel[1] <= MAX_SLOTS
    }

    /// Packs for `isa` (`Scalar` = the scalar twin with 8 emulated lanes).
    pub(super) fn new(isa: Isa, g: &ConvGeom, map: &OutMap, weights: &[f32], shift: bool) -> Self {
        Self::with_blocking(isa, g, map, weights, shift, choose_blocking(isa, g.cout))
    }

    /// Packs with an explicit (C, R) blocking (one of [`blockings`] for the tier).
    pub(super) fn with_blocking(
        isa: Isa,
        g: &ConvGeom,
        map: &OutMap,
        weights: &[f32],
        shift: bool,
        (c, r): (usize, usize),
    ) -> Self {
        let lanes = if isa == Isa::Scalar { 8 } else { isa.lanes() };
        let (k, dw) = (g.kernel[2], g.dilation[2]);
        let fixed_k = if dw == 1 && matches!(k, 1 | 3 | 5) { k } else { 0 };
        let cblocks = g.cout.div_ceil(c);
        let taps_dh = g.kernel[0] * g.kernel[1];
        let wblock = taps_dh * g.cin * k * c;
        let mut w = vec![0.0; cblocks * wblock];
        for co in 0..g.cout {
            let (cb, cc) = (co / c, co % c);
            for ci in 0..g.cin {
                for t in 0..taps_dh {
                    for kw in 0..k {
                        w[cb * wblock + ((t * g.cin + ci) * k + kw) * c + cc] =
                            weights[(co * g.cin + ci) * taps_dh * k + t * k + kw];
                    }
                }
            }
        }
        let ow = g.out_dims[2];
        let pxblocks = ow.div_ceil(r * lanes);
        let span = (k - 1) * dw;
        let rowlen = pxblocks * r * lanes + (span + lanes).div_ceil(lanes) * lanes;
        let store = match (&map.chan, shuffle_factor(g, map)) {
            (None, _) => StoreMode::Contiguous,
            (Some(_), Some(f)) => StoreMode::Shuffle(f),
            (Some(_), None) => StoreMode::Table,
        };
        let stream = can_stream(isa, g, map, store, (c, r, lanes)) && g.output_len() * 4 >= STREAM_MIN_BYTES;
        Self {
            isa,
            c,
            r,
            lanes,
            k,
            dw,
            fixed_k,
            shift,
            cin: g.cin,
            cout: g.cout,
            cblocks,
            wblock,
            w,
            rowlen,
            pxblocks,
            ow,
            store,
            stream,
            slots: taps_dh,
        }
    }

    /// Scratch floats one band needs: the line buffer, a streaming plan's staging run, and
    /// alignment slack for each.
    pub fn scratch_per_band(&self) -> usize {
        self.slots * self.cin * self.rowlen + 16 + self.stage_len() + 16
    }

    /// Floats of the staging run (0 unless streaming).
    fn stage_len(&self) -> usize {
        if self.stream { self.r * self.lanes * self.cout } else { 0 }
    }

    /// Computes output rows `rows` (flattened (od, oh)) of one image.
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
        scratch: &mut [f32],
    ) {
        // Start the line buffer on a 64-byte boundary so block loads do not split cache lines.
        let skip = scratch.as_ptr().align_offset(64).min(16);
        let (buf, rest) = scratch[skip..].split_at_mut(self.slots * self.cin * self.rowlen);
        let skip = rest.as_ptr().align_offset(64).min(16);
        let stage = &mut rest[skip..skip + self.stage_len()];
        let slot_len = self.cin * self.rowlen;
        let mut tags = [usize::MAX; MAX_SLOTS];
        let [_, oh_n, _] = g.out_dims;
        let [id_n, ih_n, _] = g.in_dims;
        for row in rows {
            let (od, oh) = (row / oh_n, row % oh_n);
            // Input rows this output row reads (rows in the D/H padding are skipped taps).
            let mut need = [(0usize, 0usize); MAX_SLOTS];
            let mut n = 0;
            for kd in 0..g.kernel[0] {
                let Some(id) = tap_pos(od, kd, 0, g, id_n) else { continue };
                for kh in 0..g.kernel[1] {
                    let Some(ih) = tap_pos(oh, kh, 1, g, ih_n) else { continue };
                    need[n] = (id * ih_n + ih, kd * g.kernel[1] + kh);
                    n += 1;
                }
            }
            let need = &need[..n];
            let mut taps = [(0usize, 0usize); MAX_SLOTS];
            for (t, &(src_row, tap)) in need.iter().enumerate() {
                let slot = match tags[..self.slots].iter().position(|&s| s == src_row) {
                    Some(s) => s,
                    None => {
                        // A slot no tap of this row uses; one exists since slots ≥ taps.
                        let free = (0..self.slots).find(|&s| need.iter().all(|&(q, _)| q != tags[s])).unwrap_or(0);
                        tags[free] = src_row;
                        let src = &input[src_row * g.in_dims[2] * g.cin..][..g.in_dims[2] * g.cin];
                        self.fill_row(g, src, &mut buf[free * slot_len..][..slot_len]);
                        free
                    }
                };
                taps[t] = (slot * slot_len, tap);
            }
            let job = RowJob { p: self, buf, taps: &taps[..n], bias, act, out, map, od, oh };
            self.run_row(&job, stage);
        }
    }

    /// Converts one channels-last input row into planar rows with zero padding.
    fn fill_row(&self, g: &ConvGeom, src: &[f32], dst: &mut [f32]) {
        let (pl, iw) = (g.pad[2], g.in_dims[2]);
        #[cfg(target_arch = "x86_64")]
        if matches!(self.isa, Isa::Avx2 | Isa::Avx512) && self.cin.is_multiple_of(8) {
            // SAFETY: AVX2 and AVX-512 plans exist only after `Isa::require` confirmed avx2+fma.
            unsafe { avx2::fill_row_planar8(src, dst, self.cin, self.rowlen, pl, iw) };
            return;
        }
        scalar::fill_row_planar(src, dst, self.cin, self.rowlen, pl, iw);
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))] // NEON does not stream
    fn run_row(&self, j: &RowJob, stage: &mut [f32]) {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::run_row(j, stage),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::run_row(j, stage),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => neon::run_row(j),
            _ => scalar::run_row(j),
        }
    }
}

/// Whether a plan can stream its full blocks (see [`PixelsPacked::stream`]): an x86 vector tier,
/// channels-last pixels of exactly `Cout` floats, whole channel groups of 8 that the transposes
/// cover, and a pixel run that fits the staging buffer.
fn can_stream(isa: Isa, g: &ConvGeom, map: &OutMap, store: StoreMode, (c, r, lanes): (usize, usize, usize)) -> bool {
    matches!(isa, Isa::Avx2 | Isa::Avx512)
        && store == StoreMode::Contiguous
        && c.is_multiple_of(8)
        && g.cout.is_multiple_of(c)
        && map.strides[2] == g.cout
        && r * lanes * g.cout <= MAX_STAGE
}

/// Input position for output `o`, tap `k` on `axis`, or `None` if it falls in the padding.
#[inline(always)]
fn tap_pos(o: usize, k: usize, axis: usize, g: &ConvGeom, n: usize) -> Option<usize> {
    let p = (o * g.stride[axis] + k * g.dilation[axis]).checked_sub(g.pad[axis])?;
    (p < n).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvSpec;
    use crate::conv::reference::RefPacked;

    /// Rows of one image, both kernels, everything through `run_rows` (one band).
    fn run_both(
        p: &PixelsPacked,
        g: &ConvGeom,
        act: Activation,
        x: &[f32],
        w: &[f32],
        b: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let map = OutMap::for_geom(g);
        let mut got = vec![f32::NAN; g.output_len()];
        let mut scratch = vec![f32::NAN; p.scratch_per_band()];
        p.run_rows(g, b, act, x, OutPtr::new(&mut got), &map, 0..g.rows(), &mut scratch);
        let mut want = vec![f32::NAN; g.output_len()];
        RefPacked::new(g, w).run_rows(g, b, act, x, OutPtr::new(&mut want), &map, 0..g.rows());
        (got, want)
    }

    fn specs() -> Vec<(ConvSpec, Vec<usize>)> {
        vec![
            (ConvSpec::new(1, 64, &[5, 5]).same_padding().activation(Activation::Tanh), vec![6, 77]),
            (ConvSpec::new(32, 9, &[3, 3]).same_padding().pixel_shuffle(3), vec![4, 70]),
            (ConvSpec::new(8, 4, &[3, 3]).same_padding().pixel_shuffle(2), vec![3, 65]),
            (ConvSpec::new(3, 7, &[3, 5]).dilation(&[2, 2]).padding(&[3, 5], &[1, 6]), vec![7, 19]),
            (ConvSpec::new(1, 5, &[2, 3, 3]).stride(&[2, 2, 1]).padding(&[1, 2, 1], &[1, 2, 1]), vec![5, 6, 1]),
            (ConvSpec::new(2, 12, &[4]).padding(&[5], &[5]).activation(Activation::Sigmoid), vec![33]),
        ]
    }

    /// The scalar twin and every SIMD variant (shifts and unaligned loads) agree with the
    /// reference kernel.
    #[test]
    fn twin_and_load_variants_match_reference() {
        let mut variants = vec![(Isa::Scalar, false)];
        for isa in [Isa::Avx2, Isa::Avx512, Isa::Neon] {
            if isa.is_supported() {
                variants.extend([(isa, true), (isa, false)]);
            }
        }
        for (i, (spec, dims)) in specs().iter().enumerate() {
            let g = ConvGeom::new("test", spec, dims).unwrap_or_else(|e| panic!("{e}"));
            let mut seed = 0x9e37_79b9_u32.wrapping_mul(i as u32 + 1);
            let mut rnd = |n: usize| uniform(&mut seed, n);
            let (x, w, b) = (rnd(g.input_len()), rnd(g.cout * g.cin * g.taps()), rnd(g.cout));
            for &(isa, shift) in &variants {
                let p = PixelsPacked::new(isa, &g, &OutMap::for_geom(&g), &w, shift);
                let (got, want) = run_both(&p, &g, spec.activation, &x, &w, &b);
                let tol = 1e-5 * (g.cin * g.taps()) as f32;
                for (k, (a, e)) in got.iter().zip(&want).enumerate() {
                    assert!((a - e).abs() <= tol, "{isa} shift={shift} {spec:?} element {k}: {a} vs {e}");
                }
            }
        }
    }

    /// `n` values uniform in [−1, 1) from a xorshift32 state (deterministic test data).
    fn uniform(seed: &mut u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 17;
                *seed ^= *seed << 5;
                (*seed as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Streaming plans (staged transposes + non-temporal stores) agree with the reference for
    /// widths around the block size, 8 and 16 channel blocks, and outputs starting at every
    /// float offset within a cache line (ragged heads and tails); only large outputs stream.
    #[test]
    fn streamed_blocks_match_reference() {
        let isas: Vec<Isa> = [Isa::Avx2, Isa::Avx512].into_iter().filter(|i| i.is_supported()).collect();
        let big = ConvSpec::new(1, 64, &[5, 5]).same_padding();
        let small = ConvGeom::new("test", &big, &[6, 77]).unwrap_or_else(|e| panic!("{e}"));
        let large = ConvGeom::new("test", &big, &[360, 640]).unwrap_or_else(|e| panic!("{e}"));
        let w = vec![0.01; 64 * 25];
        for &isa in &isas {
            let plan = |g: &ConvGeom| PixelsPacked::new(isa, g, &OutMap::for_geom(g), &w, false);
            assert!(!plan(&small).stream, "{isa}: a 118 KB output should not stream");
            assert!(plan(&large).stream, "{isa}: ESPCN l1's 59 MB output should stream");
        }
        let mut seed = 0x2545_f491_u32;
        let mut rnd = |n: usize| uniform(&mut seed, n);
        for &isa in &isas {
            for (cin, cout, k, act) in
                [(1, 64, 5, Activation::Tanh), (1, 16, 3, Activation::Identity), (2, 8, 3, Activation::Relu)]
            {
                for w_in in [7, 15, 16, 17, 33, 48, 50] {
                    let spec = ConvSpec::new(cin, cout, &[k, k]).same_padding().activation(act);
                    let g = ConvGeom::new("test", &spec, &[3, w_in]).unwrap_or_else(|e| panic!("{e}"));
                    let map = OutMap::for_geom(&g);
                    let (x, w, b) = (rnd(g.input_len()), rnd(cout * cin * k * k), rnd(cout));
                    let mut p = PixelsPacked::new(isa, &g, &map, &w, false);
                    assert!(can_stream(isa, &g, &map, p.store, (p.c, p.r, p.lanes)), "{isa} {spec:?}");
                    p.stream = true;
                    let mut want = vec![f32::NAN; g.output_len()];
                    RefPacked::new(&g, &w).run_rows(&g, &b, act, &x, OutPtr::new(&mut want), &map, 0..g.rows());
                    for off in 0..16 {
                        let mut buf = vec![f32::NAN; g.output_len() + 16];
                        let got = &mut buf[off..off + g.output_len()];
                        let mut scratch = vec![f32::NAN; p.scratch_per_band()];
                        p.run_rows(&g, &b, act, &x, OutPtr::new(got), &map, 0..g.rows(), &mut scratch);
                        for (e, (a, r)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (a - r).abs() <= 1e-5 * (cin * k * k) as f32,
                                "{isa} {spec:?} w{w_in} off{off} [{e}]: {a} vs {r}"
                            );
                        }
                        assert!(
                            buf[..off].iter().chain(&buf[off + g.output_len()..]).all(|v| v.is_nan()),
                            "{isa}: wrote outside"
                        );
                    }
                }
            }
        }
    }
}
