//! The register-blocked linear kernel, written once over a [`Vector`] trait and instantiated per
//! ISA inside that ISA's `#[target_feature]` entry point (everything here is `inline(always)`,
//! so the intrinsics compile with the entry point's features).
//!
//! Every output is one FMA chain over the input dim in order, starting from zero, then `+ bias`
//! and the activation. The blocking (rows, vectors, groups per tile) changes which outputs share
//! a tile, never the arithmetic of one output, so results are bit-identical whatever the batch
//! size M: a stream gives the same numbers alone or batched.

use super::pack::{Packed, Panel};
use crate::activation::Activation;

/// One SIMD register type and the handful of operations the linear/GRU kernels need.
///
/// # Safety
/// Implementations use intrinsics of one ISA: call them only from code compiled with that
/// ISA's features, on a CPU that has them (the plans check this when they are built).
pub(crate) unsafe trait Vector {
    /// f32 lanes per register.
    const LANES: usize;
    /// Vectors per register tile when several rows share it (bounded by the register file).
    const GEMM_V: usize;
    /// Accumulators of a one-row tile: enough independent FMA chains (and weight streams) in
    /// flight to cover FMA latency and keep the loads going.
    const GEMV_ACC: usize;
    /// The register type.
    type V: Copy;
    /// All lanes zero.
    unsafe fn zero() -> Self::V;
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self::V;
    /// Unaligned load of `LANES` floats.
    unsafe fn load(p: *const f32) -> Self::V;
    /// Unaligned store of `LANES` floats.
    unsafe fn store(p: *mut f32, v: Self::V);
    /// Loads the first `n < LANES` floats, the rest zero.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self::V;
    /// Stores the first `n < LANES` lanes.
    unsafe fn store_partial(p: *mut f32, v: Self::V, n: usize);
    /// `a · b + c`, fused.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// Logistic sigmoid (vmath approximation).
    unsafe fn sigmoid(v: Self::V) -> Self::V;
    /// tanh (vmath approximation).
    unsafe fn tanh(v: Self::V) -> Self::V;
    /// Fused activation.
    unsafe fn activate(act: Activation, v: Self::V) -> Self::V;
}

/// Most rows sharing one register tile.
const MR_MAX: usize = 6;

/// Where one register tile reads and writes. Pointers are at the tile's first row, group and column.
#[derive(Clone, Copy)]
struct Tile {
    k: usize,
    x: *const f32,
    x_row: usize,
    x_group: usize,
    w: *const f32,
    w_row: usize,
    w_group: usize,
    b: *const f32,
    b_group: usize,
    y: *mut f32,
    y_row: usize,
    y_group: usize,
    /// Valid output columns from the tile's first column (may exceed the tile's width).
    cols: usize,
}

/// Runs `y[M][G·n] = act(x[M][G·k] · blockdiag(W) + b)` over packed weights.
///
/// Rows go in blocks of up to [`MR_MAX`] (one group, `GEMM_V` vectors per tile, panel-major so a
/// panel stays in cache across row blocks). A lone row (M = 1, or the last row when
/// M mod 6 = 1) is a GEMV: its tiles span several panels or groups so that about
/// `S::GEMV_ACC` independent FMA chains are in flight.
///
/// # Safety
/// `S`'s ISA is available and the caller is compiled with it; `x.len() == m·G·k`,
/// `y.len() == m·G·n`, and `p` was packed with `S::LANES` lanes.
#[inline(always)]
pub(crate) unsafe fn run<S: Vector>(p: &Packed, act: Activation, x: &[f32], y: &mut [f32], m: usize) {
    debug_assert_eq!(x.len(), m * p.groups * p.k);
    debug_assert_eq!(y.len(), m * p.groups * p.n);
    debug_assert_eq!(p.lanes, S::LANES);
    let lone = usize::from(m % MR_MAX == 1);
    let multi = m - lone;
    let at = At { p, x: x.as_ptr(), y: y.as_mut_ptr() };
    for panel in &p.panels {
        let vp = panel.width / S::LANES;
        let mut r = 0;
        while r < multi {
            let mr = MR_MAX.min(multi - r);
            for gi in 0..p.groups {
                let mut v0 = 0;
                while v0 < vp {
                    let nv = S::GEMM_V.min(vp - v0);
                    // SAFETY: rows r..r+mr < m, group gi < G, vectors v0..v0+nv inside the panel.
                    unsafe { tile_dyn::<S>(mr, nv, 1, &at.tile::<S>(r, gi, panel, v0), act) };
                    v0 += nv;
                }
            }
            r += mr;
        }
    }
    if lone == 1 {
        // SAFETY: row m-1 exists; forwarded from the caller.
        unsafe { gemv_row::<S>(&at, m - 1, act) };
    }
}

/// One row as a GEMV. With one group, tiles pair up full panels (`x` shared, weights one panel
/// apart); with several groups, tiles span groups of the same panel.
///
/// # Safety
/// As [`run`]; `r` is a valid row.
#[inline(always)]
unsafe fn gemv_row<S: Vector>(at: &At<'_>, r: usize, act: Activation) {
    let p = at.p;
    let panels = &p.panels;
    let mut i = 0;
    while i < panels.len() {
        let panel = &panels[i];
        let vp = panel.width / S::LANES;
        let per_tile = (S::GEMV_ACC / vp).max(1);
        if p.groups == 1 {
            // Full panels are all `nr` wide; only the last may be narrower.
            let full = panels[i..].iter().take_while(|q| q.cols == q.width && q.width == panel.width).count();
            let np = tiles_at_most(per_tile.min(full.max(1)));
            // SAFETY: panels i..i+np exist and are equally wide and full, so `w_group`/`y_group`
            // = one panel step reaches exactly the next panel's weights, bias and outputs.
            unsafe {
                let mut t = at.tile::<S>(r, 0, panel, 0);
                t.x_group = 0;
                t.w_group = p.k * panel.width;
                t.b_group = panel.width;
                t.y_group = panel.width;
                tile_dyn::<S>(1, vp, np, &t, act);
            }
            i += np;
        } else {
            let mut gi = 0;
            while gi < p.groups {
                let ng = tiles_at_most(per_tile.min(p.groups - gi));
                // SAFETY: groups gi..gi+ng < G, whole panel.
                unsafe { tile_dyn::<S>(1, vp, ng, &at.tile::<S>(r, gi, panel, 0), act) };
                gi += ng;
            }
            i += 1;
        }
    }
}

/// The operands of one run, to address tiles.
struct At<'a> {
    p: &'a Packed,
    x: *const f32,
    y: *mut f32,
}

impl At<'_> {
    /// The tile at row `r`, group `gi`, panel `panel` from vector `v0` (strides for more rows
    /// and groups filled in).
    ///
    /// # Safety
    /// `r < m`, `gi < G`, `v0` inside the panel.
    #[inline(always)]
    unsafe fn tile<S: Vector>(&self, r: usize, gi: usize, panel: &Panel, v0: usize) -> Tile {
        let p = self.p;
        let (g, k, n) = (p.groups, p.k, p.n);
        let c0 = v0 * S::LANES;
        // SAFETY: the offsets address row r, group gi, column c0 of the panel, all in bounds.
        unsafe {
            Tile {
                k,
                x: self.x.add(r * g * k + gi * k),
                x_row: g * k,
                x_group: k,
                w: p.w.as_ptr().add(gi * k * p.padded_n + panel.pcol * k + c0),
                w_row: panel.width,
                w_group: k * p.padded_n,
                b: p.bias.as_ptr().add(gi * p.padded_n + panel.pcol + c0),
                b_group: p.padded_n,
                y: self.y.add(r * g * n + gi * n + panel.col + c0),
                y_row: g * n,
                y_group: n,
                cols: panel.cols - c0,
            }
        }
    }
}

/// The largest instantiated tile span (panels or groups per one-row tile) not above `x`.
fn tiles_at_most(x: usize) -> usize {
    if x >= 8 {
        8
    } else if x >= 4 {
        4
    } else if x >= 3 {
        3
    } else if x >= 2 {
        2
    } else {
        1
    }
}

/// Picks the monomorphised tile for (rows, vectors, groups).
#[inline(always)]
unsafe fn tile_dyn<S: Vector>(mr: usize, nv: usize, ng: usize, t: &Tile, act: Activation) {
    macro_rules! pick {
        ($(($r:literal, $v:literal, $g:literal)),* $(,)?) => {
            match (mr, nv, ng) {
                // SAFETY: forwarded from `tile_dyn`'s caller.
                $(($r, $v, $g) => unsafe { tile::<S, $r, $v, $g>(t, act) },)*
                // SAFETY: forwarded from `tile_dyn`'s caller.
                _ => unsafe { tile_by_one::<S>(mr, nv, ng, t, act) },
            }
        };
    }
    pick!(
        (1, 1, 1),
        (1, 2, 1),
        (1, 3, 1),
        (1, 4, 1),
        (1, 1, 2),
        (1, 2, 2),
        (1, 3, 2),
        (1, 4, 2),
        (1, 1, 3),
        (1, 2, 3),
        (1, 3, 3),
        (1, 4, 3),
        (1, 3, 4),
        (1, 1, 4),
        (1, 2, 4),
        (1, 1, 8),
        (2, 1, 1),
        (2, 2, 1),
        (2, 3, 1),
        (2, 4, 1),
        (3, 1, 1),
        (3, 2, 1),
        (3, 3, 1),
        (3, 4, 1),
        (4, 1, 1),
        (4, 2, 1),
        (4, 3, 1),
        (4, 4, 1),
        (5, 1, 1),
        (5, 2, 1),
        (5, 3, 1),
        (5, 4, 1),
        (6, 1, 1),
        (6, 2, 1),
        (6, 3, 1),
        (6, 4, 1),
    )
}

/// A tile shape the table above lacks, as single-vector tiles (same arithmetic per output).
///
/// # Safety
/// As [`tile`] for the full (mr, nv, ng) tile.
#[inline(always)]
unsafe fn tile_by_one<S: Vector>(mr: usize, nv: usize, ng: usize, t: &Tile, act: Activation) {
    debug_assert!(false, "linear tile ({mr} rows, {nv} vectors, {ng} groups) not instantiated");
    for g in 0..ng {
        for r in 0..mr {
            for v in 0..nv {
                let c = v * S::LANES;
                // SAFETY: each sub-tile is one row, group and vector of the caller's tile.
                unsafe {
                    let one = Tile {
                        x: t.x.add(r * t.x_row + g * t.x_group),
                        w: t.w.add(g * t.w_group + c),
                        b: t.b.add(g * t.b_group + c),
                        y: t.y.add(r * t.y_row + g * t.y_group + c),
                        cols: t.cols - c,
                        ..*t
                    };
                    tile::<S, 1, 1, 1>(&one, act);
                }
            }
        }
    }
}

/// One register tile: NG groups × MR rows × V vectors of accumulators.
#[inline(always)]
unsafe fn tile<S: Vector, const MR: usize, const V: usize, const NG: usize>(t: &Tile, act: Activation) {
    // SAFETY (whole body): the caller guarantees the ISA and that every pointer offset below
    // (rows < MR, groups < NG, vectors < V within the padded panel, kk < k) is in bounds.
    unsafe {
        let mut acc = [[[S::zero(); V]; MR]; NG];
        for kk in 0..t.k {
            for (gg, acc_g) in acc.iter_mut().enumerate() {
                let wrow = t.w.add(gg * t.w_group + kk * t.w_row);
                let mut wv = [S::zero(); V];
                for (v, w) in wv.iter_mut().enumerate() {
                    *w = S::load(wrow.add(v * S::LANES));
                }
                for (rr, acc_r) in acc_g.iter_mut().enumerate() {
                    let xv = S::splat(*t.x.add(rr * t.x_row + gg * t.x_group + kk));
                    for (a, w) in acc_r.iter_mut().zip(wv) {
                        *a = S::fma(xv, w, *a);
                    }
                }
            }
        }
        for (gg, acc_g) in acc.iter().enumerate() {
            for (rr, acc_r) in acc_g.iter().enumerate() {
                let yrow = t.y.add(rr * t.y_row + gg * t.y_group);
                for (v, a) in acc_r.iter().enumerate() {
                    let c = v * S::LANES;
                    let out = S::activate(act, S::add(*a, S::load(t.b.add(gg * t.b_group + c))));
                    if c + S::LANES <= t.cols {
                        S::store(yrow.add(c), out);
                    } else {
                        S::store_partial(yrow.add(c), out, t.cols - c);
                    }
                }
            }
        }
    }
}
