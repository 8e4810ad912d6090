//! Cross-stream batching: many streams' complete hops through the network in one call.
//!
//! A live server holds many streams, each with its own rate, channels and settings. Stepping
//! them one by one reads the network's ~8.5 MB of weights once per stream and hop; gathering
//! every ready hop and running [`Dfn3Model::step_many`] reads them once per batch. The work is
//! split in two phases so a worker can gather:
//!
//! 1. stream side — [`BatchStream::push`] takes input until a 48 kHz hop is complete (any
//!    rate: the resampling happens here);
//! 2. batch side — [`HopBatch::run`] runs the DSP front end of every ready channel of every
//!    stream, the network once per block of [`HopBatch::capacity`] channels, then the DSP back
//!    end; each stream's finished output is then in [`BatchStream::output`].
//!
//! The result is bit-identical to [`Denoiser::process`] / [`ResampledDenoiser::process`] on each
//! stream alone (the network's batched path equals its single path; the DSP is per channel).

use std::sync::Arc;

use sluice_models::dfn3::{Decoders, Dfn3Batch, Dfn3Model, Dfn3Output, Dfn3State};

use super::{DenoiseError, Denoiser, DenoiserSettings, ResampledDenoiser};
use crate::dsp::StageThresholds;

/// The 48 kHz denoiser, or the resampling one at any other rate.
enum Kind {
    Native(Denoiser),
    Resampled(Box<ResampledDenoiser>),
}

/// One stream fed through a [`HopBatch`]: interleaved audio at any rate (8–192 kHz) and any
/// channel count, with its own state and settings.
///
/// Feed it with [`BatchStream::push`] until [`BatchStream::ready`], let a [`HopBatch`] run it,
/// then take [`BatchStream::output`] and [`BatchStream::clear_output`]. Output is the raw
/// stream, delayed by [`BatchStream::latency`] frames, exactly as the matching `process` gives
/// it. Nothing here allocates after [`BatchStream::new`].
pub struct BatchStream {
    kind: Kind,
    /// Finished output not yet taken, and its length in samples.
    out: Vec<f32>,
    out_len: usize,
}

impl BatchStream {
    /// A stream of `channels` interleaved channels at `sample_rate` Hz on `model` (a
    /// [`Denoiser`] at 48 kHz, a [`ResampledDenoiser`] otherwise). Allocates every buffer now.
    pub fn new(model: Arc<Dfn3Model>, channels: usize, sample_rate: usize) -> Result<Self, DenoiseError> {
        let (kind, unit) = if sample_rate == 48_000 {
            let d = Denoiser::new(model, channels)?;
            let unit = d.hop() * channels;
            (Kind::Native(d), unit)
        } else {
            let d = ResampledDenoiser::new(model, channels, sample_rate)?;
            let unit = d.block() * channels;
            (Kind::Resampled(Box::new(d)), unit)
        };
        Ok(Self { kind, out: vec![0.0; unit], out_len: 0 })
    }

    fn denoiser(&self) -> &Denoiser {
        match &self.kind {
            Kind::Native(d) => d,
            Kind::Resampled(d) => d.inner(),
        }
    }

    fn denoiser_mut(&mut self) -> &mut Denoiser {
        match &mut self.kind {
            Kind::Native(d) => d,
            Kind::Resampled(d) => d.inner_mut(),
        }
    }

    /// Interleaved channels.
    pub fn channels(&self) -> usize {
        self.denoiser().channels()
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> usize {
        match &self.kind {
            Kind::Native(d) => d.sample_rate(),
            Kind::Resampled(d) => d.sample_rate(),
        }
    }

    /// Delay of the raw output in frames at the stream's rate (see [`Denoiser::latency`],
    /// [`ResampledDenoiser::latency`]).
    pub fn latency(&self) -> usize {
        match &self.kind {
            Kind::Native(d) => d.latency(),
            Kind::Resampled(d) => d.latency(),
        }
    }

    /// Frames per unit of output at the stream's rate: a hop (480) at 48 kHz, else the
    /// resampling block. Output comes in whole units.
    pub fn unit_frames(&self) -> usize {
        self.out.len() / self.channels()
    }

    /// The current settings.
    pub fn settings(&self) -> DenoiserSettings {
        self.denoiser().settings()
    }

    /// Applies settings from the next hop on.
    pub fn set_settings(&mut self, s: DenoiserSettings) {
        self.denoiser_mut().set_settings(s);
    }

    /// Mean local SNR in dB over the channels' latest hops.
    pub fn lsnr(&self) -> f32 {
        let d = self.denoiser();
        let sum: f32 = (0..d.channels()).filter_map(|c| d.lsnr(c)).sum();
        sum / d.channels() as f32
    }

    /// Consumes interleaved input (whole frames) until a hop is ready; returns samples
    /// consumed. Takes nothing while a hop is ready or output waits to be taken, so call it
    /// until it returns 0, run the batch, take the output, and repeat.
    pub fn push(&mut self, input: &[f32]) -> Result<usize, DenoiseError> {
        let nch = self.channels();
        if !input.len().is_multiple_of(nch) {
            return Err(DenoiseError::PartialFrame { what: "input", len: input.len(), channels: nch });
        }
        if self.out_len > 0 || self.ready() {
            return Ok(0);
        }
        match &mut self.kind {
            Kind::Native(d) => Ok(d.push_until_hop(input)),
            Kind::Resampled(d) => d.push_until_hop(input),
        }
    }

    /// Whether a complete hop waits for [`HopBatch::run`].
    pub fn ready(&self) -> bool {
        self.denoiser().hop_ready()
    }

    /// Frames of zeros to [`BatchStream::push`] to end the stream: afterwards every frame
    /// pushed before has come out (the same zeros `flush` feeds).
    pub fn flush_frames(&self) -> usize {
        match &self.kind {
            Kind::Native(d) => d.flush_frames(),
            Kind::Resampled(d) => d.flush_frames(),
        }
    }

    /// Finished output (interleaved samples) not yet cleared.
    pub fn output(&self) -> &[f32] {
        &self.out[..self.out_len]
    }

    /// Marks [`BatchStream::output`] as taken.
    pub fn clear_output(&mut self) {
        self.out_len = 0;
    }

    /// Starts a new stream; settings are kept.
    pub fn reset(&mut self) {
        match &mut self.kind {
            Kind::Native(d) => d.reset(),
            Kind::Resampled(d) => d.reset(),
        }
        self.out_len = 0;
    }

    /// After every channel of the ready hop has run: moves the hop on (resampling back when it
    /// completes a block) and exposes any finished output.
    fn finish_hop(&mut self) -> Result<(), DenoiseError> {
        match &mut self.kind {
            Kind::Native(d) => {
                d.finish_hop(&mut self.out);
                self.out_len = self.out.len();
            }
            Kind::Resampled(d) => self.out_len = d.finish_hop(&mut self.out)?,
        }
        Ok(())
    }
}

impl AsMut<BatchStream> for BatchStream {
    fn as_mut(&mut self) -> &mut BatchStream {
        self
    }
}

/// What one [`HopBatch::run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchRun {
    /// Streams that had a hop ready and advanced by it.
    pub streams: usize,
    /// Channel hops the network ran on (silent or bypassed channels skip it).
    pub network_hops: usize,
    /// Network calls made (`step_many` blocks, or single steps when unbatched).
    pub network_calls: usize,
    /// Decoder runs the network skipped because a hop's stage did not use them (two per hop
    /// that runs neither decoder, one per ERB-only hop; none with libDF's C-API thresholds).
    pub decoders_skipped: usize,
}

/// Runs the ready hops of many [`BatchStream`]s together; owns the batch scratch.
///
/// Stream states are swapped into the batch's slots for the network call and back (a move of
/// a few pointers, no copy of the state), so streams keep owning their state.
pub struct HopBatch {
    model: Arc<Dfn3Model>,
    batched: bool,
    batch: Dfn3Batch,
    states: Vec<Dfn3State>,
    outs: Vec<Dfn3Output>,
    feat_erb: Vec<f32>,
    feat_spec: Vec<f32>,
    /// (stream, channel) of each filled slot of the current block.
    slots: Vec<(usize, usize)>,
    /// Each filled slot's stage thresholds, which pick the decoders it runs.
    thresholds: Vec<StageThresholds>,
}

impl HopBatch {
    /// A batch runner for up to `capacity` channel hops per network call (at least 1).
    pub fn new(model: Arc<Dfn3Model>, capacity: usize) -> Self {
        Self::build(model, capacity.max(1), true)
    }

    /// A runner that steps every channel on its own (`Dfn3Model::step`): the baseline that
    /// batching is measured against.
    pub fn unbatched(model: Arc<Dfn3Model>) -> Self {
        Self::build(model, 1, false)
    }

    fn build(model: Arc<Dfn3Model>, capacity: usize, batched: bool) -> Self {
        let (nb_erb, nb_df) = (model.nb_erb(), model.nb_df());
        Self {
            batch: model.new_batch(capacity),
            states: (0..capacity).map(|_| model.new_state()).collect(),
            outs: (0..capacity).map(|_| model.new_output()).collect(),
            feat_erb: vec![0.0; capacity * nb_erb],
            feat_spec: vec![0.0; capacity * 2 * nb_df],
            slots: Vec::with_capacity(capacity),
            thresholds: Vec::with_capacity(capacity),
            model,
            batched,
        }
    }

    /// Channel hops per network call.
    pub fn capacity(&self) -> usize {
        self.states.len()
    }

    /// Whether hops share network calls ([`HopBatch::new`]) or run one by one.
    pub fn is_batched(&self) -> bool {
        self.batched
    }

    /// Runs one hop of every ready stream in `streams` (each must use this batch's model).
    /// Allocates nothing. On an error (a bug: sizes are fixed at construction) streams keep
    /// their own state but the failed hop's output is unspecified.
    pub fn run<S: AsMut<BatchStream>>(&mut self, streams: &mut [S]) -> Result<BatchRun, DenoiseError> {
        let mut run = BatchRun::default();
        self.slots.clear();
        self.thresholds.clear();
        for si in 0..streams.len() {
            let stream = streams[si].as_mut();
            if !stream.ready() {
                continue;
            }
            if !Arc::ptr_eq(stream.denoiser().model(), &self.model) {
                return Err(DenoiseError::InvalidConfig("a stream in the batch uses another model".into()));
            }
            for ci in 0..stream.channels() {
                let ch = &mut streams[si].as_mut().denoiser_mut().channels_mut()[ci];
                if !ch.front()? {
                    continue;
                }
                run.network_hops += 1;
                if !self.batched {
                    ch.step_network(&self.model)?;
                    run.network_calls += 1;
                    run.decoders_skipped += skipped(ch.network_output().decoders);
                    continue;
                }
                let k = self.slots.len();
                let (ne, ns) = (ch.feat_erb.len(), ch.feat_spec.len());
                self.feat_erb[k * ne..(k + 1) * ne].copy_from_slice(&ch.feat_erb);
                self.feat_spec[k * ns..(k + 1) * ns].copy_from_slice(&ch.feat_spec);
                std::mem::swap(&mut ch.state, &mut self.states[k]);
                std::mem::swap(&mut ch.net, &mut self.outs[k]);
                self.thresholds.push(ch.thresholds());
                self.slots.push((si, ci));
                if self.slots.len() == self.capacity() {
                    run.decoders_skipped += self.run_block(streams)?;
                    run.network_calls += 1;
                }
            }
        }
        if !self.slots.is_empty() {
            run.decoders_skipped += self.run_block(streams)?;
            run.network_calls += 1;
        }
        for s in streams.iter_mut() {
            let s = s.as_mut();
            if s.ready() {
                s.finish_hop()?;
                run.streams += 1;
            }
        }
        Ok(run)
    }

    /// Steps the filled slots as one batch, swaps states and outputs back into their
    /// channels (also on error) and runs those channels' back ends. Returns the decoder runs
    /// skipped.
    fn run_block<S: AsMut<BatchStream>>(&mut self, streams: &mut [S]) -> Result<usize, DenoiseError> {
        let k = self.slots.len();
        let (ne, ns) = (self.model.nb_erb(), 2 * self.model.nb_df());
        let thresholds = &self.thresholds;
        let gate = |i: usize, lsnr: f32| thresholds[i].decide(lsnr).decoders();
        // Ungated unless some slot can skip a decoder: that keeps the DF pathway next to the
        // encoder convs.
        let gated = thresholds.iter().any(|t| t.may_skip(self.model.lsnr_range()));
        let stepped = self.model.step_many_gated(
            &mut self.states[..k],
            &mut self.batch,
            &self.feat_erb[..k * ne],
            &self.feat_spec[..k * ns],
            &mut self.outs[..k],
            if gated { Some(&gate) } else { None },
        );
        let skips = self.outs[..k].iter().map(|o| skipped(o.decoders)).sum();
        for (slot, &(si, ci)) in self.slots.iter().enumerate() {
            let ch = &mut streams[si].as_mut().denoiser_mut().channels_mut()[ci];
            std::mem::swap(&mut ch.state, &mut self.states[slot]);
            std::mem::swap(&mut ch.net, &mut self.outs[slot]);
        }
        stepped?;
        for &(si, ci) in &self.slots {
            streams[si].as_mut().denoiser_mut().channels_mut()[ci].back()?;
        }
        self.slots.clear();
        self.thresholds.clear();
        Ok(skips)
    }
}

/// Decoder runs a hop that ran `d` skipped.
fn skipped(d: Decoders) -> usize {
    usize::from(!d.erb()) + usize::from(!d.df())
}
