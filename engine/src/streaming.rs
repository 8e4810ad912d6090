//! Causal convolution along time, fed a few frames at a time, with per-stream history.
//!
//! The outermost spatial axis is time. A causal conv pads `d·(k−1)` zero frames in front;
//! streaming replaces that padding by the stream's own last `d·(k−1)` input frames, so
//! feeding frames one at a time produces exactly what the whole-sequence conv produces.

use crate::conv::{Conv, ConvSpec};
use crate::error::{Result, check_len, invalid};
use crate::isa::Isa;
use crate::threads::Threads;

const OP: &str = "streaming_conv";

/// A causal conv planned for `frames_per_step` new frames per call.
#[derive(Debug, Clone)]
pub struct StreamingConv {
    conv: Conv,
    frames: usize,
    hist: usize,
    frame_len: usize,
    out_frame_len: usize,
}

/// History of one or more independent streams (`[stream][hist + frames][frame]`): each
/// stream's window holds its last `hist` input frames, then the slots of the next step's new
/// frames ([`ConvHistory::input_mut`]).
#[derive(Debug, Clone)]
pub struct ConvHistory {
    buf: Vec<f32>,
    streams: usize,
    window: usize,
    hist: usize,
    /// Elements of the new frames' slots per stream (`frames · frame_len`).
    input: usize,
}

impl ConvHistory {
    /// Returns every stream to silence (the zero padding of a fresh sequence).
    pub fn reset(&mut self) {
        self.buf.fill(0.0);
    }

    /// Returns one stream to silence.
    pub fn reset_stream(&mut self, stream: usize) {
        if let Some(s) = self.buf.get_mut(stream * self.window..(stream + 1) * self.window) {
            s.fill(0.0);
        }
    }

    /// Number of streams held.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// The slots of the next step's new frames of `stream` (`frames_per_step` input frames), for
    /// the layer that produces them to write its output straight into them and save a copy
    /// (then [`StreamingConv::step_filled`]). A step leaves stale values there: fill all of it
    /// before every step. Errors (`InvalidSpec`) for a stream this history does not hold.
    pub fn input_mut(&mut self, stream: usize) -> Result<&mut [f32]> {
        if stream >= self.streams {
            return Err(invalid(OP, format!("stream {stream} of a history holding {}", self.streams)));
        }
        // In bounds: the buffer is `streams` windows, each ending in its `input` slots.
        let end = (stream + 1) * self.window;
        Ok(&mut self.buf[end - self.input..end])
    }
}

impl StreamingConv {
    /// Plans a causal conv. `spec` must pad time (axis 0) causally (`pad_begin = d·(k−1)`,
    /// `pad_end = 0`, stride 1 — see [`ConvSpec::causal_time`]); `frame_dims` are the other
    /// spatial dims of one frame.
    pub fn new(
        spec: &ConvSpec,
        frame_dims: &[usize],
        frames_per_step: usize,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        Self::with_isa(Isa::active(), spec, frame_dims, frames_per_step, weights, bias)
    }

    /// As [`StreamingConv::new`] with an explicit ISA tier.
    pub fn with_isa(
        isa: Isa,
        spec: &ConvSpec,
        frame_dims: &[usize],
        frames_per_step: usize,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let rank = spec.rank();
        if rank < 1 || frame_dims.len() + 1 != rank {
            return Err(invalid(
                OP,
                format!("frame has {} dims; a rank-{rank} conv needs {}", frame_dims.len(), rank.max(1) - 1),
            ));
        }
        if frames_per_step == 0 {
            return Err(invalid(OP, "frames_per_step must be at least 1"));
        }
        let (k, d) = (spec.kernel[0], spec.dilation[0]);
        let hist = d * k.saturating_sub(1);
        if spec.stride[0] != 1 || spec.pad_end[0] != 0 || spec.pad_begin[0] != hist {
            return Err(invalid(
                OP,
                format!(
                    "time axis must be causal: stride 1, pad_begin d·(k−1) = {hist}, pad_end 0 (got stride {}, pads {}/{})",
                    spec.stride[0], spec.pad_begin[0], spec.pad_end[0]
                ),
            ));
        }
        if spec.pixel_shuffle != 1 {
            return Err(invalid(OP, "pixel shuffle mixes time with space; not supported in streaming"));
        }
        let mut inner = spec.clone();
        inner.pad_begin[0] = 0;
        let mut dims = vec![hist + frames_per_step];
        dims.extend_from_slice(frame_dims);
        let conv = Conv::with_isa(isa, &inner, &dims, weights, bias)?;
        let frame_len = frame_dims.iter().product::<usize>() * spec.in_channels;
        let out_frame_len = conv.output_len() / frames_per_step;
        Ok(Self { conv, frames: frames_per_step, hist, frame_len, out_frame_len })
    }

    /// A fresh (silent) history for `streams` independent streams.
    pub fn new_state(&self, streams: usize) -> ConvHistory {
        let window = (self.hist + self.frames) * self.frame_len;
        let input = self.frames * self.frame_len;
        ConvHistory { buf: vec![0.0; window * streams.max(1)], streams: streams.max(1), window, hist: self.hist, input }
    }

    /// Input frames of history kept per stream.
    pub fn history_frames(&self) -> usize {
        self.hist
    }

    /// Elements of one input frame.
    pub fn input_frame_len(&self) -> usize {
        self.frame_len
    }

    /// Elements of one output frame.
    pub fn output_frame_len(&self) -> usize {
        self.out_frame_len
    }

    /// FLOPs (2 × multiply-adds) of one step for one stream.
    pub fn flops(&self) -> u64 {
        self.conv.flops()
    }

    /// Scratch floats [`StreamingConv::step`] needs.
    pub fn scratch_len(&self, threads: &Threads) -> usize {
        self.conv.scratch_len(threads)
    }

    /// Feeds `frames_per_step` new frames of every stream in `state` (`input` is
    /// `[stream][frame]`), writes as many output frames per stream, and advances the history.
    pub fn step(
        &self,
        state: &mut ConvHistory,
        input: &[f32],
        output: &mut [f32],
        scratch: &mut [f32],
        threads: &Threads,
    ) -> Result<()> {
        self.check_state(state)?;
        let step_in = self.frames * self.frame_len;
        check_len(OP, "input", step_in * state.streams, input.len())?;
        let h = state.hist * self.frame_len;
        for (win, x) in state.buf.chunks_exact_mut(state.window).zip(input.chunks_exact(step_in)) {
            win[h..].copy_from_slice(x);
        }
        self.step_filled(state, output, scratch, threads)
    }

    /// As [`StreamingConv::step`] with every stream's new frames already written into
    /// [`ConvHistory::input_mut`] (by the layer before, with no buffer in between).
    pub fn step_filled(
        &self,
        state: &mut ConvHistory,
        output: &mut [f32],
        scratch: &mut [f32],
        threads: &Threads,
    ) -> Result<()> {
        self.check_state(state)?;
        check_len(OP, "output", self.frames * self.out_frame_len * state.streams, output.len())?;
        self.conv.run(&state.buf, output, scratch, threads)?;
        let step_in = self.frames * self.frame_len;
        for win in state.buf.chunks_exact_mut(state.window) {
            win.copy_within(step_in.., 0);
        }
        Ok(())
    }

    fn check_state(&self, state: &ConvHistory) -> Result<()> {
        check_len(OP, "state", (self.hist + self.frames) * self.frame_len * state.streams, state.buf.len())?;
        check_len(OP, "state input", self.frames * self.frame_len, state.input)
    }
}
