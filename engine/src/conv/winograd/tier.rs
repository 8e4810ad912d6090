//! The Winograd stages, written once for every x86 tier: `winograd_tier!` expands them inside a
//! tier module that defines the vector type `V`, its lane count `L`, the GEMM block `MR` and
//! thin `#[inline]` wrappers (`add`, `sub`, `fmadd`, `fnmadd`, `set1`, `load`, `store`,
//! `zero`, `act`) over that tier's intrinsics. The stages carry the tier's `target_feature`, so
//! the wrappers inline to single instructions.
//!
//! Vectors hold channels (L per vector): the transforms work on fixed 6-vector columns whatever m
//! is (F(2,3) uses the first 4), so one body serves both tile sizes; the GEMM's register block
//! is MR tiles × 2·L channels.

/// Expands `chunk` and the stages for the tier whose features are `$feat`.
macro_rules! winograd_tier {
    ($feat:literal) => {
        /// One chunk: tiles `t0..t0 + n` of the tile row whose top output row is `oh`, writing the
        /// output rows in `keep`. `v` holds `ξ·plane(Cin)` floats and `m` `ξ·plane(Cout)`.
        ///
        /// # Safety
        /// The CPU has this tier's features; `n ≤` the plan's chunk; `keep` are rows of this band.
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn chunk(
            j: &Job,
            oh: usize,
            keep: Range<usize>,
            t0: usize,
            n: usize,
            v: &mut [f32],
            m: &mut [f32],
        ) {
            let p = j.p;
            let xi = p.points();
            assert!(n <= p.chunk && v.len() >= xi * plane(p.chunk, p.cin) && m.len() >= xi * plane(p.chunk, p.cout));
            if p.m == 2 {
                input_transform::<2>(j, oh, t0, n, v);
            } else {
                input_transform::<4>(j, oh, t0, n, v);
            }
            let rows = n.div_ceil(MR) * MR;
            if p.nv == 2 {
                gemm::<2>(p, rows, v, m);
            } else {
                gemm::<1>(p, rows, v, m);
            }
            if p.m == 2 {
                output_transform::<2>(j, keep, oh, t0, n, m);
            } else {
                output_transform::<4>(j, keep, oh, t0, n, m);
            }
        }

        /// `Bᵀ d` for one column of a patch (`M + 2` entries used).
        /// F(2,3): Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]].
        /// F(4,3): Bᵀ = [[4,0,−5,0,1,0],[0,−4,−4,1,1,0],[0,4,−4,−1,1,0],[0,−2,−1,2,1,0],[0,2,−1,−2,1,0],
        /// [0,4,0,−5,0,1]], in 12 operations.
        #[inline]
        #[target_feature(enable = $feat)]
        fn bt<const M: usize>(d: [V; 6]) -> [V; 6] {
            let z = zero();
            if M == 2 {
                return [sub(d[0], d[2]), add(d[1], d[2]), sub(d[2], d[1]), sub(d[1], d[3]), z, z];
            }
            let (four, five, two) = (set1(4.0), set1(5.0), set1(2.0));
            let a = fnmadd(four, d[2], d[4]); // d4 − 4d2
            let b = fnmadd(four, d[1], d[3]); // d3 − 4d1
            let c = sub(d[4], d[2]);
            let s = sub(d[3], d[1]);
            [
                fmadd(four, d[0], fnmadd(five, d[2], d[4])),
                add(a, b),
                sub(a, b),
                fmadd(two, s, c),
                fnmadd(two, s, c),
                fmadd(four, d[1], fnmadd(five, d[3], d[5])),
            ]
        }

        /// `Aᵀ m` for one column of a transformed tile (`M` outputs).
        /// F(2,3): Aᵀ = [[1,1,1,0],[0,1,−1,−1]].
        /// F(4,3): Aᵀ = [[1,1,1,1,1,0],[0,1,−1,2,−2,0],[0,1,1,4,4,0],[0,1,−1,8,−8,1]], in 10 operations.
        #[inline]
        #[target_feature(enable = $feat)]
        fn at<const M: usize>(m: [V; 6]) -> [V; 4] {
            let z = zero();
            if M == 2 {
                let y0 = add(add(m[0], m[1]), m[2]);
                let y1 = sub(sub(m[1], m[2]), m[3]);
                return [y0, y1, z, z];
            }
            let (p, q) = (add(m[1], m[2]), sub(m[1], m[2]));
            let (r, s) = (add(m[3], m[4]), sub(m[3], m[4]));
            [add(add(m[0], p), r), fmadd(set1(2.0), s, q), fmadd(set1(4.0), r, p), add(fmadd(set1(8.0), s, q), m[5])]
        }

        /// `V[ξ][t][ci] = (Bᵀ d B)[ξ]` for each tile's (M+2)² patch `d`, zeros for padding and for the
        /// rows up to the next multiple of MR past `n` (the GEMM reads them).
        ///
        /// Bᵀ first combines the patch's rows column by column, then the columns. (Software prefetch
        /// of the rows the next tile row adds measured no gain: strip-mining keeps them in L2.)
        #[allow(clippy::needless_range_loop)] // cols[c][r] / s[c][dy] transpose a tile; indices say which way
        #[inline(never)]
        #[target_feature(enable = $feat)]
        fn input_transform<const M: usize>(j: &Job, oh: usize, t0: usize, n: usize, v: &mut [f32]) {
            let (g, cin, p) = (j.g, j.p.cin, M + 2);
            let [_, ih_n, iw_n] = g.in_dims;
            let (pt, pl) = (g.pad[1], g.pad[2]);
            let row_len = iw_n * cin;
            // The patch's rows, `None` in the padding (and past M + 2).
            let row = |dy: usize| {
                (oh + dy).checked_sub(pt).filter(|&ih| ih < ih_n).map(|ih| &j.input[ih * row_len..][..row_len])
            };
            let rows: [Option<&[f32]>; 6] = std::array::from_fn(|dy| if dy < p { row(dy) } else { None });
            let stride = plane(j.p.chunk, cin);
            for t in n..n.div_ceil(MR) * MR {
                for xi in 0..p * p {
                    v[xi * stride + t * cin..][..cin].fill(0.0);
                }
            }
            // Bᵀ over rows for input column `x` (zero outside the image), channels cg..cg + L.
            let column = |x: isize, cg: usize| -> [V; 6] {
                let d: [V; 6] = std::array::from_fn(|dy| match rows[dy] {
                    Some(r) if x >= 0 && (x as usize) < iw_n => {
                        let at = x as usize * cin + cg;
                        // SAFETY: at + L ≤ (x + 1)·cin ≤ row_len = r.len(), as cg + L ≤ cin.
                        unsafe { load(r.as_ptr().add(at)) }
                    }
                    _ => zero(),
                });
                bt::<M>(d)
            };
            // Interior tiles (every row and column inside the image) load without checks.
            let all_rows = rows.iter().take(p).all(Option::is_some);
            let base: [*const f32; 6] = std::array::from_fn(|dy| rows[dy].map_or(std::ptr::null(), <[f32]>::as_ptr));
            let x0 = (M * t0) as isize - pl as isize;
            for t in 0..n {
                let x = x0 + (M * t) as isize;
                let inside = all_rows && x >= 0 && x as usize + p <= iw_n;
                // Tile by tile, all channels: each ξ plane gets 4·Cin contiguous bytes per tile, whole
                // cache lines, instead of one line per pass over the chunk.
                for cg in (0..cin).step_by(L) {
                    let cols: [[V; 6]; 6] = if inside {
                        let at = x as usize * cin + cg;
                        std::array::from_fn(|dx| {
                            if dx >= p {
                                return [zero(); 6];
                            }
                            bt::<M>(std::array::from_fn(|dy| {
                                if dy >= p {
                                    return zero();
                                }
                                // SAFETY: rows 0..p exist (`all_rows`) and columns x..x+p are inside
                                // the row (`inside`), so at + dx·cin + L ≤ row_len.
                                unsafe { load(base[dy].add(at + dx * cin)) }
                            }))
                        })
                    } else {
                        std::array::from_fn(|dx| if dx < p { column(x + dx as isize, cg) } else { [zero(); 6] })
                    };
                    // (Bᵀ d) B: combine the columns of each combined row r. ξ = r·p + c runs in order,
                    // so one pointer steps through the planes (36 precomputed addresses spilled).
                    let mut dst = v[t * cin + cg..].as_mut_ptr();
                    for r in 0..p {
                        let out = bt::<M>(std::array::from_fn(|c| cols[c][r]));
                        for y in out.into_iter().take(p) {
                            // SAFETY: plane ξ < p² at ξ·stride + t·cin + cg, cg + L ≤ cin: inside v
                            // (checked by `chunk`); after the last store `dst` is one plane past, unused.
                            unsafe {
                                store(dst, y);
                                dst = dst.wrapping_add(stride);
                            }
                        }
                    }
                }
            }
        }

        /// `M[ξ][t][co] = Σ_ci V[ξ][t][ci]·U[ξ][ci][co]` for tiles `0..rows` (a multiple of MR).
        #[allow(clippy::needless_range_loop)] // acc[i][k] pairs two indices; iterators would obscure the blocking
        #[inline(never)]
        #[target_feature(enable = $feat)]
        fn gemm<const NV: usize>(p: &WinoPacked, rows: usize, v: &[f32], m: &mut [f32]) {
            let (cin, cout, nr) = (p.cin, p.cout, L * NV);
            for xi in 0..p.points() {
                let a = &v[xi * plane(p.chunk, cin)..][..p.chunk * cin];
                for nb in 0..p.nblocks {
                    let b = &p.u[(xi * p.nblocks + nb) * cin * nr..][..cin * nr];
                    for i0 in (0..rows).step_by(MR) {
                        let a = &a[i0 * cin..][..MR * cin];
                        let mut acc = [[zero(); NV]; MR];
                        for k in 0..cin {
                            // SAFETY: k·nr + (NV − 1)·L + L ≤ cin·nr = b.len().
                            let bv: [V; NV] = std::array::from_fn(|q| unsafe { load(b.as_ptr().add(k * nr + q * L)) });
                            for i in 0..MR {
                                // SAFETY: i·cin + k < MR·cin = a.len().
                                let av = set1(unsafe { *a.get_unchecked(i * cin + k) });
                                for q in 0..NV {
                                    acc[i][q] = fmadd(av, bv[q], acc[i][q]);
                                }
                            }
                        }
                        for i in 0..MR {
                            for q in 0..NV {
                                let at = xi * plane(p.chunk, cout) + (i0 + i) * cout + nb * nr + q * L;
                                // SAFETY: ξ < p², i0 + i < rows ≤ chunk, nb·nr + nr ≤ cout: inside m.
                                unsafe { store(m[at..at + L].as_mut_ptr(), acc[i][q]) };
                            }
                        }
                    }
                }
            }
        }

        /// `Y = Aᵀ M A` per tile, plus bias and activation, stored for the pixels inside the output
        /// and rows in `keep`.
        #[allow(clippy::needless_range_loop)] // cols[c][r] / s[c][dy] transpose a tile; indices say which way
        #[inline(never)]
        #[target_feature(enable = $feat)]
        fn output_transform<const M: usize>(j: &Job, keep: Range<usize>, oh: usize, t0: usize, n: usize, m: &[f32]) {
            let (cout, p) = (j.p.cout, M + 2);
            let ow_n = j.g.out_dims[2];
            let stride = plane(j.p.chunk, cout);
            for t in 0..n {
                let ow0 = M * (t0 + t);
                for cg in (0..cout).step_by(L) {
                    let src = m[t * cout + cg..].as_ptr();
                    let mv: [V; 36] = std::array::from_fn(|xi| {
                        if xi >= p * p {
                            return zero();
                        }
                        // SAFETY: plane ξ < p² of tile t, channels cg..cg + L: inside m (checked by
                        // `chunk`), as the GEMM wrote it.
                        unsafe { load(src.add(xi * stride)) }
                    });
                    // Columns of M (ξ = p·r + c) into M output rows each, then each output row's columns.
                    let s: [[V; 4]; 6] = std::array::from_fn(|c| {
                        at::<M>(std::array::from_fn(|r| if r < p && c < p { mv[r * p + c] } else { zero() }))
                    });
                    // SAFETY: cg + L ≤ cout = bias.len().
                    let b = unsafe { load(j.bias[cg..cg + L].as_ptr()) };
                    for dy in 0..M {
                        let row = oh + dy;
                        if !keep.contains(&row) {
                            continue;
                        }
                        let y = at::<M>(std::array::from_fn(|c| s[c][dy]));
                        for (dx, &val) in y.iter().take(M).enumerate() {
                            let ow = ow0 + dx;
                            if ow < ow_n {
                                let o = j.map.pixel(0, row, ow) + cg;
                                // SAFETY: pixel (row, ow) is inside the output and in this band's rows;
                                // channels cg..cg+L ≤ cout are contiguous (`supports` requires it).
                                unsafe { store(j.out.at(o), act(j.act, add(val, b))) };
                            }
                        }
                    }
                }
            }
        }
    };
}

pub(super) use winograd_tier;
