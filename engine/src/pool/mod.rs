//! Max and average pooling plans (1-D/2-D/3-D, channels-last) as separable sliding windows.
//!
//! A [`Pool`] is compiled once from a [`PoolSpec`] and the input's spatial dims. Each output
//! row band streams column strips of its input rows through a vertical pass (H, then D) and a
//! horizontal pass (W); along an axis the window is either reduced directly (`w − 1` ops per
//! output, best for windows ≤ 3 or stride ≥ window) or by block prefix/suffix scans (~3 ops per
//! output whatever the window; see [`driver`]). Channels fill the vector lanes when `C ≥ lanes`;
//! narrower tensors (e.g. planar `C = 1`) slide with consecutive pixels in the lanes.
//! Running allocates nothing; scratch is a few strip-rows per band ([`Pool::scratch_len`]).
//!
//! Measured (1 core of the Zen 4 dev box, busy neighbours, thread CPU time, best of 15): max
//! pool 3×3 stride 1 "same" on 64 × 360 × 640 channels-last (59 MB in, 59 MB out) takes
//! 12.6–13 ms on AVX-512 (≈9 GB/s in+out) against 22.4 ms for a naive 9-compare loop and 5.7 ms
//! for a plain streaming `max(x, c)` over the same bytes; the prefix/suffix method takes
//! 16–17 ms for windows 3, 5 and 9 alike, while the direct one grows from 13 to 23 ms.

mod driver;
mod geom;
mod kernel;
mod scalar;
mod spec;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

pub use spec::{PoolKind, PoolSpec, WindowMethod};

use crate::error::{EngineError, Result, check_len};
use crate::isa::Isa;
use crate::outptr::OutPtr;
use crate::threads::Threads;
use driver::{ALIGN, Pass, STRIP_FLOATS};
use geom::PoolGeom;
use scalar::ScalarKern;
use std::ops::Range;

const OP: &str = "pool";

/// Largest prefix/suffix state (`kh + 1` rows) kept as whole rows, in floats (2 MiB).
const PS_ROW_BUDGET: usize = 1 << 19;

/// An immutable, thread-shareable pooling plan.
#[derive(Debug, Clone)]
pub struct Pool {
    pass: Pass,
    kind: PoolKind,
    isa: Isa,
}

impl Pool {
    /// Plans `spec` for inputs of spatial size `input_dims` (outermost first) with the
    /// process-wide ISA tier ([`Isa::active`]).
    pub fn new(spec: &PoolSpec, input_dims: &[usize]) -> Result<Self> {
        Self::with_isa(Isa::active(), spec, input_dims)
    }

    /// Plans with an explicit ISA tier (errors if this CPU lacks it).
    pub fn with_isa(isa: Isa, spec: &PoolSpec, input_dims: &[usize]) -> Result<Self> {
        let isa = isa.require()?;
        let g = PoolGeom::new(OP, spec, input_dims)?;
        let (c, lanes) = (g.c, isa.lanes());
        let [_, kh, kw] = g.kernel;
        let [_, sh, sw] = g.stride;
        let use_ps = |k: usize, s: usize| match spec.method {
            WindowMethod::Direct => false,
            WindowMethod::PrefixSuffix => k >= 2,
            // Direct costs k−1 ops per output, prefix/suffix ~2 per input + 1 per output plus
            // scan buffers; measured (64×360×640, 1 core) they tie at k = 5 and prefix/suffix
            // stays flat (16–17 ms) while direct grows (13 ms at k = 3, 23 ms at k = 9).
            WindowMethod::Auto => k >= 6 && s < k,
        };
        let h_ps = use_ps(kh, sh);
        let w_ps = use_ps(kw, sw);
        let ow_n = g.out_dims[2];
        // The prefix/suffix stream along H keeps state per strip: with whole rows it reads the
        // input in memory order (measured 16 vs 19.5 ms on 64×360×640), so use them if they fit.
        let whole_rows = h_ps && (kh + 1) * g.in_dims[2] * c <= PS_ROW_BUDGET;
        let strip_ow = if whole_rows {
            ow_n
        } else {
            std::env::var("SF")
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(STRIP_FLOATS)
                .div_ceil(c * sw)
                .clamp(1, ow_n)
        };
        let np_max = (strip_ow - 1) * sw + kw;
        let up = |n: usize| n.next_multiple_of(ALIGN);
        let elem = up(np_max.min(g.in_dims[2]) * c);
        let vlen = up(np_max * c);
        let wscr = if w_ps && c >= lanes {
            (kw + 1) * c
        } else if sw > 1 && c < lanes {
            ((strip_ow - 1) * sw + 1) * c
        } else {
            0
        };
        let max = spec.kind == PoolKind::Max;
        let identity = vec![if max { f32::NEG_INFINITY } else { 0.0 }; vlen];
        let wscr = up(wscr);
        let w_factor = if max {
            Vec::new()
        } else {
            (0..ow_n)
                .map(|o| {
                    let (lo, hi) = g.taps(2, o);
                    let n = if spec.count_include_pad { kw } else { hi - lo };
                    if n == 0 { 0.0 } else { 1.0 / n as f32 }
                })
                .collect()
        };
        let slots = if h_ps { kh * elem } else { 0 };
        tracing::debug!(isa = isa.name(), kind = ?spec.kind, kernel = ?g.kernel, h_ps, w_ps, strip_ow, "pool planned");
        let pass = Pass {
            g,
            max,
            h_ps,
            w_ps,
            strip_ow,
            identity,
            w_factor,
            include_pad: spec.count_include_pad,
            slots,
            elem,
            vlen,
            wscr,
        };
        Ok(Self { pass, kind: spec.kind, isa })
    }

    /// Output spatial dims, outermost first (the spec's rank).
    pub fn output_dims(&self) -> Vec<usize> {
        self.pass.g.out_dims[3 - self.pass.g.rank..].to_vec()
    }

    /// Channels (input and output).
    pub fn channels(&self) -> usize {
        self.pass.g.c
    }

    /// Max or average.
    pub fn kind(&self) -> PoolKind {
        self.kind
    }

    /// Elements of one input image.
    pub fn input_len(&self) -> usize {
        self.pass.g.input_len()
    }

    /// Elements of one output image.
    pub fn output_len(&self) -> usize {
        self.pass.g.output_len()
    }

    /// The ISA tier the plan runs on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the H / W passes use the prefix/suffix method (else direct), for logs and benches.
    /// W uses it only when the channels fill the lanes.
    pub fn methods(&self) -> (bool, bool) {
        (self.pass.h_ps, self.pass.w_ps && self.pass.g.c >= self.isa.lanes() && self.pass.g.kernel[2] >= 2)
    }

    /// Scratch floats [`Pool::run`] needs with `threads` (a few strip-rows per band).
    pub fn scratch_len(&self, threads: &Threads) -> usize {
        self.pass.scratch_per_band() * threads.count()
    }

    /// Runs the plan on `n ≥ 1` images: `input` is `n · input_len()` floats, `output` is
    /// `n · output_len()`. Scratch must hold at least [`Pool::scratch_len`] floats.
    pub fn run(&self, input: &[f32], output: &mut [f32], scratch: &mut [f32], threads: &Threads) -> Result<()> {
        let g = &self.pass.g;
        let il = g.input_len();
        if input.is_empty() || !input.len().is_multiple_of(il) {
            return Err(EngineError::BufferLength { op: OP, buffer: "input", expected: il, got: input.len() });
        }
        let n = input.len() / il;
        let ol = g.output_len();
        check_len(OP, "output", n * ol, output.len())?;
        let work = 3 * (n * (il + ol)) as u64;
        let row_len = g.out_dims[2] * g.c;
        let out = OutPtr::new(output);
        threads.run_row_bands(OP, n, g.rows(), work, self.pass.scratch_per_band(), scratch, &|img, rows, scr| {
            // SAFETY: these output rows of image `img` belong to this band only.
            let dst = unsafe { out.slice(img * ol + rows.start * row_len, rows.len() * row_len) };
            self.run_rows(&input[img * il..(img + 1) * il], rows, dst, scr);
        })
    }

    fn run_rows(&self, input: &[f32], rows: Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
        let p = &self.pass;
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the plan's tier passed `Isa::require`, so the CPU has AVX-512.
            Isa::Avx512 => unsafe { avx512::run_rows(p, input, rows, out, scratch) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the plan's tier passed `Isa::require`, so the CPU has AVX2+FMA.
            Isa::Avx2 => unsafe { avx2::run_rows(p, input, rows, out, scratch) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: the plan's tier passed `Isa::require`, so the CPU has NEON.
            Isa::Neon => unsafe { neon::run_rows(p, input, rows, out, scratch) },
            _ if p.max => p.run_rows(ScalarKern::<true>, input, rows, out, scratch),
            _ => p.run_rows(ScalarKern::<false>, input, rows, out, scratch),
        }
    }
}
