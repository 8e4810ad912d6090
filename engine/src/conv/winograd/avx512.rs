//! AVX-512 stages of Winograd F(2×2, 3×3): 16 channels per zmm in the transforms, a
//! 12-tile × 32-channel register block (24 accumulators) in the GEMMs.

use super::{CHUNK, MR, WinoPacked, XI, plane};
use crate::activation::Activation;
use crate::conv::geom::{ConvGeom, OutMap};
use crate::outptr::OutPtr;
use crate::vmath::avx512::activate;
use std::arch::x86_64::*;
use std::ops::Range;

const L: usize = 16;

/// What every chunk of one image shares.
pub(super) struct Job<'a> {
    pub p: &'a WinoPacked,
    pub g: &'a ConvGeom,
    pub bias: &'a [f32],
    pub act: Activation,
    pub input: &'a [f32],
    pub out: OutPtr,
    pub map: &'a OutMap,
}

/// One chunk: tiles `t0..t0 + n` of the tile row whose top output row is `oh`, writing the
/// output rows in `keep`. `v` holds `XI·plane(Cin)` floats and `m` `XI·plane(Cout)`.
///
/// # Safety
/// The CPU has AVX-512 F/BW/DQ/VL; `n ≤ CHUNK`; `keep` are rows of this band.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn chunk(j: &Job, oh: usize, keep: Range<usize>, t0: usize, n: usize, v: &mut [f32], m: &mut [f32]) {
    let p = j.p;
    assert!(n <= CHUNK && v.len() >= XI * plane(p.cin) && m.len() >= XI * plane(p.cout));
    input_transform(j, oh, t0, n, v);
    let rows = n.div_ceil(MR) * MR;
    if p.nv == 2 {
        gemm::<2>(p, rows, v, m);
    } else {
        gemm::<1>(p, rows, v, m);
    }
    output_transform(j, keep, oh, t0, n, m);
}

/// `V[ξ][t][ci] = (Bᵀ d B)[ξ]` for each tile's 4×4 patch `d`, zeros for padding and for the
/// rows up to the next multiple of MR past `n` (the GEMM reads them).
///
/// Bᵀ first combines the patch's 4 rows column by column, then the columns. The two input rows
/// the next tile row adds are prefetched column by column, a whole tile row ahead.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn input_transform(j: &Job, oh: usize, t0: usize, n: usize, v: &mut [f32]) {
    let (g, cin) = (j.g, j.p.cin);
    let [_, ih_n, iw_n] = g.in_dims;
    let (pt, pl) = (g.pad[1], g.pad[2]);
    let row_len = iw_n * cin;
    // The patch's 4 input rows, `None` in the padding; then the 2 rows the next tile row adds.
    let row =
        |dy: usize| (oh + dy).checked_sub(pt).filter(|&ih| ih < ih_n).map(|ih| &j.input[ih * row_len..][..row_len]);
    let rows: [Option<&[f32]>; 4] = std::array::from_fn(row);
    let ahead: [Option<&[f32]>; 2] = std::array::from_fn(|i| row(4 + i));
    let stride = plane(cin);
    let padded = n.div_ceil(MR) * MR;
    for t in n..padded {
        for xi in 0..XI {
            v[xi * stride + t * cin..][..cin].fill(0.0);
        }
    }
    // Bᵀ over rows for input column `x` (zero outside the image), channels cg..cg + 16.
    let column = |x: isize, cg: usize| -> [__m512; 4] {
        let d: [__m512; 4] = std::array::from_fn(|dy| match rows[dy] {
            Some(r) if x >= 0 && (x as usize) < iw_n => {
                let at = x as usize * cin + cg;
                // SAFETY: at + 16 ≤ (x + 1)·cin ≤ row_len = r.len(), as cg + 16 ≤ cin.
                unsafe { _mm512_loadu_ps(r.as_ptr().add(at)) }
            }
            _ => _mm512_setzero_ps(),
        });
        [_mm512_sub_ps(d[0], d[2]), _mm512_add_ps(d[1], d[2]), _mm512_sub_ps(d[2], d[1]), _mm512_sub_ps(d[1], d[3])]
    };
    let x0 = (2 * t0) as isize - pl as isize;
    for t in 0..n {
        let x = x0 + 2 * t as isize;
        // Tile by tile, all channels: each ξ plane gets 4·Cin contiguous bytes per tile, whole
        // cache lines, instead of one line per pass over the chunk.
        for cg in (0..cin).step_by(L) {
            let [c0, c1, c2, c3]: [[__m512; 4]; 4] = std::array::from_fn(|dx| column(x + dx as isize, cg));
            // (Bᵀ d) B: combine the 4 columns of each combined row r.
            for r in 0..4 {
                let out = [
                    _mm512_sub_ps(c0[r], c2[r]),
                    _mm512_add_ps(c1[r], c2[r]),
                    _mm512_sub_ps(c2[r], c1[r]),
                    _mm512_sub_ps(c1[r], c3[r]),
                ];
                for (k, y) in out.into_iter().enumerate() {
                    let at = (r * 4 + k) * stride + t * cin + cg;
                    // SAFETY: ξ < 16, t < CHUNK and cg + 16 ≤ cin: inside v (checked by `chunk`).
                    unsafe { _mm512_storeu_ps(v.as_mut_ptr().add(at), y) };
                }
            }
        }
        for r in ahead.iter().flatten() {
            for dx in 2..4 {
                let at = (x + dx).clamp(0, iw_n as isize - 1) as usize * cin;
                for line in (0..cin).step_by(L) {
                    // Into L2: the next tile row reads it in about 1/180 of a 360-row frame.
                    _mm_prefetch::<_MM_HINT_T1>(r[at + line..].as_ptr().cast());
                }
            }
        }
    }
}

/// `M[ξ][t][co] = Σ_ci V[ξ][t][ci]·U[ξ][ci][co]` for tiles `0..rows` (a multiple of MR).
#[allow(clippy::needless_range_loop)] // acc[i][k] pairs two indices; iterators would obscure the blocking
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn gemm<const NV: usize>(p: &WinoPacked, rows: usize, v: &[f32], m: &mut [f32]) {
    let (cin, cout, nr) = (p.cin, p.cout, L * NV);
    for xi in 0..XI {
        let a = &v[xi * plane(cin)..][..CHUNK * cin];
        for nb in 0..p.nblocks {
            let b = &p.u[(xi * p.nblocks + nb) * cin * nr..][..cin * nr];
            for i0 in (0..rows).step_by(MR) {
                let a = &a[i0 * cin..][..MR * cin];
                let mut acc = [[_mm512_setzero_ps(); NV]; MR];
                for k in 0..cin {
                    // SAFETY: k·nr + (NV − 1)·16 + 16 ≤ cin·nr = b.len().
                    let bv: [__m512; NV] =
                        std::array::from_fn(|q| unsafe { _mm512_loadu_ps(b.as_ptr().add(k * nr + q * L)) });
                    for i in 0..MR {
                        // SAFETY: i·cin + k < MR·cin = a.len().
                        let av = _mm512_set1_ps(unsafe { *a.get_unchecked(i * cin + k) });
                        for q in 0..NV {
                            acc[i][q] = _mm512_fmadd_ps(av, bv[q], acc[i][q]);
                        }
                    }
                }
                for i in 0..MR {
                    for q in 0..NV {
                        let at = xi * plane(cout) + (i0 + i) * cout + nb * nr + q * L;
                        // SAFETY: ξ < 16, i0 + i < rows ≤ CHUNK, nb·nr + nr ≤ cout: inside m.
                        unsafe { _mm512_storeu_ps(m[at..at + L].as_mut_ptr(), acc[i][q]) };
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` per tile (A = [[1,0],[1,1],[1,−1],[0,−1]]), plus bias and activation, stored
/// for the pixels inside the output and rows in `keep`.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn output_transform(j: &Job, keep: Range<usize>, oh: usize, t0: usize, n: usize, m: &[f32]) {
    let cout = j.p.cout;
    let ow_n = j.g.out_dims[2];
    let stride = plane(cout);
    for t in 0..n {
        let ow0 = 2 * (t0 + t);
        for cg in (0..cout).step_by(L) {
            let mv: [__m512; XI] = std::array::from_fn(|xi| {
                let at = xi * stride + t * cout + cg;
                // SAFETY: inside m, as the GEMM wrote it.
                unsafe { _mm512_loadu_ps(m[at..at + L].as_ptr()) }
            });
            let add3 = |a: __m512, b: __m512, c: __m512| _mm512_add_ps(_mm512_add_ps(a, b), c);
            let dif3 = |a: __m512, b: __m512, c: __m512| _mm512_sub_ps(_mm512_sub_ps(a, b), c);
            // Rows of M (ξ = 4·r + c) into the two output rows.
            let s0: [__m512; 4] = std::array::from_fn(|c| add3(mv[c], mv[4 + c], mv[8 + c]));
            let s1: [__m512; 4] = std::array::from_fn(|c| dif3(mv[4 + c], mv[8 + c], mv[12 + c]));
            // SAFETY: cg + 16 ≤ cout = bias.len().
            let b = unsafe { _mm512_loadu_ps(j.bias[cg..cg + L].as_ptr()) };
            let y = [
                [add3(s0[0], s0[1], s0[2]), dif3(s0[1], s0[2], s0[3])],
                [add3(s1[0], s1[1], s1[2]), dif3(s1[1], s1[2], s1[3])],
            ];
            for (dy, yr) in y.iter().enumerate() {
                let row = oh + dy;
                if !keep.contains(&row) {
                    continue;
                }
                for (dx, &val) in yr.iter().enumerate() {
                    let ow = ow0 + dx;
                    if ow < ow_n {
                        let o = j.map.pixel(0, row, ow) + cg;
                        // SAFETY: pixel (row, ow) is inside the output and in this band's rows;
                        // channels cg..cg+16 ≤ cout are contiguous (`supports` requires it).
                        unsafe { _mm512_storeu_ps(j.out.at(o), activate(j.act, _mm512_add_ps(val, b))) };
                    }
                }
            }
        }
    }
}
