//! Winograd F(m×m, 3×3), m = 4 or 2, for wide 3×3 stride-1 layers (ESPCN l2: 64→32 on 360×640).
//!
//! Not a sliding-window kernel, and deliberately the only one that is not: on such layers the
//! direct kernels already run the multiply-adds at about 91 % of FMA peak, so the multiplies
//! themselves are the cost. F(m×m, 3×3) computes an m×m output tile from its (m+2)² input
//! patch with (m+2)² products per (ci, co) instead of 9m²: 4× fewer for F(4×4, 3×3), 2.25×
//! for F(2×2, 3×3), paying transforms made of adds and small constant multiples.
//!
//! Rounding: F(2,3)'s transform coefficients are 0, ±1, ±½, so it rounds like the direct
//! kernels. F(4,3)'s (up to 8 and 1/24) cost about 4 more bits: ≈ 1e-5 relative on ESPCN-like
//! layers, well inside the 1e-4 the models hold against PyTorch, invisible in 8-bit video.
//! Plans use F(4,3) wherever the output has at least 8 rows and 32 columns, else F(2,3).
//!
//! Work goes by tile rows (m output rows), in chunks of 96 columns, all in L2, strip by strip
//! down the band:
//! 1. input transform: each tile's patch → `V[ξ][tile][ci]` for the (m+2)² points ξ;
//! 2. (m+2)² small GEMMs `M[ξ] = V[ξ] · U[ξ]`, with `U = G g Gᵀ` packed at plan time;
//! 3. output transform `M` → m×m pixels, then bias, activation and the stores.
//!
//! The AVX-512 and AVX2 tiers have it (one body, `tier.rs`); NEON and scalar plans use the
//! direct kernels. The scalar reference kernel is what the tests compare it with.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod tier;

use super::geom::{ConvGeom, OutMap};
use crate::activation::Activation;
use crate::isa::Isa;
use crate::outptr::OutPtr;
use std::ops::Range;

/// Output columns per chunk: 48 F(2,3) or 24 F(4,3) tiles, multiples of every tier's GEMM
/// block (12 tiles on AVX-512, 6 on AVX2), and a chunk's `V` and `M` (288 / 330 KiB for 64→32)
/// stay in L2.
const CHUNK_COLUMNS: usize = 96;

/// Floats between consecutive ξ planes of a chunk buffer with `chunk` tiles of `ch` channels.
/// One cache line more than the plane itself: at 12 KiB (64 channels) the planes would share
/// L1 sets 4 KiB apart, and each tile's stores (loads, in the output transform) would evict
/// one another.
pub(super) const fn plane(chunk: usize, ch: usize) -> usize {
    chunk * ch + 16
}

/// Whether the plan should use Winograd: an x86 vector tier, a 2-D 3×3 stride-1 undilated
/// ungrouped conv without pixel shuffle into contiguous channels, channel counts in whole
/// vectors, and enough channels and pixels that the transforms pay for themselves (DFN3's and
/// the clutter filter's convs do not qualify).
pub(crate) fn supports(isa: Isa, g: &ConvGeom, map: &OutMap) -> bool {
    matches!(isa, Isa::Avx512 | Isa::Avx2)
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

/// What every chunk of one image shares, whichever tier runs it.
#[cfg(target_arch = "x86_64")]
struct Job<'a> {
    p: &'a WinoPacked,
    g: &'a ConvGeom,
    bias: &'a [f32],
    act: Activation,
    input: &'a [f32],
    out: OutPtr,
    map: &'a OutMap,
}

/// A plan's transformed weights and blocking.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only x86 tiers run the stages
pub(crate) struct WinoPacked {
    /// AVX-512 or AVX2.
    pub(super) isa: Isa,
    /// Output tile size: F(m×m, 3×3).
    pub(super) m: usize,
    pub(super) cin: usize,
    pub(super) cout: usize,
    /// Vectors (L channels each: 16 on AVX-512, 8 on AVX2) per GEMM column block: 2 when Cout
    /// is a multiple of 2·L.
    pub(super) nv: usize,
    /// Column blocks of L·nv output channels.
    pub(super) nblocks: usize,
    /// `U = G g Gᵀ` as `[ξ][nb][ci][L·nv]`.
    pub(super) u: Vec<f32>,
    /// Tiles along W (⌈OW / m⌉) and per chunk.
    pub(super) tiles_w: usize,
    pub(super) chunk: usize,
}

impl WinoPacked {
    /// Transforms and packs `weights` (`[Cout][Cin][1][3][3]`) with the tile size the output
    /// suits.
    pub fn new(isa: Isa, g: &ConvGeom, weights: &[f32]) -> Self {
        let m = if g.out_dims[1] >= 8 && g.out_dims[2] >= 32 { 4 } else { 2 };
        Self::with_tile(isa, g, weights, m)
    }

    /// Packs for F(m×m, 3×3), m = 2 or 4, on `isa` (AVX-512 or AVX2).
    pub(super) fn with_tile(isa: Isa, g: &ConvGeom, weights: &[f32], m: usize) -> Self {
        let (cin, cout) = (g.cin, g.cout);
        let lanes = isa.lanes();
        let nv = if cout.is_multiple_of(2 * lanes) { 2 } else { 1 };
        let nr = lanes * nv;
        let nblocks = cout / nr;
        let xi_n = (m + 2) * (m + 2);
        let mut u = vec![0.0; xi_n * cout * cin];
        for co in 0..cout {
            for ci in 0..cin {
                let k = &weights[(co * cin + ci) * 9..][..9];
                let t = transform_filter(m, std::array::from_fn(|i| std::array::from_fn(|j| k[i * 3 + j])));
                let (nb, j) = (co / nr, co % nr);
                for (xi, v) in t.iter().enumerate() {
                    u[((xi * nblocks + nb) * cin + ci) * nr + j] = *v;
                }
            }
        }
        let chunk = CHUNK_COLUMNS / m;
        Self { isa, m, cin, cout, nv, nblocks, u, tiles_w: g.out_dims[2].div_ceil(m), chunk }
    }

    /// Winograd points ξ per tile: (m + 2)².
    pub(super) fn points(&self) -> usize {
        (self.m + 2) * (self.m + 2)
    }

    /// Scratch floats one band needs: a chunk's `V` and `M`, plus alignment slack.
    pub fn scratch_per_band(&self) -> usize {
        self.points() * (plane(self.chunk, self.cin) + plane(self.chunk, self.cout)) + 32
    }

    /// Computes output rows `rows` of one image. Tile rows are m rows on the image's grid; a
    /// band that starts or ends inside one computes it and writes only its own rows.
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
            let (v, rest) = scratch[skip..].split_at_mut(self.points() * plane(self.chunk, self.cin));
            let skip = rest.as_ptr().align_offset(64).min(16);
            let m = &mut rest[skip..skip + self.points() * plane(self.chunk, self.cout)];
            let job = Job { p: self, g, bias, act, input, out, map };
            // Down the band one column strip at a time: the next tile row reuses two of the
            // strip's input rows while they are still in L1/L2, so each input
            // row comes from memory once.
            for t0 in (0..self.tiles_w).step_by(self.chunk) {
                let n = self.chunk.min(self.tiles_w - t0);
                // Tile rows on the image's grid (not the band's), so results do not depend on
                // how the rows were split between threads.
                for oh in (rows.start - rows.start % self.m..rows.end).step_by(self.m) {
                    let keep = oh.max(rows.start)..rows.end.min(oh + self.m);
                    // SAFETY: plans use Winograd only on the tier whose features `Isa::require`
                    // confirmed (`supports`); `v` and `m` hold a chunk, as sized above.
                    unsafe {
                        if self.isa == Isa::Avx512 {
                            avx512::chunk(&job, oh, keep, t0, n, v, m);
                        } else {
                            avx2::chunk(&job, oh, keep, t0, n, v, m);
                        }
                    }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            // `supports` is false off x86-64, so no plan reaches here.
            let _ = (g, bias, act, input, out, map, rows, scratch);
            unreachable!("Winograd plans exist only on the x86 vector tiers");
        }
    }
}

/// G of F(2,3) and of F(4,3).
const G2: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
const G4: [[f64; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `G g Gᵀ` for one 3×3 filter (`g[kh][kw]`), row-major (m+2)², computed in f64 and rounded
/// once.
fn transform_filter(m: usize, g: [[f32; 3]; 3]) -> Vec<f32> {
    let gm: &[[f64; 3]] = if m == 2 { &G2 } else { &G4 };
    let p = gm.len();
    let mut u = Vec::with_capacity(p * p);
    for a in gm {
        for b in gm {
            let v: f64 =
                (0..3).flat_map(|i| (0..3).map(move |j| (i, j))).map(|(i, j)| a[i] * f64::from(g[i][j]) * b[j]).sum();
            u.push(v as f32);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Slope;
    use crate::conv::ConvSpec;
    use crate::conv::reference::RefPacked;

    fn prelu(s: f32) -> Activation {
        Activation::Prelu(Slope::new(s).unwrap_or_else(|e| panic!("{e}")))
    }

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

    /// Bᵀ, Aᵀ of both sizes (the AVX-512 transforms are these, factored).
    fn bt(m: usize) -> Vec<Vec<f32>> {
        if m == 2 {
            vec![vec![1., 0., -1., 0.], vec![0., 1., 1., 0.], vec![0., -1., 1., 0.], vec![0., 1., 0., -1.]]
        } else {
            vec![
                vec![4., 0., -5., 0., 1., 0.],
                vec![0., -4., -4., 1., 1., 0.],
                vec![0., 4., -4., -1., 1., 0.],
                vec![0., -2., -1., 2., 1., 0.],
                vec![0., 2., -1., -2., 1., 0.],
                vec![0., 4., 0., -5., 0., 1.],
            ]
        }
    }
    fn at(m: usize) -> Vec<Vec<f32>> {
        if m == 2 {
            vec![vec![1., 1., 1., 0.], vec![0., 1., -1., -1.]]
        } else {
            vec![
                vec![1., 1., 1., 1., 1., 0.],
                vec![0., 1., -1., 2., -2., 0.],
                vec![0., 1., 1., 4., 4., 0.],
                vec![0., 1., -1., 8., -8., 1.],
            ]
        }
    }

    /// The transformed filter, with Bᵀ and Aᵀ, reproduces direct correlation on one tile.
    #[test]
    fn filter_transform_round_trips_through_one_tile() {
        for m in [2, 4] {
            let p = m + 2;
            let mut seed = 7;
            let g: Vec<f32> = uniform(&mut seed, 9);
            let d: Vec<f32> = uniform(&mut seed, p * p);
            let u = transform_filter(m, std::array::from_fn(|i| std::array::from_fn(|j| g[i * 3 + j])));
            let (bt, at) = (bt(m), at(m));
            let mut v = vec![0.0f32; p * p];
            for a in 0..p {
                for b in 0..p {
                    v[a * p + b] = (0..p)
                        .flat_map(|i| (0..p).map(move |j| (i, j)))
                        .map(|(i, j)| bt[a][i] * d[i * p + j] * bt[b][j])
                        .sum();
                }
            }
            for y in 0..m {
                for x in 0..m {
                    let got: f32 = (0..p)
                        .flat_map(|a| (0..p).map(move |b| (a, b)))
                        .map(|(a, b)| at[y][a] * u[a * p + b] * v[a * p + b] * at[x][b])
                        .sum();
                    let want: f32 = (0..3)
                        .flat_map(|i| (0..3).map(move |j| (i, j)))
                        .map(|(i, j)| d[(y + i) * p + x + j] * g[i * 3 + j])
                        .sum();
                    assert!((got - want).abs() < 1e-5, "F({m},3) ({y},{x}): {got} vs {want}");
                }
            }
        }
    }

    /// Random layers, odd and even sizes, every padding the geometry allows, several
    /// activations and bands that start and end inside a tile row, on each tier this CPU has,
    /// both tile sizes: equal to the reference.
    #[test]
    fn matches_reference_on_random_shapes() {
        let tiers: Vec<Isa> = [Isa::Avx512, Isa::Avx2].into_iter().filter(|i| i.is_supported()).collect();
        let cases = [
            (32, 16, [4, 16], [1, 1], Activation::Identity),
            (32, 32, [5, 17], [1, 1], Activation::Tanh),
            (64, 32, [9, 50], [1, 1], Activation::Tanh),
            (48, 48, [7, 33], [0, 0], Activation::Relu),
            (16 * 5, 16, [6, 97], [2, 0], Activation::Sigmoid),
            (32, 64, [8, 130], [1, 2], Activation::Identity),
            (32, 16, [6, 40], [1, 1], prelu(0.25)),
            (48, 32, [7, 21], [0, 1], prelu(-0.5)),
            (32, 32, [5, 66], [1, 0], prelu(1.3)),
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
            for &isa in &tiers {
                assert!(supports(isa, &g, &map), "{isa} {spec:?} {hw:?}");
            }
            let mut want = vec![f32::NAN; g.output_len()];
            RefPacked::new(&g, &w).run_rows(&g, &b, act, &x, OutPtr::new(&mut want), &map, 0..g.rows());
            let mut whole = Vec::new();
            // Band boundaries: none, one inside the first tile row, two splitting tile rows.
            let runs = tiers.iter().flat_map(|&isa| [2, 4].into_iter().map(move |m| (isa, m)));
            for (isa, m, cuts) in
                runs.flat_map(|(i, m)| [(i, m, &[][..]), (i, m, &[1]), (i, m, &[3, 4]), (i, m, &[2, 7])])
            {
                let p = WinoPacked::with_tile(isa, &g, &w, m);
                let mut got = vec![f32::NAN; g.output_len()];
                let mut scratch = vec![f32::NAN; p.scratch_per_band()];
                let inner = cuts.iter().copied().filter(|&c| c < g.rows());
                let edges: Vec<usize> = std::iter::once(0).chain(inner).chain([g.rows()]).collect();
                for band in edges.windows(2) {
                    p.run_rows(&g, &b, act, &x, OutPtr::new(&mut got), &map, band[0]..band[1], &mut scratch);
                }
                // Every split gives the same bits: tile rows sit on the image's grid.
                if cuts.is_empty() {
                    whole = got.clone();
                } else {
                    assert!(got.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa} F({m},3) {cuts:?}");
                }
                // Inputs and weights in ±1: outputs reach ~10, F(4,3) rounds to ~1e-5 of that.
                let tol = 2e-5 * (cin * 9) as f32;
                for (k, (a, e)) in got.iter().zip(&want).enumerate() {
                    assert!((a - e).abs() <= tol, "{isa} F({m},3) {spec:?} {hw:?} element {k}: {a} vs {e}");
                }
            }
        }
    }
}
