//! The clutter filter as engine plans: a causal 3-D attention U-Net over (T, H, W) run a few
//! frames at a time (spec `clutter.md`, `models/train/clutter/model.py`).
//!
//! Time is never pooled and every temporal kernel is causal, so each 3³ (2³) conv is a
//! [`StreamingConv`] keeping 2 (1) input frames of history per stream; pooling, upsampling,
//! the gates and the 1³ convs act on each frame alone. A plan for `F` frames per step run over
//! a clip `F` frames at a time, from a fresh [`ClutterState`], equals whole-clip inference
//! exactly; the output lags the input by [`LATENCY_FRAMES`] = 0 frames.
//!
//! When the weights carry a correction gate ([`super::gate`]), each frame's correction passes
//! through it after the residual; the gate is causal too, so none of the above changes.
//!
//! The block convs carry the file's activation fused into their stores: none for a `linear`
//! net, the conv's own PReLU slope for a `prelu` one ([`ClutterWeights::activation`]).
//!
//! Frame sides must be multiples of `2^(levels−1)` (8 for the bundled 4-level net): the model was
//! trained that way (TF "same" padding of the stride-2 gate conv then pads the end only, and
//! the skips and upsampled maps line up). For other sizes pad the bottom and right with zeros
//! to the next multiple ([`ClutterPlan::padded_size`]) and crop the output: zeros are what the
//! echo sector has outside the fan, and the padding only changes pixels within a few rows of
//! the padded edge.

use std::sync::Arc;

use sluice_engine::{
    Activation, Add, Broadcast, Concat, Conv, ConvHistory, ConvSpec, EngineError, Isa, Mul, Pool, PoolSpec, Result,
    StreamingConv, Threads, Upsample,
};

use super::gate::{GateParams, GateState};
use super::weights::{ClutterWeights, ConvWeights};
use crate::WeightsError;

const OP: &str = "clutter";

/// Frames the output lags the input: none, every temporal kernel is causal.
pub const LATENCY_FRAMES: usize = 0;

/// Most frames per step [`Clutter::filter_clip`] uses (bounds its working memory).
const CLIP_STEP_MAX: usize = 8;

/// A clutter-filter network ready to be planned for frame sizes; cheap to clone, shareable.
#[derive(Debug, Clone)]
pub struct Clutter {
    weights: Arc<ClutterWeights>,
    isa: Isa,
}

impl Clutter {
    /// Wraps loaded weights; plans use the process-wide tier ([`Isa::active`]).
    pub fn new(weights: ClutterWeights) -> Self {
        Self { weights: Arc::new(weights), isa: Isa::active() }
    }

    /// Wraps loaded weights, planning on an explicit tier (errors if this CPU lacks it).
    pub fn with_isa(weights: ClutterWeights, isa: Isa) -> Result<Self> {
        Ok(Self { weights: Arc::new(weights), isa: isa.require()? })
    }

    /// The network trained by this project (`models/weights/clutter.safetensors`).
    pub fn bundled() -> std::result::Result<Self, WeightsError> {
        ClutterWeights::bundled().map(Self::new)
    }

    /// Decodes a safetensors export (see [`ClutterWeights::from_safetensors`]).
    pub fn from_safetensors(bytes: &[u8]) -> std::result::Result<Self, WeightsError> {
        ClutterWeights::from_safetensors(bytes).map(Self::new)
    }

    /// The weights.
    pub fn weights(&self) -> &ClutterWeights {
        &self.weights
    }

    /// The tier plans run on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Plans the network for `height × width` frames, `frames_per_step` frames per call.
    /// Errors (`InvalidSpec`) for empty or huge sizes and sides that are not multiples of
    /// `2^(levels−1)`.
    pub fn plan(&self, height: usize, width: usize, frames_per_step: usize) -> Result<ClutterPlan> {
        ClutterPlan::new(&self.weights, self.isa, height, width, frames_per_step)
    }

    /// A per-stream runner taking one frame per call (see [`ClutterStream`]).
    pub fn stream(&self, height: usize, width: usize, threads: Arc<Threads>) -> Result<ClutterStream> {
        Ok(ClutterStream::new(Arc::new(self.plan(height, width, 1)?), threads))
    }

    /// Filters a whole clip `[frames][height][width]` (grey levels in [0, 1]) and returns the
    /// filtered clip, primed like a stream ([`ClutterWeights::prime`] copies of the first frame
    /// in front, their outputs dropped). Not real-time: it plans and allocates per call. Runs up
    /// to 8 frames per step; a clip whose length no step size up to 8 divides is padded with
    /// zero frames at the end, which cannot change earlier outputs since the network is causal.
    pub fn filter_clip(
        &self,
        clip: &[f32],
        frames: usize,
        height: usize,
        width: usize,
        threads: &Threads,
    ) -> Result<Vec<f32>> {
        let prime = if frames == 0 { 0 } else { self.weights.prime };
        let total = prime.checked_add(frames).ok_or_else(|| invalid(format!("{frames} frames is too many")))?;
        let step = clip_step(total);
        let plan = self.plan(height, width, step)?;
        let frame = plan.frame_len();
        let expected = frames.checked_mul(frame).ok_or_else(|| invalid(format!("{frames} frames is too many")))?;
        if clip.len() != expected {
            return Err(EngineError::BufferLength { op: OP, buffer: "clip", expected, got: clip.len() });
        }
        // The primed clip: `prime` copies of frame 0, the clip, zero frames up to whole steps.
        let mut input = vec![0.0; total.div_ceil(step) * step * frame];
        for dst in input.chunks_exact_mut(frame).take(prime) {
            dst.copy_from_slice(&clip[..frame]);
        }
        input[prime * frame..total * frame].copy_from_slice(clip);
        let mut state = plan.new_state(threads);
        state.skip_gate(prime);
        let mut out = vec![0.0; input.len()];
        for (src, dst) in input.chunks_exact(step * frame).zip(out.chunks_exact_mut(step * frame)) {
            plan.run(&mut state, src, dst, threads)?;
        }
        out.truncate(total * frame);
        out.drain(..prime * frame);
        Ok(out)
    }
}

/// Frames per step for a clip of `frames`: the step ≤ 8 that pads the clip least, the larger
/// on ties.
fn clip_step(frames: usize) -> usize {
    (1..=CLIP_STEP_MAX.min(frames.max(1))).rev().min_by_key(|s| (s - frames % s) % s).unwrap_or(1)
}

fn invalid(reason: String) -> EngineError {
    EngineError::InvalidSpec { op: OP, reason }
}

/// TF "same" padding (before, after) of one spatial axis, as `model.py`'s `same_pad`.
fn same_pad(size: usize, k: usize, s: usize) -> (usize, usize) {
    let out = size.div_ceil(s);
    let total = ((out - 1) * s + k).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// A temporal conv (3³ or 2³, causal in time, TF "same" in space) on `[h, w]` frames, with the
/// conv's activation (a block's PReLU) fused into its store.
fn temporal(isa: Isa, c: &ConvWeights, hw: [usize; 2], stride: usize, frames: usize) -> Result<StreamingConv> {
    let &[cout, cin, kt, kh, kw] = c.weight.shape() else {
        return Err(invalid(format!("conv weight of shape {:?} is not 5-D", c.weight.shape())));
    };
    let k = [kt, kh, kw];
    let (h0, h1) = same_pad(hw[0], k[1], stride);
    let (w0, w1) = same_pad(hw[1], k[2], stride);
    let spec = ConvSpec::new(cin, cout, &k)
        .stride(&[1, stride, stride])
        .padding(&[kt.saturating_sub(1), h0, w0], &[0, h1, w1])
        .activation(c.activation);
    StreamingConv::with_isa(isa, &spec, &hw, frames, c.weight.data(), Some(c.bias.data()))
}

/// A 1³ conv as a per-frame 1×1 conv on `[h, w]` frames (same weight order, kT = kH = kW = 1).
fn pointwise(isa: Isa, c: &ConvWeights, hw: [usize; 2], act: Activation) -> Result<Conv> {
    let &[cout, cin, 1, 1, 1] = c.weight.shape() else {
        return Err(invalid(format!("pointwise weight of shape {:?} is not [C_out, C_in, 1, 1, 1]", c.weight.shape())));
    };
    let spec = ConvSpec::new(cin, cout, &[1, 1]).activation(act);
    Conv::with_isa(isa, &spec, &hw, c.weight.data(), Some(c.bias.data()))
}

/// One encoder level: two temporal convs, then max pooling (1, 2, 2) unless it is the bottom.
#[derive(Debug, Clone)]
struct EncPlan {
    convs: [StreamingConv; 2],
    pool: Option<Pool>,
}

/// One decoder level (fine size `[h, w]`, gating map at `[h/2, w/2]`).
#[derive(Debug, Clone)]
struct DecPlan {
    theta: StreamingConv,
    phi: Conv,
    sum: Add,
    psi: Conv,
    gate_up: Upsample,
    gate: Mul,
    g_up: Upsample,
    up: StreamingConv,
    concat: Concat,
    convs: [StreamingConv; 2],
}

/// The network planned for one frame size and step. Immutable; share it across streams.
#[derive(Debug, Clone)]
pub struct ClutterPlan {
    frames: usize,
    /// Frames of priming a stream starts with ([`ClutterWeights::prime`]).
    prime: usize,
    height: usize,
    width: usize,
    enc: Vec<EncPlan>,
    dec: Vec<DecPlan>,
    head: Conv,
    residual: Add,
    /// The correction gate after the residual, when the weights have one.
    gate: Option<GateParams>,
}

impl ClutterPlan {
    fn new(w: &ClutterWeights, isa: Isa, height: usize, width: usize, frames: usize) -> Result<Self> {
        let levels = w.levels;
        if levels == 0 || w.enc.len() != levels || w.dec.len() + 1 != levels {
            return Err(invalid(format!(
                "weights have {} encoder and {} decoder levels for levels = {levels}",
                w.enc.len(),
                w.dec.len()
            )));
        }
        let m = w.size_multiple();
        if height == 0 || width == 0 || frames == 0 {
            return Err(invalid(format!("{frames} frames of {height}x{width} is empty")));
        }
        if !height.is_multiple_of(m) || !width.is_multiple_of(m) {
            let (ph, pw) = Self::padded_size_for(m, height, width);
            return Err(invalid(format!(
                "frame {height}x{width}: sides must be multiples of {m}; pad to {ph}x{pw} and crop the output"
            )));
        }
        // Every map is addressable: the widest level-0 total (≤ 64·n0 channels) fits usize.
        let fits = frames.checked_mul(height).and_then(|p| p.checked_mul(width)).and_then(|p| p.checked_mul(64 * w.n0));
        if fits.is_none() {
            return Err(invalid(format!("{frames} frames of {height}x{width} is too large")));
        }
        let hw = |l: usize| [height >> l, width >> l];
        let mut enc = Vec::with_capacity(levels);
        for (l, [c1, c2]) in w.enc.iter().enumerate() {
            let pool = if l + 1 < levels {
                let spec = PoolSpec::max(c2.out_channels(), &[2, 2]).stride(&[2, 2]);
                Some(Pool::with_isa(isa, &spec, &hw(l))?)
            } else {
                None
            };
            enc.push(EncPlan {
                convs: [temporal(isa, c1, hw(l), 1, frames)?, temporal(isa, c2, hw(l), 1, frames)?],
                pool,
            });
        }
        let mut dec = Vec::with_capacity(levels - 1);
        let mut cg = w.enc[levels - 1][1].out_channels();
        for (i, d) in w.dec.iter().enumerate() {
            let l = levels - 2 - i;
            let (fine, coarse) = (hw(l), hw(l + 1));
            let cx = d.convs[1].out_channels();
            let (fine_px, coarse_px) = (fine[0] * fine[1], coarse[0] * coarse[1]);
            dec.push(DecPlan {
                theta: temporal(isa, &d.gate.theta, fine, 2, frames)?,
                phi: pointwise(isa, &d.gate.phi, coarse, Activation::Identity)?,
                sum: Add::new(cx / 2, coarse_px, Broadcast::Same)?,
                psi: pointwise(isa, &d.gate.psi, coarse, Activation::Sigmoid)?,
                gate_up: Upsample::new(1, &[2, 2], &coarse)?,
                gate: Mul::new(cx, fine_px, Broadcast::PerPixel)?,
                g_up: Upsample::new(cg, &[2, 2], &coarse)?,
                up: temporal(isa, &d.up, fine, 1, frames)?,
                concat: Concat::new(&[cg, cx], &fine)?,
                convs: [temporal(isa, &d.convs[0], fine, 1, frames)?, temporal(isa, &d.convs[1], fine, 1, frames)?],
            });
            cg = cx;
        }
        let head = pointwise(isa, &w.head, hw(0), Activation::Identity)?;
        let residual = Add::new(1, height * width, Broadcast::Same)?;
        Ok(Self { frames, prime: w.prime, height, width, enc, dec, head, residual, gate: w.gate })
    }

    /// The smallest legal frame size holding `height × width` for a net of `levels` levels.
    fn padded_size_for(multiple: usize, height: usize, width: usize) -> (usize, usize) {
        (height.div_ceil(multiple) * multiple, width.div_ceil(multiple) * multiple)
    }

    /// The smallest frame size at least `height × width` that `weights` can be planned for:
    /// pad the bottom and right with zeros to it, then crop the output.
    pub fn padded_size(weights: &ClutterWeights, height: usize, width: usize) -> (usize, usize) {
        Self::padded_size_for(weights.size_multiple(), height, width)
    }

    /// Frames per [`ClutterPlan::run`].
    pub fn frames_per_step(&self) -> usize {
        self.frames
    }

    /// Frame height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Frame width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Floats of one frame: `height · width`.
    pub fn frame_len(&self) -> usize {
        self.height * self.width
    }

    /// Floats of one step's input (and output): `frames_per_step · height · width`.
    pub fn step_len(&self) -> usize {
        self.frames * self.frame_len()
    }

    /// Frames the output lags the input ([`LATENCY_FRAMES`]).
    pub fn latency(&self) -> usize {
        LATENCY_FRAMES
    }

    /// Steps of priming a [`ClutterStream`] of this plan runs before a clip's first step.
    fn prime_steps(&self) -> usize {
        self.prime.div_ceil(self.frames)
    }

    /// Floating-point operations of one frame (2 × multiply-adds of the convs).
    pub fn flops_per_frame(&self) -> u64 {
        let convs = self
            .enc
            .iter()
            .flat_map(|e| &e.convs)
            .chain(self.dec.iter().flat_map(|d| [&d.theta, &d.up, &d.convs[0], &d.convs[1]]));
        let temporal: u64 = convs.map(StreamingConv::flops).sum();
        let pointwise: u64 = self.dec.iter().map(|d| d.phi.flops() + d.psi.flops()).sum::<u64>() + self.head.flops();
        (temporal + pointwise) / self.frames as u64
    }

    /// Kernel scratch floats a run with `threads` needs (the largest of any layer).
    fn scratch_len(&self, threads: &Threads) -> usize {
        let enc = self.enc.iter().flat_map(|e| {
            e.convs.iter().map(|c| c.scratch_len(threads)).chain(e.pool.iter().map(|p| p.scratch_len(threads)))
        });
        let dec = self.dec.iter().flat_map(|d| {
            [&d.theta, &d.up, &d.convs[0], &d.convs[1]]
                .into_iter()
                .map(|c| c.scratch_len(threads))
                .chain([d.phi.scratch_len(threads), d.psi.scratch_len(threads)])
        });
        enc.chain(dec).chain([self.head.scratch_len(threads)]).max().unwrap_or(0)
    }

    /// A fresh stream (zero histories: the zero padding before a clip's first frame) with
    /// work buffers for this plan and kernel scratch for `threads`.
    pub fn new_state(&self, threads: &Threads) -> ClutterState {
        let f = self.frames;
        let px = |l: usize| f * (self.height >> l) * (self.width >> l);
        let enc = self
            .enc
            .iter()
            .map(|e| EncState {
                hist: [e.convs[0].new_state(1), e.convs[1].new_state(1)],
                out: vec![0.0; f * e.convs[1].output_frame_len()],
            })
            .collect();
        let levels = self.enc.len();
        let dec = self
            .dec
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let l = levels - 2 - i;
                DecState {
                    theta_hist: d.theta.new_state(1),
                    up_hist: d.up.new_state(1),
                    hist: [d.convs[0].new_state(1), d.convs[1].new_state(1)],
                    th: vec![0.0; f * d.theta.output_frame_len()],
                    ph: vec![0.0; f * d.theta.output_frame_len()],
                    a: vec![0.0; px(l + 1)],
                    a_up: vec![0.0; px(l)],
                    gated: vec![0.0; f * d.gate.image_len()],
                    u: vec![0.0; f * d.up.output_frame_len()],
                    out: vec![0.0; f * d.convs[1].output_frame_len()],
                }
            })
            .collect();
        ClutterState {
            key: (self.frames, self.height, self.width, levels),
            enc,
            dec,
            scratch: vec![0.0; self.scratch_len(threads)],
            gate: self.gate.map(|_| GateState::new(self.height, self.width)),
        }
    }

    /// Filters the next `frames_per_step` frames of the stream held by `state`: `input` and
    /// `output` are `[frames][height][width]` grey levels (output = input + the predicted
    /// correction, gated when the weights have a gate, unclamped). Allocates nothing. Errors
    /// (`BufferLength`) for wrong buffer sizes, a state from another plan, or more threads than
    /// the state was made for.
    pub fn run(&self, state: &mut ClutterState, input: &[f32], output: &mut [f32], threads: &Threads) -> Result<()> {
        let check = |buffer, expected, got| {
            if got == expected { Ok(()) } else { Err(EngineError::BufferLength { op: OP, buffer, expected, got }) }
        };
        check("input", self.step_len(), input.len())?;
        check("output", self.step_len(), output.len())?;
        if state.key != (self.frames, self.height, self.width, self.enc.len())
            || state.gate.is_some() != self.gate.is_some()
        {
            return Err(invalid(format!(
                "state was made for another plan ({} frames of {}x{}); make it with this plan's new_state",
                state.key.0, state.key.1, state.key.2
            )));
        }
        let need = self.scratch_len(threads);
        if state.scratch.len() < need {
            return Err(EngineError::BufferLength {
                op: OP,
                buffer: "scratch",
                expected: need,
                got: state.scratch.len(),
            });
        }
        let ClutterState { enc, dec, scratch, gate, .. } = state;
        let scratch = scratch.as_mut_slice();
        // Each layer writes its output straight into the input slots of the temporal conv that
        // reads it next (`ConvHistory::input_mut`), so no buffer sits between them.
        for (l, p) in self.enc.iter().enumerate() {
            let (done, rest) = enc.split_at_mut(l + 1);
            let Some(s) = done.last_mut() else { continue };
            let [h0, h1] = &mut s.hist;
            let slots = h1.input_mut(0)?;
            if l == 0 {
                p.convs[0].step(h0, input, slots, scratch, threads)?;
            } else {
                // The level above pooled into this conv's slots.
                p.convs[0].step_filled(h0, slots, scratch, threads)?;
            }
            p.convs[1].step_filled(h1, &mut s.out, scratch, threads)?;
            if let (Some(pool), Some(next)) = (&p.pool, rest.first_mut()) {
                let slots = next.hist[0].input_mut(0)?;
                pool.run(&s.out, slots, scratch, threads)?;
            }
        }
        let levels = self.enc.len();
        let bottom = enc.last().map_or(input, |e| e.out.as_slice());
        for (i, p) in self.dec.iter().enumerate() {
            let (done, rest) = dec.split_at_mut(i);
            let Some(d) = rest.first_mut() else { continue };
            let g = done.last().map_or(bottom, |prev| prev.out.as_slice());
            let skip = enc.get(levels - 2 - i).map_or(input, |e| e.out.as_slice());
            // Gate: a = σ(ψ(relu(θ(x) + φ(g)))) at the coarse size; x' = x · upsample(a).
            p.theta.step(&mut d.theta_hist, skip, &mut d.th, scratch, threads)?;
            p.phi.run(g, &mut d.ph, scratch, threads)?;
            p.sum.run_in_place(&mut d.th, &d.ph)?;
            Activation::Relu.apply_slice(&mut d.th);
            p.psi.run(&d.th, &mut d.a, scratch, threads)?;
            p.gate_up.run(&d.a, &mut d.a_up)?;
            p.gate.run(skip, &d.a_up, &mut d.gated)?;
            // Up: nearest (1, 2, 2), causal 2³ conv, concat [up, gated skip], two 3³ convs.
            p.g_up.run(g, d.up_hist.input_mut(0)?)?;
            p.up.step_filled(&mut d.up_hist, &mut d.u, scratch, threads)?;
            let [h0, h1] = &mut d.hist;
            p.concat.run(&[&d.u, &d.gated], h0.input_mut(0)?)?;
            p.convs[0].step_filled(h0, h1.input_mut(0)?, scratch, threads)?;
            p.convs[1].step_filled(h1, &mut d.out, scratch, threads)?;
        }
        let h = dec.last().map_or(bottom, |d| d.out.as_slice());
        self.head.run(h, output, scratch, threads)?;
        self.residual.run_in_place(output, input)?;
        if let (Some(params), Some(gate)) = (&self.gate, gate.as_mut()) {
            let frame = self.frame_len();
            for (x, y) in input.chunks_exact(frame).zip(output.chunks_exact_mut(frame)) {
                gate.apply(params, x, y)?;
            }
        }
        Ok(())
    }
}

/// Histories and output of one encoder level (its second conv's, the skip connection's input;
/// the first conv writes into the second's history slots, the pool into the next level's).
#[derive(Debug, Clone)]
struct EncState {
    hist: [ConvHistory; 2],
    out: Vec<f32>,
}

/// Histories and work buffers of one decoder level (the upsampled gating map, the concat and
/// the first conv's output go straight into the history slots of the conv that reads them).
#[derive(Debug, Clone)]
struct DecState {
    theta_hist: ConvHistory,
    up_hist: ConvHistory,
    hist: [ConvHistory; 2],
    th: Vec<f32>,
    ph: Vec<f32>,
    a: Vec<f32>,
    a_up: Vec<f32>,
    gated: Vec<f32>,
    u: Vec<f32>,
    out: Vec<f32>,
}

/// One stream's state for a [`ClutterPlan`]: the causal convs' input histories (2 frames for
/// 3³, 1 for 2³) plus the plan's work buffers and kernel scratch, all allocated up front.
#[derive(Debug, Clone)]
pub struct ClutterState {
    /// (frames, height, width, levels) of the plan it belongs to.
    key: (usize, usize, usize, usize),
    enc: Vec<EncState>,
    dec: Vec<DecState>,
    scratch: Vec<f32>,
    /// The correction gate's running activity (when the plan has a gate).
    gate: Option<GateState>,
}

impl ClutterState {
    /// Returns to a fresh stream: the next frame is treated as a clip's first.
    pub fn reset(&mut self) {
        for e in &mut self.enc {
            e.hist.iter_mut().for_each(ConvHistory::reset);
        }
        for d in &mut self.dec {
            d.theta_hist.reset();
            d.up_hist.reset();
            d.hist.iter_mut().for_each(ConvHistory::reset);
        }
        if let Some(g) = &mut self.gate {
            g.reset();
        }
    }

    /// The next `frames` frames run are priming, whose outputs the caller drops: the correction
    /// gate (when the plan has one) passes them untouched and starts with the frame after
    /// ([`GateState::skip`]). [`ClutterStream`] and [`Clutter::filter_clip`] call it; callers
    /// priming a [`ClutterPlan::run`] themselves should too.
    pub fn skip_gate(&mut self, frames: usize) {
        if let Some(g) = &mut self.gate {
            g.skip(frames);
        }
    }
}

/// The per-stream object: a shared plan, this stream's state and the engine pool it runs on.
/// Frames in → frames out, [`LATENCY_FRAMES`] (0) frames late; `process` allocates nothing.
/// The first call of a clip primes the histories with the network's
/// [`ClutterWeights::prime`] copies of its first frame (rounded up to whole steps for a plan
/// of several frames per step), so the stream equals [`Clutter::filter_clip`].
#[derive(Debug)]
pub struct ClutterStream {
    plan: Arc<ClutterPlan>,
    state: ClutterState,
    threads: Arc<Threads>,
    /// Steps of priming the next call runs first (0 once the clip has started).
    prime_steps: usize,
    /// One step of copies of the first frame, for plans of several frames per step.
    prime_buf: Vec<f32>,
}

impl ClutterStream {
    /// A fresh stream of `plan` (usually planned for 1 frame per step) on `threads`.
    pub fn new(plan: Arc<ClutterPlan>, threads: Arc<Threads>) -> Self {
        let state = plan.new_state(&threads);
        let prime_buf = if plan.prime > 0 && plan.frames > 1 { vec![0.0; plan.step_len()] } else { Vec::new() };
        let prime_steps = plan.prime_steps();
        Self { plan, state, threads, prime_steps, prime_buf }
    }

    /// The shared plan.
    pub fn plan(&self) -> &ClutterPlan {
        &self.plan
    }

    /// Floats of one call's input and output (`frames_per_step` frames).
    pub fn step_len(&self) -> usize {
        self.plan.step_len()
    }

    /// Frames the output lags the input (0).
    pub fn latency(&self) -> usize {
        self.plan.latency()
    }

    /// Filters the next `frames_per_step` frames (`[frames][height][width]`, grey in [0, 1])
    /// into `frame_out`; output frame `i` corresponds to input frame `i`. Allocates nothing.
    pub fn process(&mut self, frame_in: &[f32], frame_out: &mut [f32]) -> Result<()> {
        if self.prime_steps > 0 && frame_in.len() == self.plan.step_len() {
            let frame = self.plan.frame_len();
            let src = if self.prime_buf.is_empty() {
                frame_in
            } else {
                for dst in self.prime_buf.chunks_exact_mut(frame) {
                    dst.copy_from_slice(&frame_in[..frame]);
                }
                &self.prime_buf
            };
            self.state.skip_gate(self.prime_steps * self.plan.frames);
            for _ in 0..self.prime_steps {
                self.plan.run(&mut self.state, src, frame_out, &self.threads)?;
            }
            self.prime_steps = 0;
        }
        self.plan.run(&mut self.state, frame_in, frame_out, &self.threads)
    }

    /// Starts a new clip (histories back to zero; the next call primes again).
    pub fn reset(&mut self) {
        self.state.reset();
        self.prime_steps = self.plan.prime_steps();
    }
}
