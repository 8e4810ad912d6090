//! GRU cells with ONNX semantics (one direction, gate order z, r, h).
//!
//! A step is two linear projections and a fused gate pass: `gx = W x + Wb` (input),
//! `gh = R h + Rb` (recurrent), then per element
//! `z = σ(gx_z + gh_z)`, `r = σ(gx_r + gh_r)`, `ĥ = tanh(gx_h + r ⊙ gh_h)` (linear before reset)
//! or `ĥ = tanh(gx_h + R_h (r ⊙ h) + Rb_h)` (reset before linear), `h' = (1 − z) ⊙ ĥ + z ⊙ h`.
//!
//! [`Gru::step`] advances B independent streams by one frame (a GEMM over B rows when B > 1);
//! [`Gru::run_sequence`] runs T frames of one stream, projecting all inputs as one GEMM first.
//! Both give bit-identical results to stepping each stream alone: the linear kernels compute
//! every output the same way whatever the number of rows.

mod gates;

use crate::error::{EngineError, Result, check_len, invalid};
use crate::isa::Isa;
use crate::linear::{Kernel, Linear, LinearSpec, WeightLayout};

/// ONNX GRU `linear_before_reset`: where the reset gate is applied in the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinearBeforeReset {
    /// `linear_before_reset = 0` (ONNX default): `ĥ = tanh(W_h x + Wb_h + R_h (r ⊙ h) + Rb_h)`.
    Off,
    /// `linear_before_reset = 1` (PyTorch `nn.GRU`, DeepFilterNet3):
    /// `ĥ = tanh(W_h x + Wb_h + r ⊙ (R_h h + Rb_h))`.
    On,
}

/// GRU weights in ONNX layout for one direction (gate blocks ordered z, r, h).
#[derive(Debug, Clone, Copy)]
pub struct GruWeights<'a> {
    /// Input weights `W`, `[3H][I]`.
    pub w: &'a [f32],
    /// Recurrent weights `R`, `[3H][H]`.
    pub r: &'a [f32],
    /// Input bias `Wb`, `[3H]` (the first half of ONNX `B`), if any.
    pub wb: Option<&'a [f32]>,
    /// Recurrent bias `Rb`, `[3H]` (the second half of ONNX `B`), if any.
    pub rb: Option<&'a [f32]>,
}

impl<'a> GruWeights<'a> {
    /// From ONNX tensors: `B`, if present, is `[6H]` = `[Wb | Rb]` and is split here.
    pub fn from_onnx(w: &'a [f32], r: &'a [f32], b: Option<&'a [f32]>) -> Self {
        let (wb, rb) = match b {
            Some(b) => {
                let (wb, rb) = b.split_at(b.len() / 2);
                (Some(wb), Some(rb))
            }
            None => (None, None),
        };
        Self { w, r, wb, rb }
    }
}

/// Recurrent projections: one 3H-wide linear, or z/r and h apart (reset before linear).
#[derive(Debug, Clone)]
enum Recurrent {
    /// `gh = R h + Rb`, all three gates.
    Fused(Linear),
    /// `R_zr h + Rb_zr` (2H), then `R_h (r ⊙ h) + Rb_h` (H).
    Split { zr: Linear, h: Linear },
}

const OP: &str = "gru";

/// An immutable GRU plan (shareable across streams; each stream owns its hidden state).
#[derive(Debug, Clone)]
pub struct Gru {
    input: usize,
    hidden: usize,
    mode: LinearBeforeReset,
    isa: Isa,
    kernel: Kernel,
    wx: Linear,
    rec: Recurrent,
}

impl Gru {
    /// Plans a GRU with `input_size` inputs and `hidden_size` hidden units on the
    /// process-wide tier ([`Isa::active`]).
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        weights: &GruWeights<'_>,
        mode: LinearBeforeReset,
    ) -> Result<Self> {
        Self::with_isa(Isa::active(), input_size, hidden_size, weights, mode)
    }

    /// Plans on an explicit tier (errors if this CPU lacks it).
    pub fn with_isa(
        isa: Isa,
        input_size: usize,
        hidden_size: usize,
        weights: &GruWeights<'_>,
        mode: LinearBeforeReset,
    ) -> Result<Self> {
        let kernel = Kernel::for_isa(isa)?;
        let (i, h) = (input_size, hidden_size);
        if i == 0 || h == 0 {
            return Err(invalid(OP, format!("input size {i} and hidden size {h} must be at least 1")));
        }
        let tensor = |tensor, expected, got| {
            if expected == got { Ok(()) } else { Err(EngineError::WeightShape { op: OP, tensor, expected, got }) }
        };
        tensor("W", 3 * h * i, weights.w.len())?;
        tensor("R", 3 * h * h, weights.r.len())?;
        if let Some(b) = weights.wb {
            tensor("Wb", 3 * h, b.len())?;
        }
        if let Some(b) = weights.rb {
            tensor("Rb", 3 * h, b.len())?;
        }
        let out_in = |k, n| LinearSpec::new(k, n).layout(WeightLayout::OutIn);
        let wx = Linear::with_isa(isa, &out_in(i, 3 * h), weights.w, weights.wb)?;
        let rec = match mode {
            LinearBeforeReset::On => Recurrent::Fused(Linear::with_isa(isa, &out_in(h, 3 * h), weights.r, weights.rb)?),
            LinearBeforeReset::Off => {
                let (r_zr, r_h) = weights.r.split_at(2 * h * h);
                let (b_zr, b_h) = match weights.rb {
                    Some(b) => (Some(&b[..2 * h]), Some(&b[2 * h..])),
                    None => (None, None),
                };
                Recurrent::Split {
                    zr: Linear::with_isa(isa, &out_in(h, 2 * h), r_zr, b_zr)?,
                    h: Linear::with_isa(isa, &out_in(h, h), r_h, b_h)?,
                }
            }
        };
        tracing::debug!(isa = isa.name(), input = i, hidden = h, ?mode, "gru planned");
        Ok(Self { input: i, hidden: h, mode, isa, kernel, wx, rec })
    }

    /// Inputs per frame.
    pub fn input_size(&self) -> usize {
        self.input
    }

    /// Hidden units (the state length of one stream).
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// Where the reset gate is applied.
    pub fn mode(&self) -> LinearBeforeReset {
        self.mode
    }

    /// The tier the plan runs on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// FLOPs of the two projections for `rows` rows (gates not counted).
    pub fn flops(&self, rows: usize) -> u64 {
        2 * (rows * 3 * self.hidden * (self.input + self.hidden)) as u64
    }

    /// Scratch floats for [`Gru::step`] with `rows` = B streams, or [`Gru::run_sequence`]
    /// with `rows` = T frames. A longer slice is fine.
    pub fn scratch_len(&self, rows: usize) -> usize {
        rows * self.hidden * if matches!(self.rec, Recurrent::Fused(_)) { 6 } else { 7 }
    }

    /// Advances B streams by one frame: `x` is `[B][I]`, `h` is `[B][H]` (each row one stream's
    /// state, updated in place). B ≥ 1 is inferred from `x`. Allocates nothing.
    pub fn step(&self, x: &[f32], h: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        let b = rows_of(self.input, x)?;
        check_len(OP, "hidden state", b * self.hidden, h.len())?;
        let (gx, rest) = self.split_scratch(scratch, b)?;
        self.wx.run(x, gx)?;
        self.recur(b, gx, h, rest)
    }

    /// Runs T frames of one stream: `xs` is `[T][I]` (T ≥ 1 inferred), `h` is `[H]` (the
    /// initial state in, the final state out), `ys` is `[T][H]` (the state after each frame).
    /// The input projection of all T frames is one GEMM. Allocates nothing.
    pub fn run_sequence(&self, xs: &[f32], h: &mut [f32], ys: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        let t = rows_of(self.input, xs)?;
        check_len(OP, "hidden state", self.hidden, h.len())?;
        check_len(OP, "output (frames × hidden)", t * self.hidden, ys.len())?;
        let (gx, rest) = self.split_scratch(scratch, t)?;
        self.wx.run(xs, gx)?;
        let g = 3 * self.hidden;
        for (gx_t, y_t) in gx.chunks_exact(g).zip(ys.chunks_exact_mut(self.hidden)) {
            self.recur(1, gx_t, h, rest)?;
            y_t.copy_from_slice(h);
        }
        Ok(())
    }

    /// Checks the scratch length for `rows` and splits off the `[rows][3H]` input projection.
    fn split_scratch<'s>(&self, scratch: &'s mut [f32], rows: usize) -> Result<(&'s mut [f32], &'s mut [f32])> {
        let need = self.scratch_len(rows);
        if scratch.len() < need {
            return Err(EngineError::BufferLength { op: OP, buffer: "scratch", expected: need, got: scratch.len() });
        }
        Ok(scratch.split_at_mut(rows * 3 * self.hidden))
    }

    /// The recurrent half of a step for `b` rows: `gx` `[b][3H]` given, `h` `[b][H]` updated,
    /// `rest` holds at least `b · 4H` floats.
    fn recur(&self, b: usize, gx: &[f32], h: &mut [f32], rest: &mut [f32]) -> Result<()> {
        let hn = self.hidden;
        match &self.rec {
            Recurrent::Fused(r) => {
                let gh = &mut rest[..b * 3 * hn];
                r.run(h, gh)?;
                for ((gx, gh), h) in gx.chunks_exact(3 * hn).zip(gh.chunks_exact(3 * hn)).zip(h.chunks_exact_mut(hn)) {
                    gates::lbr_on(self.kernel, gx, gh, h);
                }
            }
            Recurrent::Split { zr, h: rh_lin } => {
                let (gzr, rest) = rest.split_at_mut(b * 2 * hn);
                let (rh, rest) = rest.split_at_mut(b * hn);
                let hh = &mut rest[..b * hn];
                zr.run(h, gzr)?;
                for (((gx, gzr), h), rh) in gx
                    .chunks_exact(3 * hn)
                    .zip(gzr.chunks_exact_mut(2 * hn))
                    .zip(h.chunks_exact(hn))
                    .zip(rh.chunks_exact_mut(hn))
                {
                    gates::reset_gate(self.kernel, gx, gzr, h, rh);
                }
                rh_lin.run(rh, hh)?;
                for (((gx, gzr), hh), h) in gx
                    .chunks_exact(3 * hn)
                    .zip(gzr.chunks_exact(2 * hn))
                    .zip(hh.chunks_exact(hn))
                    .zip(h.chunks_exact_mut(hn))
                {
                    gates::candidate(self.kernel, gx, &gzr[..hn], hh, h);
                }
            }
        }
        Ok(())
    }
}

/// Rows of `x` for `per_row` inputs, or a `BufferLength` error.
fn rows_of(per_row: usize, x: &[f32]) -> Result<usize> {
    if x.is_empty() || !x.len().is_multiple_of(per_row) {
        let expected = (x.len() / per_row).max(1) * per_row;
        return Err(EngineError::BufferLength { op: OP, buffer: "input (rows × inputs)", expected, got: x.len() });
    }
    Ok(x.len() / per_row)
}
