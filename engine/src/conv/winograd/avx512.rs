//! AVX-512 stages of Winograd F(2×2, 3×3): 16 channels per zmm in the transforms, a
//! 12-tile × 32-channel register block (24 accumulators) in the GEMMs.

use super::{CHUNK, MR, WinoPacked, XI};
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
/// output rows in `keep`. `v` holds `XI·CHUNK·Cin` floats and `m` `XI·CHUNK·Cout`.
///
/// # Safety
/// The CPU has AVX-512 F/BW/DQ/VL; `n ≤ CHUNK`; `keep` are rows of this band.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn chunk(j: &Job, oh: usize, keep: Range<usize>, t0: usize, n: usize, v: &mut [f32], m: &mut [f32]) {
    let p = j.p;
    assert!(n <= CHUNK && v.len() >= XI * CHUNK * p.cin && m.len() >= XI * CHUNK * p.cout);
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
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn input_transform(j: &Job, oh: usize, t0: usize, n: usize, v: &mut [f32]) {
    let (g, cin) = (j.g, j.p.cin);
    let [_, ih_n, iw_n] = g.in_dims;
    let (pt, pl) = (g.pad[1], g.pad[2]);
    // Offsets of the patch's 4 input rows, `None` in the padding.
    let rows: [Option<usize>; 4] = std::array::from_fn(|dy| {
        let ih = (oh + dy).checked_sub(pt)?;
        (ih < ih_n).then_some(ih * iw_n * cin)
    });
    let all_rows = rows.iter().all(Option::is_some);
    let zero = _mm512_setzero_ps();
    let stride = CHUNK * cin; // between ξ planes
    for t in 0..n.div_ceil(MR) * MR {
        let dst = t * cin;
        if t >= n {
            for xi in 0..XI {
                v[xi * stride + dst..][..cin].fill(0.0);
            }
            continue;
        }
        let iw0 = (2 * (t0 + t)) as isize - pl as isize;
        let inside = all_rows && iw0 >= 0 && iw0 as usize + 4 <= iw_n;
        for cg in (0..cin).step_by(L) {
            let mut d = [[zero; 4]; 4];
            for (dy, row) in rows.iter().enumerate() {
                let Some(ro) = *row else { continue };
                for (dx, e) in d[dy].iter_mut().enumerate() {
                    let iw = iw0 + dx as isize;
                    if inside || (iw >= 0 && (iw as usize) < iw_n) {
                        let at = ro + iw as usize * cin + cg;
                        // SAFETY: row `ro` and column iw are inside the image, cg + 16 ≤ cin.
                        *e = unsafe { _mm512_loadu_ps(j.input[at..at + L].as_ptr()) };
                    }
                }
            }
            // Bᵀ d: combine rows.
            let w: [[__m512; 4]; 4] = std::array::from_fn(|c| {
                let (d0, d1, d2, d3) = (d[0][c], d[1][c], d[2][c], d[3][c]);
                [_mm512_sub_ps(d0, d2), _mm512_add_ps(d1, d2), _mm512_sub_ps(d2, d1), _mm512_sub_ps(d1, d3)]
            });
            // (Bᵀ d) B: combine columns; w[c][r] is row r, column c.
            let [w0, w1, w2, w3] = w;
            for r in 0..4 {
                let (c0, c1, c2, c3) = (w0[r], w1[r], w2[r], w3[r]);
                let out = [_mm512_sub_ps(c0, c2), _mm512_add_ps(c1, c2), _mm512_sub_ps(c2, c1), _mm512_sub_ps(c1, c3)];
                for (c, x) in out.into_iter().enumerate() {
                    let at = (r * 4 + c) * stride + dst + cg;
                    // SAFETY: ξ < 16, t < CHUNK, cg + 16 ≤ cin: inside v (checked by `chunk`).
                    unsafe { _mm512_storeu_ps(v[at..at + L].as_mut_ptr(), x) };
                }
            }
        }
    }
}

/// `M[ξ][t][co] = Σ_ci V[ξ][t][ci]·U[ξ][ci][co]` for tiles `0..rows` (a multiple of MR).
#[allow(clippy::needless_range_loop)] // acc[i][k] pairs two indices; iterators would obscure the blocking
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn gemm<const NV: usize>(p: &WinoPacked, rows: usize, v: &[f32], m: &mut [f32]) {
    let (cin, cout, nr) = (p.cin, p.cout, L * NV);
    for xi in 0..XI {
        let a = &v[xi * CHUNK * cin..][..CHUNK * cin];
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
                        let at = (xi * CHUNK + i0 + i) * cout + nb * nr + q * L;
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
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn output_transform(j: &Job, keep: Range<usize>, oh: usize, t0: usize, n: usize, m: &[f32]) {
    let cout = j.p.cout;
    let ow_n = j.g.out_dims[2];
    let stride = CHUNK * cout;
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
