//! The peer the engine must beat: im2col into a column matrix, then `gemm::gemm`, then the
//! activation (the engine's vector tanh, so the baseline is not slowed by scalar libm) and
//! the pixel shuffle as separate passes. Channels-last like the engine (NHWC / NDHWC).

use rayon::prelude::*;
use sluice_engine::{Activation, ConvSpec};

/// How the baseline spreads work: 1 thread on the caller, or a rayon pool of `n`.
pub struct Par<'a> {
    pub pool: Option<&'a rayon::ThreadPool>,
    pub n: usize,
}

impl Par<'_> {
    fn gemm(&self) -> gemm::Parallelism {
        if self.n > 1 { gemm::Parallelism::Rayon(self.n) } else { gemm::Parallelism::None }
    }

    /// Calls `f(first_row, chunk)` over `data` split into chunks of whole rows of `row_len`.
    fn rows(&self, data: &mut [f32], row_len: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let rows = data.len() / row_len.max(1);
        match self.pool {
            Some(pool) if self.n > 1 && rows > 1 => {
                let per = rows.div_ceil(self.n * 8).max(1);
                pool.install(|| {
                    data.par_chunks_mut(per * row_len).enumerate().for_each(|(i, c)| f(i * per, c));
                });
            }
            _ => f(0, data),
        }
    }
}

/// Geometry normalised to `[D, H, W]` (ungrouped convolutions only; that is all the bench needs).
#[derive(Debug, Clone)]
struct Geom {
    cin: usize,
    cout: usize,
    ind: [usize; 3],
    outd: [usize; 3],
    k: [usize; 3],
    s: [usize; 3],
    dil: [usize; 3],
    pad: [usize; 3],
    shuffle: usize,
}

impl Geom {
    fn new(spec: &ConvSpec, in_dims: &[usize]) -> Self {
        assert_eq!(spec.groups, 1, "the im2col baseline covers ungrouped convolutions");
        let rank = spec.rank();
        let n3 = |v: &[usize], fill: usize| {
            let mut a = [fill; 3];
            a[3 - rank..].copy_from_slice(v);
            a
        };
        let (ind, k, s, dil) = (n3(in_dims, 1), n3(&spec.kernel, 1), n3(&spec.stride, 1), n3(&spec.dilation, 1));
        let (pad, pad_end) = (n3(&spec.pad_begin, 0), n3(&spec.pad_end, 0));
        let outd = std::array::from_fn(|a| (ind[a] + pad[a] + pad_end[a] - dil[a] * (k[a] - 1) - 1) / s[a] + 1);
        Self { cin: spec.in_channels, cout: spec.out_channels, ind, outd, k, s, dil, pad, shuffle: spec.pixel_shuffle }
    }

    fn pixels(&self) -> usize {
        self.outd.iter().product()
    }

    fn taps(&self) -> usize {
        self.k.iter().product()
    }

    fn kdim(&self) -> usize {
        self.taps() * self.cin
    }
}

/// The column matrix and pre-shuffle GEMM output, kept between runs and shared by the
/// layers of a network (as a framework keeps one workspace sized for its largest layer).
#[derive(Default)]
pub struct Workspace {
    col: Vec<f32>,
    pre_shuffle: Vec<f32>,
}

impl Workspace {
    /// A workspace big enough for every layer in `layers`.
    pub fn new(layers: &[Im2colConv]) -> Self {
        let col = layers.iter().map(|l| l.g.pixels() * l.g.kdim()).max().unwrap_or(0);
        let pre = layers.iter().filter(|l| l.g.shuffle > 1).map(|l| l.g.pixels() * l.g.cout).max().unwrap_or(0);
        Self { col: vec![0.0; col], pre_shuffle: vec![0.0; pre] }
    }
}

/// One convolution layer as im2col + GEMM.
pub struct Im2colConv {
    g: Geom,
    act: Activation,
    /// Weights as the GEMM's right-hand matrix `[taps·Cin][Cout]`.
    packed: Vec<f32>,
    bias: Vec<f32>,
}

impl Im2colConv {
    /// Builds the layer; weights `[Cout][Cin][k..]` as the engine takes them.
    pub fn new(spec: &ConvSpec, in_dims: &[usize], weights: &[f32], bias: &[f32]) -> Self {
        let g = Geom::new(spec, in_dims);
        assert!(g.shuffle == 1 || g.outd[0] == 1, "the baseline's pixel shuffle is 2-D only");
        let (taps, kdim) = (g.taps(), g.kdim());
        let mut packed = vec![0.0; kdim * g.cout];
        for co in 0..g.cout {
            for ci in 0..g.cin {
                for t in 0..taps {
                    packed[(t * g.cin + ci) * g.cout + co] = weights[(co * g.cin + ci) * taps + t];
                }
            }
        }
        Self { act: spec.activation, packed, bias: bias.to_vec(), g }
    }

    /// Runs the layer on one image (`output` is the engine's output layout, shuffle included).
    pub fn run(&self, input: &[f32], output: &mut [f32], ws: &mut Workspace, par: &Par) {
        let g = &self.g;
        let kdim = g.kdim();
        let px = g.pixels();
        assert_eq!(input.len(), g.ind.iter().product::<usize>() * g.cin, "im2col input length");
        assert_eq!(output.len(), px * g.cout, "im2col output length");
        let col = &mut ws.col[..px * kdim];
        par.rows(col, kdim, &|first, chunk| fill_cols(g, input, first, chunk));
        let dst: &mut [f32] = if g.shuffle > 1 { &mut ws.pre_shuffle[..px * g.cout] } else { output };
        // SAFETY: dst is px×cout row-major, col px×kdim, packed kdim×cout, all live and
        // non-overlapping for the call; strides are in elements and match those shapes.
        unsafe {
            gemm::gemm(
                px,
                g.cout,
                kdim,
                dst.as_mut_ptr(),
                1,
                g.cout as isize,
                false,
                col.as_ptr(),
                1,
                kdim as isize,
                self.packed.as_ptr(),
                1,
                g.cout as isize,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                par.gemm(),
            );
        }
        // Bias and activation in one pass over the GEMM output, as MLAS's conv epilogue does.
        let (act, bias) = (self.act, &self.bias);
        par.rows(dst, g.cout, &|_, chunk| bias_activate(act, bias, chunk));
        if g.shuffle > 1 {
            let src = &ws.pre_shuffle[..px * g.cout];
            let (r, c_out, ow) = (g.shuffle, g.cout / (g.shuffle * g.shuffle), g.outd[2]);
            // One chunk = one output row (y·r + i) of the shuffled image.
            par.rows(output, ow * r * c_out, &|first, chunk| {
                for (k, row) in chunk.chunks_exact_mut(ow * r * c_out).enumerate() {
                    let y_out = first + k;
                    let (dy, i) = (y_out / r, y_out % r);
                    for xo in 0..ow * r {
                        let (x, j) = (xo / r, xo % r);
                        let s = &src[(dy * ow + x) * g.cout..][..g.cout];
                        for c in 0..c_out {
                            row[xo * c_out + c] = s[c * r * r + i * r + j];
                        }
                    }
                }
            });
        }
    }
}

/// Writes the im2col rows for output pixels `first..` into `chunk` (whole rows of `taps·Cin`).
fn fill_cols(g: &Geom, input: &[f32], first: usize, chunk: &mut [f32]) {
    let [_, oh_n, ow_n] = g.outd;
    let [id_n, ih_n, iw_n] = g.ind;
    let (cin, kw_n) = (g.cin, g.k[2]);
    let span = kw_n * cin;
    for (k, row) in chunk.chunks_exact_mut(g.kdim()).enumerate() {
        let p = first + k;
        let (od, oh, ow) = (p / (oh_n * ow_n), (p / ow_n) % oh_n, p % ow_n);
        // With unit dilation along W and channels-last data, a kernel row's taps are one
        // contiguous run of kw·Cin floats when it lies inside the image.
        let w0 = (ow * g.s[2]).checked_sub(g.pad[2]).filter(|w| g.dil[2] == 1 && w + kw_n <= iw_n);
        for kd in 0..g.k[0] {
            let id = pos(od, kd, 0, g, id_n);
            for kh in 0..g.k[1] {
                let ih = pos(oh, kh, 1, g, ih_n);
                let dst = &mut row[(kd * g.k[1] + kh) * span..][..span];
                match (id, ih, w0) {
                    (Some(d), Some(h), Some(w)) => {
                        let s = ((d * ih_n + h) * iw_n + w) * cin;
                        copy_small(dst, &input[s..s + span]);
                    }
                    (Some(d), Some(h), None) => {
                        for (kw, dst) in dst.chunks_exact_mut(cin).enumerate() {
                            match pos(ow, kw, 2, g, iw_n) {
                                Some(w) => copy_small(dst, &input[((d * ih_n + h) * iw_n + w) * cin..][..cin]),
                                None => dst.fill(0.0),
                            }
                        }
                    }
                    _ => dst.fill(0.0),
                }
            }
        }
    }
}

/// Copies a run that is often only a few floats (Cin = 1) without a `memcpy` call for it.
#[inline(always)]
fn copy_small(dst: &mut [f32], src: &[f32]) {
    if dst.len() <= 8 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

fn pos(o: usize, k: usize, axis: usize, g: &Geom, n: usize) -> Option<usize> {
    let p = (o * g.s[axis] + k * g.dil[axis]).checked_sub(g.pad[axis])?;
    (p < n).then_some(p)
}

/// The baseline's epilogue: `x ← act(x + bias)` over rows of `bias.len()`, with a rational
/// tanh (13/6 minimax, the form MLAS and Eigen use) that the compiler vectorises, so the
/// baseline is not slowed by scalar libm. An empty `bias` means none.
pub fn bias_activate(act: Activation, bias: &[f32], xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { bias_activate_avx2(act, bias, xs) };
        return;
    }
    bias_activate_portable(act, bias, xs);
}

/// [`bias_activate`] without a bias.
pub fn activate(act: Activation, xs: &mut [f32]) {
    bias_activate(act, &[], xs);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn bias_activate_avx2(act: Activation, bias: &[f32], xs: &mut [f32]) {
    bias_activate_portable(act, bias, xs);
}

#[inline(always)]
fn bias_activate_portable(act: Activation, bias: &[f32], xs: &mut [f32]) {
    if bias.is_empty() {
        return apply(act, xs);
    }
    for row in xs.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(x, b)| *x += b);
        apply(act, row);
    }
}

#[inline(always)]
fn apply(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Tanh => xs.iter_mut().for_each(|x| *x = tanh_rational(*x)),
        Activation::Sigmoid => xs.iter_mut().for_each(|x| *x = 0.5 + 0.5 * tanh_rational(0.5 * *x)),
        Activation::Prelu(s) => xs.iter_mut().for_each(|x| *x = if *x < 0.0 { s.get() * *x } else { *x }),
    }
}

/// tanh(x) to a few ulp: odd 13th-degree numerator over even 6th-degree denominator, clamped
/// where tanh rounds to ±1 in f32.
#[inline(always)]
fn tanh_rational(x: f32) -> f32 {
    const A: [f32; 7] =
        [4.893_524_6e-3, 6.372_619e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = A[6];
    for &a in A[..6].iter().rev() {
        p = p.mul_add(x2, a);
    }
    let mut q = B[3];
    for &b in B[..3].iter().rev() {
        q = q.mul_add(x2, b);
    }
    x * p / q
}

/// `y = x · W + b` for one row, `W` `[k][n]` row-major, via `gemm` (the GEMV baseline).
pub fn gemv(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    let (k, n) = (x.len(), y.len());
    assert_eq!(w.len(), k * n, "gemv weight length");
    y.copy_from_slice(b);
    // SAFETY: y is 1×n, x 1×k, w k×n row-major, all live and non-overlapping for the call.
    unsafe {
        gemm::gemm(
            1,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n as isize,
            true,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
