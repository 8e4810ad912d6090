//! Linear and grouped (block-diagonal) linear layers: `y = act(x·W + b)` over M rows.
//!
//! One row is a GEMV (a 10 ms audio hop of one stream), M rows a GEMM (many live streams
//! batched, or every frame of a sequence): the weights are read once for all rows. Weights are
//! packed at plan time with output columns in SIMD lanes ([`pack`]), and a register-blocked
//! kernel ([`simd`]) runs 1–6 rows × 1–4 vectors per tile. Each output is one FMA chain over
//! the inputs in order, so a row's result does not depend on how many rows run with it.

mod pack;
mod scalar;
pub(crate) mod simd;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use crate::activation::Activation;
use crate::error::{EngineError, Result, check_len};
use crate::isa::Isa;
use pack::Packed;

/// How a dense weight matrix is laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WeightLayout {
    /// `[in][out]`: ONNX `MatMul` (`x · W`), PyTorch `weight.T`.
    #[default]
    InOut,
    /// `[out][in]`: ONNX `Gemm` with `transB = 1`, PyTorch `nn.Linear.weight`, ONNX GRU `W`/`R`.
    OutIn,
}

/// The kernel a plan runs, obtainable only for a tier this CPU supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Portable loops.
    Scalar,
    /// 8-lane AVX2+FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// 16-lane AVX-512.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// 4-lane NEON.
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Kernel {
    /// The kernel for `isa`, or `MissingCpuFeature` if this CPU lacks it.
    pub(crate) fn for_isa(isa: Isa) -> Result<Kernel> {
        let isa = isa.require()?;
        Ok(match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Kernel::Avx2,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Kernel::Avx512,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Kernel::Neon,
            _ => Kernel::Scalar,
        })
    }

    /// (panel columns, lanes) for packing `n` output columns.
    fn panel_shape(self, n: usize) -> (usize, usize) {
        match self {
            Kernel::Scalar => (n, 1),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => (32, 8),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => (64, 16),
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => (16, 4),
        }
    }

    /// Runs packed weights on `m` rows (lengths already checked by the plan).
    fn run(self, p: &Packed, act: Activation, x: &[f32], y: &mut [f32], m: usize) {
        match self {
            Kernel::Scalar => scalar::run(p, act, x, y, m),
            // SAFETY: `Kernel::Avx2` is only built after `Isa::Avx2.require()` succeeded.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::run(p, act, x, y, m) },
            // SAFETY: `Kernel::Avx512` is only built after `Isa::Avx512.require()` succeeded.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::run(p, act, x, y, m) },
            // SAFETY: NEON is always present on aarch64.
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => unsafe { neon::run(p, act, x, y, m) },
        }
    }
}

/// Shape and options of a dense linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinearSpec {
    /// Inputs per row.
    pub in_features: usize,
    /// Outputs per row.
    pub out_features: usize,
    /// Layout of the weight slice given to [`Linear::new`].
    pub layout: WeightLayout,
    /// Activation fused into the store.
    pub activation: Activation,
}

impl LinearSpec {
    /// `in_features → out_features`, `[in][out]` weights, no activation.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        Self { in_features, out_features, layout: WeightLayout::InOut, activation: Activation::Identity }
    }

    /// Sets the weight layout.
    pub fn layout(mut self, layout: WeightLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Sets the fused activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }
}

/// Rows in `x` for a layer with `per_row` inputs, or a `BufferLength` error.
fn rows_of(op: &'static str, per_row: usize, x: &[f32]) -> Result<usize> {
    if x.is_empty() || !x.len().is_multiple_of(per_row) {
        let expected = (x.len() / per_row).max(1) * per_row;
        return Err(EngineError::BufferLength { op, buffer: "input (rows × inputs)", expected, got: x.len() });
    }
    Ok(x.len() / per_row)
}

const LINEAR: &str = "linear";

/// An immutable dense linear plan: `y[m][o] = act(Σ_i x[m][i]·W[i][o] + b[o])`.
#[derive(Debug, Clone)]
pub struct Linear {
    spec: LinearSpec,
    isa: Isa,
    kernel: Kernel,
    packed: Packed,
}

impl Linear {
    /// Plans the layer on the process-wide tier ([`Isa::active`]). `weights` has
    /// `in·out` elements in `spec.layout`; `bias`, if any, has `out`.
    pub fn new(spec: &LinearSpec, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        Self::with_isa(Isa::active(), spec, weights, bias)
    }

    /// Plans on an explicit tier (errors if this CPU lacks it).
    pub fn with_isa(isa: Isa, spec: &LinearSpec, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        let kernel = Kernel::for_isa(isa)?;
        let (k, n) = (spec.in_features, spec.out_features);
        check_weights(LINEAR, k.checked_mul(n), weights.len(), bias.map(<[f32]>::len), n)?;
        let at = |i: usize, o: usize| match spec.layout {
            WeightLayout::InOut => weights[i * n + o],
            WeightLayout::OutIn => weights[o * k + i],
        };
        let packed = Packed::new(LINEAR, (1, k, n), kernel.panel_shape(n), |_, i, o| at(i, o), bias)?;
        tracing::debug!(isa = isa.name(), in_features = k, out_features = n, "linear planned");
        Ok(Self { spec: *spec, isa, kernel, packed })
    }

    /// The layer's shape and options.
    pub fn spec(&self) -> &LinearSpec {
        &self.spec
    }

    /// Inputs per row.
    pub fn in_features(&self) -> usize {
        self.spec.in_features
    }

    /// Outputs per row.
    pub fn out_features(&self) -> usize {
        self.spec.out_features
    }

    /// The tier the plan runs on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// FLOPs (2 × multiply-adds) for `rows` rows.
    pub fn flops(&self, rows: usize) -> u64 {
        2 * (rows * self.spec.in_features * self.spec.out_features) as u64
    }

    /// Runs on M rows: `x` is `M · in_features` floats (M ≥ 1 inferred), `y` is
    /// `M · out_features`. Allocates nothing.
    pub fn run(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        let m = rows_of(LINEAR, self.spec.in_features, x)?;
        check_len(LINEAR, "output", m * self.spec.out_features, y.len())?;
        self.kernel.run(&self.packed, self.spec.activation, x, y, m);
        Ok(())
    }
}

/// Checks weight and bias element counts.
fn check_weights(op: &'static str, want: Option<usize>, got: usize, bias: Option<usize>, n: usize) -> Result<()> {
    let Some(want) = want else {
        return Err(crate::error::invalid(op, "weight element count overflows"));
    };
    if want != got {
        return Err(EngineError::WeightShape { op, tensor: "weights", expected: want, got });
    }
    match bias {
        Some(b) if b != n => Err(EngineError::WeightShape { op, tensor: "bias", expected: n, got: b }),
        _ => Ok(()),
    }
}

/// Shape and options of a grouped (block-diagonal) linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupedLinearSpec {
    /// Number of groups G.
    pub groups: usize,
    /// Inputs per group (the layer has `G · in_per_group` inputs).
    pub in_per_group: usize,
    /// Outputs per group (the layer has `G · out_per_group` outputs).
    pub out_per_group: usize,
    /// Activation fused into the store.
    pub activation: Activation,
}

impl GroupedLinearSpec {
    /// G groups of `in_per_group → out_per_group`, no activation.
    pub fn new(groups: usize, in_per_group: usize, out_per_group: usize) -> Self {
        Self { groups, in_per_group, out_per_group, activation: Activation::Identity }
    }

    /// Sets the fused activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }
}

const GROUPED: &str = "grouped linear";

/// An immutable grouped linear plan (DFN3's Einsum `btgi,gih->btgh`):
/// `y[m][g·O + h] = act(Σ_i x[m][g·I + i]·W[g][i][h] + b[g·O + h])`.
///
/// All groups run in one block-diagonal kernel; at one row, a register tile spans several
/// groups so their FMA chains overlap.
#[derive(Debug, Clone)]
pub struct GroupedLinear {
    spec: GroupedLinearSpec,
    isa: Isa,
    kernel: Kernel,
    packed: Packed,
}

impl GroupedLinear {
    /// Plans on the process-wide tier. `weights` is `[G][in_per_group][out_per_group]`;
    /// `bias`, if any, has `G · out_per_group` elements.
    pub fn new(spec: &GroupedLinearSpec, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        Self::with_isa(Isa::active(), spec, weights, bias)
    }

    /// Plans on an explicit tier (errors if this CPU lacks it).
    pub fn with_isa(isa: Isa, spec: &GroupedLinearSpec, weights: &[f32], bias: Option<&[f32]>) -> Result<Self> {
        let kernel = Kernel::for_isa(isa)?;
        let (g, k, n) = (spec.groups, spec.in_per_group, spec.out_per_group);
        let want = g.checked_mul(k).and_then(|gk| gk.checked_mul(n));
        check_weights(GROUPED, want, weights.len(), bias.map(<[f32]>::len), g * n)?;
        let packed =
            Packed::new(GROUPED, (g, k, n), kernel.panel_shape(n), |gi, i, o| weights[(gi * k + i) * n + o], bias)?;
        tracing::debug!(isa = isa.name(), groups = g, in_per_group = k, out_per_group = n, "grouped linear planned");
        Ok(Self { spec: *spec, isa, kernel, packed })
    }

    /// The layer's shape and options.
    pub fn spec(&self) -> &GroupedLinearSpec {
        &self.spec
    }

    /// Inputs per row (`G · in_per_group`).
    pub fn in_features(&self) -> usize {
        self.spec.groups * self.spec.in_per_group
    }

    /// Outputs per row (`G · out_per_group`).
    pub fn out_features(&self) -> usize {
        self.spec.groups * self.spec.out_per_group
    }

    /// The tier the plan runs on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// FLOPs (2 × multiply-adds) for `rows` rows.
    pub fn flops(&self, rows: usize) -> u64 {
        2 * (rows * self.spec.groups * self.spec.in_per_group * self.spec.out_per_group) as u64
    }

    /// Runs on M rows: `x` is `M · in_features()` floats (M ≥ 1 inferred), `y` is
    /// `M · out_features()`. Allocates nothing.
    pub fn run(&self, x: &[f32], y: &mut [f32]) -> Result<()> {
        let m = rows_of(GROUPED, self.in_features(), x)?;
        check_len(GROUPED, "output", m * self.out_features(), y.len())?;
        self.kernel.run(&self.packed, self.spec.activation, x, y, m);
        Ok(())
    }
}
