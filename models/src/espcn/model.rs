//! ESPCN on the engine: three convolution plans per frame size, the pixel shuffle fused into
//! the last one's store (spec `espcn.md`).
//!
//! Plans depend on the frame size (the engine packs per geometry), so a network is planned
//! once per size ([`Espcn::plan`]) and then run per frame without allocating: the two hidden
//! maps (64 and 32 channels, channels-last) and the kernels' scratch live in one caller-owned
//! buffer of [`EspcnPlan::scratch_len`] floats, or in an [`EspcnRunner`] that owns it.

use sluice_engine::{Conv, ConvSpec, EngineError, Isa, Result, Threads};

use super::weights::EspcnWeights;
use crate::WeightsError;

const OP: &str = "espcn";

/// Channels of the two hidden maps.
const HIDDEN: [usize; 2] = [64, 32];

/// An ESPCN network ready to be planned for frame sizes; cheap to clone, shareable.
#[derive(Debug, Clone)]
pub struct Espcn {
    weights: EspcnWeights,
    isa: Isa,
}

impl Espcn {
    /// Wraps loaded weights; plans use the process-wide tier ([`Isa::active`]).
    pub fn new(weights: EspcnWeights) -> Self {
        Self { weights, isa: Isa::active() }
    }

    /// Wraps loaded weights, planning on an explicit tier (errors if this CPU lacks it).
    pub fn with_isa(weights: EspcnWeights, isa: Isa) -> Result<Self> {
        Ok(Self { weights, isa: isa.require()? })
    }

    /// The network bundled for factor 2, 3 or 4 (see [`EspcnWeights::bundled`]).
    pub fn bundled(scale: usize) -> std::result::Result<Self, WeightsError> {
        EspcnWeights::bundled(scale).map(Self::new)
    }

    /// Decodes a safetensors export (see [`EspcnWeights::from_safetensors`]).
    pub fn from_safetensors(bytes: &[u8]) -> std::result::Result<Self, WeightsError> {
        EspcnWeights::from_safetensors(bytes).map(Self::new)
    }

    /// The upscaling factor r.
    pub fn scale(&self) -> usize {
        self.weights.scale
    }

    /// The weights.
    pub fn weights(&self) -> &EspcnWeights {
        &self.weights
    }

    /// The tier plans run on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Plans the network for `width × height` luma planes (LR size).
    pub fn plan(&self, width: usize, height: usize) -> Result<EspcnPlan> {
        if width == 0 || height == 0 {
            return Err(EngineError::InvalidSpec { op: OP, reason: format!("frame {width}x{height} is empty") });
        }
        let r = self.weights.scale;
        // The hidden maps and the output must be addressable; reject sizes that overflow.
        let pixels = width.checked_mul(height).filter(|p| p.checked_mul(HIDDEN[0] + HIDDEN[1] + r * r).is_some());
        let Some(pixels) = pixels else {
            return Err(EngineError::InvalidSpec { op: OP, reason: format!("frame {width}x{height} is too large") });
        };
        let w = &self.weights;
        let dims = [height, width];
        let act = w.activation;
        let spec1 = ConvSpec::new(1, HIDDEN[0], &[5, 5]).same_padding().activation(act);
        let spec2 = ConvSpec::new(HIDDEN[0], HIDDEN[1], &[3, 3]).same_padding().activation(act);
        let spec3 = ConvSpec::new(HIDDEN[1], r * r, &[3, 3]).same_padding().pixel_shuffle(r);
        let plan = |spec: &ConvSpec, c: &super::ConvWeights| {
            Conv::with_isa(self.isa, spec, &dims, c.weight.data(), Some(c.bias.data()))
        };
        Ok(EspcnPlan {
            width,
            height,
            scale: r,
            pixels,
            layers: [plan(&spec1, &w.conv1)?, plan(&spec2, &w.conv2)?, plan(&spec3, &w.conv3)?],
        })
    }
}

/// ESPCN planned for one frame size. Immutable; share it across threads.
#[derive(Debug, Clone)]
pub struct EspcnPlan {
    width: usize,
    height: usize,
    scale: usize,
    pixels: usize,
    layers: [Conv; 3],
}

impl EspcnPlan {
    /// Input (LR) width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Input (LR) height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The upscaling factor r.
    pub fn scale(&self) -> usize {
        self.scale
    }

    /// Floats of the input plane: `width · height`.
    pub fn input_len(&self) -> usize {
        self.pixels
    }

    /// Floats of the output plane: `(r·width) · (r·height)`, row-major.
    pub fn output_len(&self) -> usize {
        self.pixels * self.scale * self.scale
    }

    /// Floats of scratch [`EspcnPlan::run`] needs with `threads`: both hidden maps plus the
    /// largest kernel scratch.
    pub fn scratch_len(&self, threads: &Threads) -> usize {
        self.pixels * (HIDDEN[0] + HIDDEN[1]) + self.kernel_scratch(threads)
    }

    fn kernel_scratch(&self, threads: &Threads) -> usize {
        self.layers.iter().map(|l| l.scratch_len(threads)).max().unwrap_or(0)
    }

    /// Floating-point operations of one frame (2 × multiply-adds).
    pub fn flops(&self) -> u64 {
        self.layers.iter().map(Conv::flops).sum()
    }

    /// Upscales one luma plane: `y` is `height × width` row-major, full-range luma in [0, 1];
    /// `out` receives `(r·height) × (r·width)`, unclamped (callers clamp when they quantise).
    /// Allocates nothing.
    pub fn run(&self, y: &[f32], out: &mut [f32], scratch: &mut [f32], threads: &Threads) -> Result<()> {
        let check = |buffer, expected, got| {
            if got == expected { Ok(()) } else { Err(EngineError::BufferLength { op: OP, buffer, expected, got }) }
        };
        check("input", self.input_len(), y.len())?;
        check("output", self.output_len(), out.len())?;
        let need = self.scratch_len(threads);
        if scratch.len() < need {
            return Err(EngineError::BufferLength { op: OP, buffer: "scratch", expected: need, got: scratch.len() });
        }
        let (h1, rest) = scratch.split_at_mut(self.pixels * HIDDEN[0]);
        let (h2, kernel) = rest.split_at_mut(self.pixels * HIDDEN[1]);
        let [l1, l2, l3] = &self.layers;
        l1.run(y, h1, kernel, threads)?;
        l2.run(h1, h2, kernel, threads)?;
        l3.run(h2, out, kernel, threads)
    }
}

/// A plan with its own scratch: the per-stream object for a fixed frame size.
#[derive(Debug, Clone)]
pub struct EspcnRunner {
    plan: EspcnPlan,
    scratch: Vec<f32>,
}

impl EspcnRunner {
    /// Plans `model` for `width × height` and allocates scratch for `threads`.
    pub fn new(model: &Espcn, width: usize, height: usize, threads: &Threads) -> Result<Self> {
        let plan = model.plan(width, height)?;
        let scratch = vec![0.0; plan.scratch_len(threads)];
        Ok(Self { plan, scratch })
    }

    /// The plan.
    pub fn plan(&self) -> &EspcnPlan {
        &self.plan
    }

    /// Upscales one plane (see [`EspcnPlan::run`]); `threads` must not have more threads than
    /// the pool the runner was made with.
    pub fn upscale(&mut self, y: &[f32], out: &mut [f32], threads: &Threads) -> Result<()> {
        self.plan.run(y, out, &mut self.scratch, threads)
    }
}
