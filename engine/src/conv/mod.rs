//! Convolution plans (1-D/2-D/3-D, channels-last) built on sliding-window kernels.
//!
//! A [`Conv`] is compiled once from a [`ConvSpec`], the input's spatial dims and the weights:
//! weights are packed for the chosen kernel family and ISA, and the scratch size is fixed.
//! Running it allocates nothing and only reads/writes the caller's slices.

mod depthwise;
mod geom;
mod lanes;
mod pixels;
mod reference;
mod spec;
mod winograd;

pub(crate) use geom::{ConvGeom, OutMap};
pub use spec::ConvSpec;

use crate::activation::Activation;
use crate::error::{EngineError, Result, check_len};
use crate::isa::Isa;
use crate::outptr::OutPtr;
use crate::threads::Threads;
use std::ops::Range;

/// Which kernel a plan runs.
#[derive(Debug, Clone)]
pub(crate) enum ConvKernel {
    /// Scalar direct loops (any geometry).
    Reference(reference::RefPacked),
    /// Channels-in-lanes blocks (family A).
    Lanes(lanes::LanesPacked),
    /// Per-channel sliding window (groups == cin == cout).
    Depthwise(depthwise::DwPacked),
    /// Pixels in lanes, sliding-window shifts (family B): Cin = 1 and small-Cout layers.
    Pixels(pixels::PixelsPacked),
    /// Winograd F(2×2, 3×3): wide 3×3 stride-1 layers on AVX-512.
    Winograd(winograd::WinoPacked),
}

impl ConvKernel {
    fn name(&self) -> &'static str {
        match self {
            ConvKernel::Reference(_) => "reference",
            ConvKernel::Lanes(_) => "lanes",
            ConvKernel::Depthwise(_) => "depthwise",
            ConvKernel::Pixels(_) => "pixels",
            ConvKernel::Winograd(_) => "winograd",
        }
    }

    /// Scratch floats one band needs.
    fn scratch_per_band(&self) -> usize {
        match self {
            ConvKernel::Reference(_) | ConvKernel::Lanes(_) | ConvKernel::Depthwise(_) => 0,
            ConvKernel::Pixels(k) => k.scratch_per_band(),
            ConvKernel::Winograd(k) => k.scratch_per_band(),
        }
    }
}

/// An immutable, thread-shareable convolution plan.
#[derive(Debug, Clone)]
pub struct Conv {
    geom: ConvGeom,
    act: Activation,
    isa: Isa,
    bias: Vec<f32>,
    map: OutMap,
    kernel: ConvKernel,
}

const OP: &str = "conv";

impl Conv {
    /// Plans `spec` for inputs of spatial size `input_dims` (outermost first) with the
    /// process-wide ISA tier ([`Isa::active`]).
    pub fn new(spec: &ConvSpec, input_dims: &[usize], weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        Self::with_isa(Isa::active(), spec, input_dims, weights, bias)
    }

    /// Plans with an explicit ISA tier (errors if this CPU lacks it).
    pub fn with_isa(
        isa: Isa,
        spec: &ConvSpec,
        input_dims: &[usize],
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let geom = ConvGeom::new(OP, spec, input_dims)?;
        let map = OutMap::for_geom(&geom);
        Self::build(isa, geom, map, spec.activation, weights, bias)
    }

    /// Plans with an explicit geometry and output map (transposed-conv phases).
    pub(crate) fn build(
        isa: Isa,
        geom: ConvGeom,
        map: OutMap,
        act: Activation,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let isa = isa.require()?;
        geom.check_weights(OP, weights, bias)?;
        let bias = bias.map_or_else(|| vec![0.0; geom.cout], <[f32]>::to_vec);
        let kernel = choose_kernel(isa, &geom, &map, weights);
        tracing::debug!(kernel = kernel.name(), isa = isa.name(), cin = geom.cin, cout = geom.cout, groups = geom.groups,
            kernel_dims = ?geom.kernel, "conv planned");
        Ok(Self { geom, act, isa, bias, map, kernel })
    }

    /// Output spatial dims (after any pixel shuffle), outermost first.
    pub fn output_dims(&self) -> Vec<usize> {
        self.geom.user_out_dims()
    }

    /// Output channels (after any pixel shuffle).
    pub fn output_channels(&self) -> usize {
        self.geom.user_out_channels()
    }

    /// Elements of one input image.
    pub fn input_len(&self) -> usize {
        self.geom.input_len()
    }

    /// Elements of one output image.
    pub fn output_len(&self) -> usize {
        self.geom.output_len()
    }

    /// FLOPs (2 × multiply-adds) for one image.
    pub fn flops(&self) -> u64 {
        self.geom.flops()
    }

    /// The ISA tier the plan runs on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The kernel family chosen, for logs and benches.
    pub fn kernel_name(&self) -> &'static str {
        self.kernel.name()
    }

    /// Scratch floats [`Conv::run`] needs with `threads`.
    pub fn scratch_len(&self, threads: &Threads) -> usize {
        self.kernel.scratch_per_band() * threads.count()
    }

    /// Runs the plan on `n ≥ 1` images: `input` is `n · input_len()` floats, `output` is
    /// `n · output_len()`. Scratch must hold at least [`Conv::scratch_len`] floats.
    pub fn run(&self, input: &[f32], output: &mut [f32], scratch: &mut [f32], threads: &Threads) -> Result<()> {
        let il = self.geom.input_len();
        if input.is_empty() || !input.len().is_multiple_of(il) {
            return Err(EngineError::BufferLength { op: OP, buffer: "input", expected: il, got: input.len() });
        }
        let n = input.len() / il;
        check_len(OP, "output", n * self.geom.output_len(), output.len())?;
        self.run_mapped(input, n, OutPtr::new(output), self.geom.output_len(), scratch, threads)
    }

    /// Runs with output written through `self.map`, image `i` at `out + i·out_image_stride`.
    pub(crate) fn run_mapped(
        &self,
        input: &[f32],
        n: usize,
        out: OutPtr,
        out_image_stride: usize,
        scratch: &mut [f32],
        threads: &Threads,
    ) -> Result<()> {
        let il = self.geom.input_len();
        threads.run_row_bands(
            OP,
            n,
            self.geom.rows(),
            self.geom.flops() * n as u64,
            self.kernel.scratch_per_band(),
            scratch,
            &|img, rows, scr| {
                self.run_rows(&input[img * il..(img + 1) * il], out.advance(img * out_image_stride), rows, scr)
            },
        )
    }

    /// Computes output rows `rows` of one image whose output starts at `out`.
    fn run_rows(&self, input: &[f32], out: OutPtr, rows: Range<usize>, scratch: &mut [f32]) {
        let map = &self.map;
        match &self.kernel {
            ConvKernel::Reference(k) => k.run_rows(&self.geom, &self.bias, self.act, input, out, map, rows),
            ConvKernel::Lanes(k) => k.run_rows(&self.geom, &self.bias, self.act, input, out, map, rows),
            ConvKernel::Depthwise(k) => k.run_rows(&self.geom, &self.bias, self.act, input, out, map, rows),
            ConvKernel::Pixels(k) => k.run_rows(&self.geom, &self.bias, self.act, input, out, map, rows, scratch),
            ConvKernel::Winograd(k) => k.run_rows(&self.geom, &self.bias, self.act, input, out, map, rows, scratch),
        }
    }
}

/// Picks the fastest kernel family for the geometry and ISA.
fn choose_kernel(isa: Isa, geom: &ConvGeom, map: &OutMap, weights: &[f32]) -> ConvKernel {
    if depthwise::supports(isa, geom) {
        return ConvKernel::Depthwise(depthwise::DwPacked::new(isa, geom, weights));
    }
    if winograd::supports(isa, geom, map) {
        return ConvKernel::Winograd(winograd::WinoPacked::new(isa, geom, weights));
    }
    if let Some(k) = pixels::PixelsPacked::select(isa, geom, map, weights) {
        return ConvKernel::Pixels(k);
    }
    if lanes::supports(isa, geom) {
        let k = lanes::LanesPacked::new(isa, geom, weights);
        let (r, v) = k.tile();
        tracing::debug!(r, v, "lanes tile");
        return ConvKernel::Lanes(k);
    }
    ConvKernel::Reference(reference::RefPacked::new(geom, weights))
}
