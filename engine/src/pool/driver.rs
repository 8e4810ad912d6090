//! Driving code shared by every ISA: row bands → column strips → vertical pass → W pass.
//!
//! Pooling is separable. For one output row `(od, oh)` and one strip of output pixels, the
//! *vertical* pass reduces the `kd·kh` input rows of the window (restricted to the strip's input
//! columns) into one padded row `V`; the *W* pass then slides the window along `V` and writes the
//! strip's output pixels. Working on strips of ~[`STRIP_FLOATS`] floats keeps every buffer of the
//! stream (a few strip-rows) in L1/L2 whatever the image width.
//!
//! Along H (and along W when the channels fill the lanes) the window can be evaluated with the
//! block prefix/suffix method ([`prefix_suffix`]): ~3 `⊕` per output whatever the window.
//! Along D the window is always reduced directly (`kd − 1` ops per row): the prefix/suffix form
//! along D would need `kd` planes of scratch instead of a few strip-rows.

use super::geom::PoolGeom;
use super::kernel::Kern;
use std::ops::Range;

/// Target length, in floats, of one strip-row of input (keeps the stream's rows in L1/L2).
pub(crate) const STRIP_FLOATS: usize = 4096;

/// Scratch buffers start on 64-byte boundaries (their lengths are rounded up to this many floats).
pub(crate) const ALIGN: usize = 16;

/// Everything a band needs, fixed at plan time.
#[derive(Debug, Clone)]
pub(crate) struct Pass {
    pub g: PoolGeom,
    /// `⊕` is max (else sum, then scale).
    pub max: bool,
    /// Prefix/suffix along H (else direct).
    pub h_ps: bool,
    /// Prefix/suffix along W when `C >= lanes` (else direct / pixels-in-lanes).
    pub w_ps: bool,
    /// Output pixels per strip.
    pub strip_ow: usize,
    /// Identity row (−∞ for max, 0 for sum), one strip-row long.
    pub identity: Vec<f32>,
    /// Avg: per-output-column factor (1/kw or 1/valid taps, 0 if none); empty for max.
    pub w_factor: Vec<f32>,
    /// Avg: divide by the full window (ONNX `count_include_pad`).
    pub include_pad: bool,
    /// Scratch layout of one band: `[slots kh·elem][L elem][V vlen][W scratch]`.
    pub slots: usize,
    pub elem: usize,
    pub vlen: usize,
    pub wscr: usize,
}

impl Pass {
    /// Floats of scratch one band needs.
    pub fn scratch_per_band(&self) -> usize {
        ALIGN + self.slots + if self.slots > 0 { self.elem } else { 0 } + self.vlen + self.wscr
    }

    /// Avg: factor for a whole output row `(od, oh)`.
    fn row_factor(&self, od: usize, oh: usize) -> f32 {
        let g = &self.g;
        let count = if self.include_pad {
            g.kernel[0] * g.kernel[1]
        } else {
            let (d0, d1) = g.taps(0, od);
            let (h0, h1) = g.taps(1, oh);
            (d1 - d0) * (h1 - h0)
        };
        if count == 0 { 0.0 } else { 1.0 / count as f32 }
    }

    /// Computes output rows `rows` (flattened `(od, oh)`) of one image into `out`
    /// (exactly those rows, channels-last). `scratch` is one band's.
    #[inline(always)]
    pub fn run_rows<K: Kern>(&self, k: K, input: &[f32], rows: Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
        let g = &self.g;
        let [_, oh_n, ow_n] = g.out_dims;
        let row_len = ow_n * g.c;
        let mut r = rows.start;
        while r < rows.end {
            let od = r / oh_n;
            let end = rows.end.min((od + 1) * oh_n);
            let (a, b) = (r - od * oh_n, end - od * oh_n);
            let out_rows = &mut out[(r - rows.start) * row_len..(end - rows.start) * row_len];
            self.run_plane_rows(k, input, od, a..b, out_rows, scratch);
            r = end;
        }
    }

    /// Output rows `oh ∈ ohs` of plane `od`. The prefix/suffix stream runs strip by strip
    /// down all rows (its state is per strip); the direct method goes row by row, so the
    /// window's input rows are read in memory order and stay in L2 for the next row.
    #[inline(always)]
    fn run_plane_rows<K: Kern>(
        &self,
        k: K,
        input: &[f32],
        od: usize,
        ohs: Range<usize>,
        out: &mut [f32],
        scratch: &mut [f32],
    ) {
        if self.h_ps && self.g.kernel[1] >= 2 {
            self.run_strips(k, input, od, ohs, out, scratch);
        } else {
            let row_len = self.g.out_dims[2] * self.g.c;
            for (oh, dst) in ohs.zip(out.chunks_exact_mut(row_len)) {
                self.run_strips(k, input, od, oh..oh + 1, dst, scratch);
            }
        }
    }

    /// Output rows `oh ∈ ohs` of plane `od`, strip by strip.
    #[inline(always)]
    fn run_strips<K: Kern>(
        &self,
        k: K,
        input: &[f32],
        od: usize,
        ohs: Range<usize>,
        out: &mut [f32],
        scratch: &mut [f32],
    ) {
        let g = &self.g;
        let c = g.c;
        let [_, ih_n, iw_n] = g.in_dims;
        let [_, _, ow_n] = g.out_dims;
        let (kw, sw, pw) = (g.kernel[2], g.stride[2], g.pad[2]);
        // Register-aligned scratch buffers (every part's length is a multiple of ALIGN).
        let skip = (ALIGN - (scratch.as_ptr() as usize / 4) % ALIGN) % ALIGN;
        let (slots, rest) = scratch[skip..].split_at_mut(self.slots);
        let (l, rest) = rest.split_at_mut(if self.slots > 0 { self.elem } else { 0 });
        let (vbuf, rest) = rest.split_at_mut(self.vlen);
        let wscr = &mut rest[..self.wscr];
        let (d0, d1) = g.taps(0, od);
        let plane = ih_n * iw_n * c;
        let row_len = ow_n * c;
        let mut o0 = 0;
        while o0 < ow_n {
            let o1 = (o0 + self.strip_ow).min(ow_n);
            // The strip's input pixels in padded coordinates, and the real ones among them.
            let (x0p, x1p) = (o0 * sw, (o1 - 1) * sw + kw);
            let r0 = x0p.saturating_sub(pw).min(iw_n);
            let r1 = x1p.saturating_sub(pw).min(iw_n).max(r0);
            let (vi0, vi1) = (r0 + pw - x0p, r1 + pw - x0p);
            let np = x1p - x0p;
            let elen = (r1 - r0) * c;
            let v = &mut vbuf[..np * c];
            let id: &[f32] = &self.identity;
            v[..vi0 * c].copy_from_slice(&id[..vi0 * c]);
            v[vi1 * c..].copy_from_slice(&id[..(np - vi1) * c]);
            // Input row `(id, ih)` restricted to the strip's real columns.
            let row = move |d: usize, h: usize| {
                let s = d * plane + (h * iw_n + r0) * c;
                &input[s..s + elen]
            };
            let mut finish = |oh: usize, v: &[f32]| {
                let dst = &mut out[(oh - ohs.start) * row_len + o0 * c..(oh - ohs.start) * row_len + o1 * c];
                w_pass(k, v, c, kw, sw, dst, wscr, self.w_ps);
                if !self.max {
                    self.scale(dst, self.row_factor(od, oh), o0);
                }
            };
            let h_ps = self.h_ps && g.kernel[1] >= 2 && elen > 0;
            if !h_ps {
                for oh in ohs.clone() {
                    let (h0, h1) = g.taps(1, oh);
                    let vint = &mut v[vi0 * c..vi1 * c];
                    let mut taps = (d0..d1).flat_map(|d| (h0..h1).map(move |h| (d, h)));
                    match (taps.next(), taps.next()) {
                        (None, _) => vint.copy_from_slice(&id[..elen]),
                        (Some((d, h)), None) => vint.copy_from_slice(row(d, h)),
                        (Some((da, ha)), Some((db, hb))) => {
                            k.combine(vint, row(da, ha), row(db, hb));
                            for (d, h) in taps {
                                k.acc(vint, row(d, h));
                            }
                        }
                    }
                    finish(oh, v);
                }
            } else {
                let (kh, sh, ph) = (g.kernel[1], g.stride[1], g.pad[1]);
                let n = (ohs.len() - 1) * sh + kh;
                let start = ohs.start * sh; // padded row of sequence element 0
                // Element p: the window's D-reduction of padded row start+p (identity outside).
                let get = move |p: usize| {
                    let h = (start + p).checked_sub(ph).filter(|&h| h < ih_n);
                    match h {
                        Some(h) if d1 > d0 => (d1 - d0 == 1).then(|| row(d0, h)),
                        _ => Some(&id[..elen]),
                    }
                };
                let materialise = |p: usize, dst: &mut [f32]| {
                    let h = start + p - ph; // `get` returned None, so the row is real
                    k.combine(dst, row(d0, h), row(d0 + 1, h));
                    for d in d0 + 2..d1 {
                        k.acc(dst, row(d, h));
                    }
                };
                prefix_suffix(
                    k,
                    n,
                    kh,
                    sh,
                    elen,
                    &mut slots[..kh * elen],
                    &mut l[..elen],
                    get,
                    materialise,
                    |i, rr, ll| {
                        let vint = &mut v[vi0 * c..vi1 * c];
                        match ll {
                            Some(ll) => k.combine(vint, rr, ll),
                            None => vint.copy_from_slice(rr),
                        }
                        finish(ohs.start + i, v);
                    },
                );
            }
            o0 = o1;
        }
    }

    /// Avg: multiplies output pixels `o0..` of one strip by their divisor's reciprocal.
    #[inline(always)]
    fn scale(&self, dst: &mut [f32], row_factor: f32, o0: usize) {
        let c = self.g.c;
        let wf = &self.w_factor[o0..o0 + dst.len() / c];
        if c == 1 {
            for (x, f) in dst.iter_mut().zip(wf) {
                *x *= row_factor * f;
            }
        } else {
            for (px, f) in dst.chunks_exact_mut(c).zip(wf) {
                let f = row_factor * f;
                for x in px {
                    *x *= f;
                }
            }
        }
    }
}

/// Slides the W window along one padded strip row `v` (pixels of `c` floats) into `dst`
/// (`dst.len() / c` output pixels at stride `sw`).
#[allow(clippy::too_many_arguments)] // strip row, geometry along W, destination, scratch, method
#[inline(always)]
fn w_pass<K: Kern>(k: K, v: &[f32], c: usize, kw: usize, sw: usize, dst: &mut [f32], wscr: &mut [f32], ps: bool) {
    let nout = dst.len() / c;
    if ps && kw >= 2 && c >= K::LANES {
        // Channels in lanes, prefix/suffix over pixels.
        let (slots, l) = wscr.split_at_mut(kw * c);
        prefix_suffix(
            k,
            (nout - 1) * sw + kw,
            kw,
            sw,
            c,
            slots,
            &mut l[..c],
            |p| Some(&v[p * c..(p + 1) * c]),
            |_, _| {},
            |i, rr, ll| {
                let d = &mut dst[i * c..(i + 1) * c];
                match ll {
                    Some(ll) => k.combine(d, rr, ll),
                    None => d.copy_from_slice(rr),
                }
            },
        );
    } else if sw == 1 {
        // Stride 1: one flat shifted reduction (channels- or pixels-in-lanes alike).
        k.shift_reduce(v, c, kw, dst);
    } else if c >= K::LANES {
        for (o, d) in dst.chunks_exact_mut(c).enumerate() {
            k.shift_reduce(&v[o * sw * c..], c, kw, d);
        }
    } else {
        // Pixels in lanes: the stride-1 result, then every sw-th pixel.
        let n1 = (nout - 1) * sw + 1;
        let full = &mut wscr[..n1 * c];
        k.shift_reduce(v, c, kw, full);
        for (o, d) in dst.chunks_exact_mut(c).enumerate() {
            d.copy_from_slice(&full[o * sw * c..o * sw * c + c]);
        }
    }
}

/// Sliding `⊕` over a sequence of `n ≥ w` elements of `len` floats by block prefix/suffix scans
/// (van Herk / Gil-Werman): cut the sequence into blocks of `w`; inside each block keep the
/// suffix scan `R` (in `slots`, `w` elements) and a running prefix `L`; then
/// `y_i = R_i ⊕ L_{i+w−1}` (`y_i = R_i` at a block start). Emits `y_i` for `i = 0, s, 2s, … ≤ n−w`
/// as `emit(i / s, R_i, Some(L))` or `emit(i / s, R_i, None)`, in order. Per element: one `⊕`
/// for `L`, one for `R`; per output: one more.
///
/// `get(p)` returns element `p` when it exists as a slice; otherwise (`None`) `materialise(p, dst)`
/// writes it into a free slot, where it is then used in place.
#[allow(clippy::too_many_arguments)] // the stream: sizes, two buffers, and three callbacks
#[inline(always)]
pub(crate) fn prefix_suffix<'a, K: Kern>(
    k: K,
    n: usize,
    w: usize,
    s: usize,
    len: usize,
    slots: &mut [f32],
    l: &mut [f32],
    get: impl Fn(usize) -> Option<&'a [f32]>,
    mut materialise: impl FnMut(usize, &mut [f32]),
    mut emit: impl FnMut(usize, &[f32], Option<&[f32]>),
) {
    debug_assert!(n >= w && w >= 1 && slots.len() == w * len && l.len() == len);
    suffix_block(k, w, len, 0, true, slots, &get, &mut materialise);
    emit(0, &slots[..len], None);
    let mut base = w;
    while base < n {
        let m = w.min(n - base);
        for j in 0..m {
            let (lo, hi) = slots.split_at_mut((j + 1) * len);
            let sj = &mut lo[j * len..];
            let e: &[f32] = match get(base + j) {
                Some(e) => e,
                None => {
                    materialise(base + j, sj);
                    sj
                }
            };
            if j == 0 {
                l.copy_from_slice(e);
            } else {
                k.acc(l, e);
            }
            let i = base + j + 1 - w;
            if j + 1 < w && i.is_multiple_of(s) {
                emit(i / s, &hi[..len], Some(&*l));
            }
        }
        if m == w {
            suffix_block(k, w, len, base, false, slots, &get, &mut materialise);
            if base.is_multiple_of(s) {
                emit(base / s, &slots[..len], None);
            }
        }
        base += w;
    }
}

/// Suffix scan of the full block at `base` into `slots`, right to left. Elements without a
/// slice are materialised into their slot first when `first` (later blocks did it on the way in).
#[allow(clippy::too_many_arguments)] // the stream's state, passed down from `prefix_suffix`
#[inline(always)]
fn suffix_block<'a, K: Kern>(
    k: K,
    w: usize,
    len: usize,
    base: usize,
    first: bool,
    slots: &mut [f32],
    get: &impl Fn(usize) -> Option<&'a [f32]>,
    materialise: &mut impl FnMut(usize, &mut [f32]),
) {
    for j in (0..w).rev() {
        let (lo, hi) = slots.split_at_mut((j + 1) * len);
        let sj = &mut lo[j * len..];
        let next = &hi[..if j + 1 < w { len } else { 0 }];
        match get(base + j) {
            Some(e) if j + 1 < w => k.combine(sj, e, next),
            Some(e) => sj.copy_from_slice(e),
            None => {
                if first {
                    materialise(base + j, sj);
                }
                if j + 1 < w {
                    k.acc(sj, next);
                }
            }
        }
    }
}
