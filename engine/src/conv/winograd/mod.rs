//! Winograd F(2×2, 3×3) for wide 3×3 stride-1 layers (ESPCN l2: 64→32 on 360×640).
//!
//! Not a sliding-window kernel, and deliberately the only one that is not: on such layers the
//! direct kernels already run the multiply-adds at about 91 % of FMA peak, so the multiplies
//! themselves are the cost. F(2×2, 3×3) computes a 2×2 output tile from its 4×4 input patch
//! with 16 products per (ci, co) instead of 36 (2.25× fewer), paying transforms made of adds.
//! The transforms' coefficients are 0, ±1 and ±½, so the rounding stays at the direct
//! kernels' level (the tests hold it to the same tolerance against the reference).
//!
//! Work goes by pairs of output rows, in chunks of [`CHUNK`] tiles along W, all in L2, strip by
//! strip down the band:
//! 1. input transform: each tile's 4×4×Cin patch → `V[ξ][tile][ci]` for the 16 ξ (adds only);
//! 2. 16 small GEMMs `M[ξ] = V[ξ] · U[ξ]`, with `U = G g Gᵀ` packed at plan time;
//! 3. output transform `M` → 2×2 pixels, then bias, activation and the stores.
//!
//! Only the AVX-512 tier has it (on Zen 4 the direct AVX2 kernels are the fallback); the
//! scalar reference kernel is what the tests compare it with.

#[cfg(target_arch = "x86_64")]
mod avx512;

use super::geom::{ConvGeom, OutMap};
use crate::activation::Activation;
use crate::isa::Isa;
use crate::outptr::OutPtr;
use std::ops::Range;

/// Tiles per chunk along W: a multiple of [`MR`], small enough that a chunk's `V` and `M`
/// (about 16·CHUNK·(Cin + Cout) floats, 288 KiB for 64→32) stay in L2.
pub(super) const CHUNK: usize = 48;
/// Tiles (GEMM rows) per register block.
pub(super) const MR: usize = 12;
/// Winograd points of F(2×2, 3×3).
pub(super) const XI: usize = 16;

/// Floats between consecutive ξ planes of a chunk buffer with `ch` channels per tile. One
/// cache line more than the plane itself: at 12 KiB (64 channels) the 16 planes would share
/// L1 sets 4 KiB apart, and each tile's 16 stores (loads, in the output transform) would
/// evict one another.
pub(super) const fn plane(ch: usize) -> usize {
    CHUNK * ch + 16
}

/// Whether the plan should use Winograd: the AVX-512 tier, a 2-D 3×3 stride-1 undilated
/// ungrouped conv without pixel shuffle into contiguous channels, channel counts in whole
/// vectors, and enough channels and pixels that the transforms pay for themselves (DFN3's and
/// the clutter filter's convs do not qualify).
pub(crate) fn supports(isa: Isa, g: &ConvGeom, map: &OutMap) -> bool {
    isa == Isa::Avx512
        && g.kernel == [1, 3, 3]
        && g.stride == [1, 1, 1]
        && g.dilation == [1, 1, 1]
        && g.groups == 1
        && g.shuffle == 1
        && g.in_dims[0] == 1
        && g.out_dims[0] == 1
        && map.chan.is_none()
        && g.cin.is_multiple_of(16)
        && g.cout.is_multiple_of(16)
        && g.cin >= 32
        && g.out_dims[1] >= 4
        && g.out_dims[2] >= 16
}

/// A plan's transformed weights and blocking.
#[derive(Debug, Clone)]
pub(crate) struct WinoPacked {
    pub(super) cin: usize,
    pub(super) cout: usize,
    /// Vectors (16 channels each) per GEMM column block: 2 when Cout is a multiple of 32.
    pub(super) nv: usize,
    /// Column blocks of 16·nv output channels.
    pub(super) nblocks: usize,
    /// `U = G g Gᵀ` as `[ξ][nb][ci][16·nv]`.
    pub(super) u: Vec<f32>,
    /// Tiles along W: ⌈OW / 2⌉.
    pub(super) tiles_w: usize,
}

impl WinoPacked {
    /// Transforms and packs `weights` (`[Cout][Cin][1][3][3]`).
    pub fn new(g: &ConvGeom, weights: &[f32]) -> Self {
        let (cin, cout) = (g.cin, g.cout);
        let nv = if cout.is_multiple_of(32) { 2 } else { 1 };
        let nr = 16 * nv;
        let nblocks = cout / nr;
        let mut u = vec![0.0; XI * cout * cin];
        for co in 0..cout {
            for ci in 0..cin {
                let k = &weights[(co * cin + ci) * 9..][..9];
                let t = transform_filter(std::array::from_fn(|i| std::array::from_fn(|j| k[i * 3 + j])));
                let (nb, j) = (co / nr, co % nr);
                for (xi, v) in t.iter().flatten().enumerate() {
                    u[((xi * nblocks + nb) * cin + ci) * nr + j] = *v;
                }
            }
        }
        Self { cin, cout, nv, nblocks, u, tiles_w: g.out_dims[2].div_ceil(2) }
    }

    /// Scratch floats one band needs: a chunk's `V` and `M`, plus alignment slack.
    pub fn scratch_per_band(&self) -> usize {
        XI * (plane(self.cin) + plane(self.cout)) + 32
    }

    /// Computes output rows `rows` of one image. A pair of rows is one tile row; a band that
    /// starts or ends inside a pair computes the pair and writes only its own row.
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
        #[cfg(target_arch = "x86_64")]
        {
            let skip = scratch.as_ptr().align_offset(64).min(16);
            let (v, rest) = scratch[skip..].split_at_mut(XI * plane(self.cin));
            let skip = rest.as_ptr().align_offset(64).min(16);
            let m = &mut rest[skip..skip + XI * plane(self.cout)];
            let job = avx512::Job { p: self, g, bias, act, input, out, map };
            // Down the band one column strip of CHUNK tiles at a time: the next tile row reuses
            // two of the strip's four input rows while they are still in L1/L2, so each input
            // row comes from memory once.
            for t0 in (0..self.tiles_w).step_by(CHUNK) {
                let n = CHUNK.min(self.tiles_w - t0);
                for oh in rows.clone().step_by(2) {
                    let keep = oh..rows.end.min(oh + 2);
                    // SAFETY: plans use Winograd only on the AVX-512 tier (`supports`), which
                    // `Isa::require` confirmed; `v` and `m` hold a chunk, as sized above.
                    unsafe { avx512::chunk(&job, oh, keep, t0, n, v, m) };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            // `supports` is false off x86-64, so no plan reaches here.
            let _ = (g, bias, act, input, out, map, rows, scratch);
            unreachable!("Winograd plans exist only on the AVX-512 tier");
        }
    }
}

/// `G g Gᵀ` for one 3×3 filter (`g[kh][kw]`), G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]].
fn transform_filter(g: [[f32; 3]; 3]) -> [[f32; 4]; 4] {
    let gm = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
    let mut t = [[0.0f32; 3]; 4]; // G g
    for a in 0..4 {
        for j in 0..3 {
            t[a][j] = (0..3).map(|i| gm[a][i] * g[i][j]).sum();
        }
    }
    let mut u = [[0.0f32; 4]; 4];
    for a in 0..4 {
        for b in 0..4 {
            u[a][b] = (0..3).map(|j| t[a][j] * gm[b][j]).sum();
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvSpec;
    use crate::conv::reference::RefPacked;

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

    /// The transformed filter reproduces the 1-D F(2,3) identities row by row: applying it to
    /// a transformed 4×4 patch and transforming back equals direct correlation.
    #[test]
    fn filter_transform_round_trips_through_one_tile() {
        let mut seed = 7;
        let g: Vec<f32> = uniform(&mut seed, 9);
        let d: Vec<f32> = uniform(&mut seed, 16);
        let u = transform_filter(std::array::from_fn(|i| std::array::from_fn(|j| g[i * 3 + j])));
        let bt = [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]];
        let at = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];
        let mut v = [[0.0f32; 4]; 4];
        for a in 0..4 {
            for b in 0..4 {
                v[a][b] = (0..4)
                    .flat_map(|i| (0..4).map(move |j| (i, j)))
                    .map(|(i, j)| bt[a][i] * d[i * 4 + j] * bt[b][j])
                    .sum();
            }
        }
        for y in 0..2 {
            for x in 0..2 {
                let got: f32 = (0..4)
                    .flat_map(|a| (0..4).map(move |b| (a, b)))
                    .map(|(a, b)| at[y][a] * u[a][b] * v[a][b] * at[x][b])
                    .sum();
                let want: f32 = (0..3)
                    .flat_map(|i| (0..3).map(move |j| (i, j)))
                    .map(|(i, j)| d[(y + i) * 4 + x + j] * g[i * 3 + j])
                    .sum();
                assert!((got - want).abs() < 1e-5, "({y},{x}): {got} vs {want}");
            }
        }
    }

    /// Random layers, odd and even sizes, every padding the geometry allows, several
    /// activations and bands that start and end inside a tile row: equal to the reference.
    #[test]
    fn matches_reference_on_random_shapes() {
        if !Isa::Avx512.is_supported() {
            return;
        }
        let cases = [
            (32, 16, [4, 16], [1, 1], Activation::Identity),
            (32, 32, [5, 17], [1, 1], Activation::Tanh),
            (64, 32, [9, 50], [1, 1], Activation::Tanh),
            (48, 48, [7, 33], [0, 0], Activation::Relu),
            (16 * 5, 16, [6, 97], [2, 0], Activation::Sigmoid),
            (32, 64, [8, 130], [1, 2], Activation::Identity),
        ];
        let mut seed = 0x1234_5678;
        for (cin, cout, hw, pad, act) in cases {
            let spec = ConvSpec::new(cin, cout, &[3, 3]).padding(&[pad[0], pad[1]], &[pad[0], pad[1]]).activation(act);
            let g = ConvGeom::new("test", &spec, &hw).unwrap_or_else(|e| panic!("{e}"));
            let map = OutMap::for_geom(&g);
            let (x, w, b) =
                (uniform(&mut seed, g.input_len()), uniform(&mut seed, cout * cin * 9), uniform(&mut seed, cout));
            if g.out_dims[1] < 4 || g.out_dims[2] < 16 {
                continue;
            }
            assert!(supports(Isa::Avx512, &g, &map), "{spec:?} {hw:?}");
            let p = WinoPacked::new(&g, &w);
            let mut want = vec![f32::NAN; g.output_len()];
            RefPacked::new(&g, &w).run_rows(&g, &b, act, &x, OutPtr::new(&mut want), &map, 0..g.rows());
            // Band boundaries: none, one inside the first tile row, two splitting a tile row.
            for cuts in [&[][..], &[1], &[3, 4]] {
                let mut got = vec![f32::NAN; g.output_len()];
                let mut scratch = vec![f32::NAN; p.scratch_per_band()];
                let edges: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).chain([g.rows()]).collect();
                for band in edges.windows(2) {
                    p.run_rows(&g, &b, act, &x, OutPtr::new(&mut got), &map, band[0]..band[1], &mut scratch);
                }
                let tol = 1e-5 * (cin * 9) as f32;
                for (k, (a, e)) in got.iter().zip(&want).enumerate() {
                    assert!((a - e).abs() <= tol, "{spec:?} {hw:?} element {k}: {a} vs {e}");
                }
            }
        }
    }
}
