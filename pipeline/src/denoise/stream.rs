//! [`Denoiser`]: per-channel DSP + network state around one shared [`Dfn3Model`].

use std::sync::Arc;

use sluice_models::dfn3::{Dfn3Model, Dfn3Output, Dfn3State};

use super::DenoiseError;
use crate::dsp::{AttenLimit, BYPASS_LSNR_DB, Dfn3Dsp, DspConfig, FrontEnd, Stage, StageOutput, StageThresholds};

/// lsnr reported for a hop the silence gate zeroed, in dB (libDF's value).
const SILENT_LSNR_DB: f32 = -15.0;

/// Run-time settings, applied to every channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenoiserSettings {
    /// Attenuation limit in dB: ≥ 100 = none (default), < 0.01 = undelayed bypass, otherwise the
    /// noisy signal is mixed back in at `10^(−|dB|/20)` (spec §1.11).
    pub atten_lim_db: f32,
    /// Post-filter strength β; 0 = off (default), typical 0.02 (spec §1.10).
    pub post_filter_beta: f32,
    /// lsnr stage thresholds (default libDF C API −15/35/35, so every stage runs every hop).
    /// With others, as in libDF, a decoder whose output a hop's stage does not use is not run
    /// (its state stays as it was), which saves its compute.
    pub thresholds: StageThresholds,
}

impl Default for DenoiserSettings {
    fn default() -> Self {
        Self { atten_lim_db: 100.0, post_filter_beta: 0.0, thresholds: StageThresholds::C_API }
    }
}

/// One channel's state: DSP, network state, network output and its hop buffers.
pub(crate) struct Channel {
    dsp: Dfn3Dsp,
    pub(crate) state: Dfn3State,
    pub(crate) net: Dfn3Output,
    pub(crate) feat_erb: Vec<f32>,
    pub(crate) feat_spec: Vec<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    lsnr: f32,
}

impl Channel {
    /// Runs one complete hop of `self.input` into `self.output`.
    fn step(&mut self, model: &Dfn3Model) -> Result<(), DenoiseError> {
        if self.front()? {
            self.step_network(model)?;
        }
        Ok(())
    }

    /// After a [`Channel::front`] that asked for the network: runs it on this channel alone,
    /// only the decoders the hop's stage reads, then [`Channel::back`].
    pub(crate) fn step_network(&mut self, model: &Dfn3Model) -> Result<(), DenoiseError> {
        let dsp = &self.dsp;
        let gate = |lsnr: f32| dsp.stage(lsnr).decoders();
        model.step_gated(&mut self.state, &self.feat_erb, &self.feat_spec, &mut self.net, Some(&gate))?;
        self.back()
    }

    /// The network's output for the last hop it ran on.
    pub(crate) fn network_output(&self) -> &Dfn3Output {
        &self.net
    }

    /// The stage thresholds, which pick the decoders each hop runs.
    pub(crate) fn thresholds(&self) -> StageThresholds {
        self.dsp.thresholds()
    }

    /// First half of a hop: analysis and features. Returns whether the network must run on
    /// `feat_erb`/`feat_spec` (into `net`) before [`Channel::back`]; if not, the hop's output is
    /// already written (silence gate or bypass).
    pub(crate) fn front(&mut self) -> Result<bool, DenoiseError> {
        match self.dsp.front(&self.input, &mut self.output, &mut self.feat_erb, &mut self.feat_spec)? {
            FrontEnd::Silent => self.lsnr = SILENT_LSNR_DB,
            FrontEnd::Bypass => self.lsnr = BYPASS_LSNR_DB,
            FrontEnd::Features => return Ok(true),
        }
        Ok(false)
    }

    /// Second half of a hop once `net` holds the network's result: enhancement and synthesis.
    pub(crate) fn back(&mut self) -> Result<(), DenoiseError> {
        let stage = self.dsp.stage(self.net.lsnr);
        let ran = self.net.decoders;
        debug_assert!(
            (ran.erb() || !stage.runs_erb_decoder()) && (ran.df() || !stage.runs_df_decoder()),
            "stage {stage:?} reads a decoder the network skipped ({ran:?})"
        );
        let net = match stage {
            Stage::ZeroMask => StageOutput::ZeroMask,
            Stage::Passthrough => StageOutput::Passthrough,
            Stage::ErbOnly => StageOutput::Erb { mask: &self.net.mask },
            Stage::ErbAndDf => StageOutput::ErbDf { mask: &self.net.mask, coefs: &self.net.coefs },
        };
        self.dsp.back(net, &mut self.output)?;
        self.lsnr = self.net.lsnr;
        Ok(())
    }
}

/// Streaming DFN3 denoiser for interleaved 48 kHz audio with one or more channels, each with its
/// own state; the network weights are shared (`Arc`), so many streams cost one model.
///
/// [`Denoiser::process`] is real-time safe: it allocates nothing and takes any chunk size.
/// Output is the raw stream, delayed by [`Denoiser::latency`] samples per channel.
pub struct Denoiser {
    model: Arc<Dfn3Model>,
    cfg: DspConfig,
    channels: Vec<Channel>,
    settings: DenoiserSettings,
    /// Frames buffered towards the next hop (same for every channel).
    fill: usize,
    /// Frames consumed and produced since the last reset.
    frames_in: u64,
    frames_out: u64,
}

impl Denoiser {
    /// A denoiser for `channels` interleaved channels at 48 kHz with default settings. Allocates
    /// every buffer now.
    pub fn new(model: Arc<Dfn3Model>, channels: usize) -> Result<Self, DenoiseError> {
        let cfg = DspConfig::DFN3;
        if channels == 0 {
            return Err(DenoiseError::InvalidConfig("channels must be at least 1".into()));
        }
        if (model.nb_erb(), model.nb_df(), model.df_order()) != (cfg.nb_erb, cfg.nb_df, cfg.df_order) {
            return Err(DenoiseError::InvalidConfig(format!(
                "model has nb_erb {}, nb_df {}, df_order {}; the 48 kHz DSP needs {}, {}, {}",
                model.nb_erb(),
                model.nb_df(),
                model.df_order(),
                cfg.nb_erb,
                cfg.nb_df,
                cfg.df_order
            )));
        }
        let channels = (0..channels)
            .map(|_| {
                Ok(Channel {
                    dsp: Dfn3Dsp::new(&cfg)?,
                    state: model.new_state(),
                    net: model.new_output(),
                    feat_erb: vec![0.0; cfg.nb_erb],
                    feat_spec: vec![0.0; 2 * cfg.nb_df],
                    input: vec![0.0; cfg.hop],
                    output: vec![0.0; cfg.hop],
                    lsnr: 0.0,
                })
            })
            .collect::<Result<Vec<_>, DenoiseError>>()?;
        let mut d =
            Self { model, cfg, channels, settings: DenoiserSettings::default(), fill: 0, frames_in: 0, frames_out: 0 };
        d.set_settings(DenoiserSettings::default());
        Ok(d)
    }

    /// Number of interleaved channels.
    pub fn channels(&self) -> usize {
        self.channels.len()
    }

    /// Sample rate in Hz (48000).
    pub fn sample_rate(&self) -> usize {
        self.cfg.sr
    }

    /// Samples per channel per hop (480); the network runs once per hop and channel.
    pub fn hop(&self) -> usize {
        self.cfg.hop
    }

    /// Algorithmic delay of the raw stream in samples per channel: 1440 (30 ms), or 0 while
    /// the attenuation limit bypasses the model. A sample also waits up to `hop() − 1` samples
    /// for its hop to fill.
    pub fn latency(&self) -> usize {
        if AttenLimit::from_db(self.settings.atten_lim_db) == AttenLimit::Bypass {
            0
        } else {
            self.cfg.latency_samples()
        }
    }

    /// The current settings.
    pub fn settings(&self) -> DenoiserSettings {
        self.settings
    }

    /// Applies settings to every channel from the next hop on.
    pub fn set_settings(&mut self, s: DenoiserSettings) {
        self.settings = s;
        for ch in &mut self.channels {
            ch.dsp.set_atten_lim_db(s.atten_lim_db);
            ch.dsp.set_post_filter_beta(s.post_filter_beta);
            ch.dsp.set_thresholds(s.thresholds);
        }
    }

    /// Sets the attenuation limit in dB (see [`DenoiserSettings::atten_lim_db`]).
    pub fn set_atten_lim_db(&mut self, db: f32) {
        self.set_settings(DenoiserSettings { atten_lim_db: db, ..self.settings });
    }

    /// Sets the post-filter β (see [`DenoiserSettings::post_filter_beta`]).
    pub fn set_post_filter_beta(&mut self, beta: f32) {
        self.set_settings(DenoiserSettings { post_filter_beta: beta, ..self.settings });
    }

    /// Sets the stage thresholds (see [`DenoiserSettings::thresholds`]).
    pub fn set_thresholds(&mut self, t: StageThresholds) {
        self.set_settings(DenoiserSettings { thresholds: t, ..self.settings });
    }

    /// Local SNR in dB of channel `channel`'s latest hop (the newest analysed frame), or `None`
    /// for a channel that does not exist.
    pub fn lsnr(&self, channel: usize) -> Option<f32> {
        self.channels.get(channel).map(|c| c.lsnr)
    }

    /// Consumes interleaved `input` and writes the raw enhanced stream to interleaved `output`.
    /// Returns `(consumed, produced)` in samples (interleaved, so whole frames). Every input
    /// sample is consumed unless `output` runs out of room for a completed hop; then the rest is
    /// left for the next call. Allocates nothing.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(usize, usize), DenoiseError> {
        let nch = self.channels.len();
        self.check_frames("input", input.len())?;
        self.check_frames("output", output.len())?;
        let hop = self.cfg.hop;
        let (mut consumed, mut produced) = (0, 0);
        while consumed < input.len() {
            let take = (hop - self.fill).min((input.len() - consumed) / nch);
            let completes = self.fill + take == hop;
            if completes && output.len() - produced < hop * nch {
                // No room for the hop's output: keep all but its last frame for later.
                let partial = take - 1;
                self.push(&input[consumed..consumed + partial * nch], partial);
                consumed += partial * nch;
                break;
            }
            self.push(&input[consumed..consumed + take * nch], take);
            consumed += take * nch;
            if completes {
                self.run_hop(&mut output[produced..produced + hop * nch])?;
                produced += hop * nch;
            }
        }
        Ok((consumed, produced))
    }

    /// Samples [`Denoiser::flush`] will write: enough whole hops that every consumed input
    /// sample has come out (`fill + latency`, rounded up to hops, times channels).
    pub fn flush_len(&self) -> usize {
        (self.fill + self.latency()).div_ceil(self.cfg.hop) * self.cfg.hop * self.channels.len()
    }

    /// Ends the stream: feeds zeros until every consumed sample has come out, writing
    /// [`Denoiser::flush_len`] samples to `output` and returning that count. Call
    /// [`Denoiser::reset`] before reusing the denoiser for a new stream. Allocates nothing.
    pub fn flush(&mut self, output: &mut [f32]) -> Result<usize, DenoiseError> {
        let needed = self.flush_len();
        if output.len() < needed {
            return Err(DenoiseError::OutputTooSmall { needed, got: output.len() });
        }
        let hop_len = self.cfg.hop * self.channels.len();
        for chunk in output[..needed].chunks_exact_mut(hop_len) {
            for ch in &mut self.channels {
                ch.input[self.fill..].fill(0.0);
            }
            self.fill = self.cfg.hop;
            self.run_hop(chunk)?;
        }
        Ok(needed)
    }

    /// Starts a new stream: fresh DSP and network state, empty hop buffers. Settings are kept.
    pub fn reset(&mut self) {
        for ch in &mut self.channels {
            ch.dsp.reset();
            ch.state.reset();
            ch.input.fill(0.0);
            ch.output.fill(0.0);
            ch.lsnr = 0.0;
        }
        self.fill = 0;
        self.frames_in = 0;
        self.frames_out = 0;
    }

    /// Frames (samples per channel) consumed and produced since the last reset.
    pub fn position(&self) -> (u64, u64) {
        (self.frames_in, self.frames_out)
    }

    /// Convenience, NOT real-time: resets, denoises the whole interleaved `input` and returns
    /// output of the same length aligned to it (sample `i` is enhanced input sample `i`): the
    /// raw stream with the first `latency()` frames dropped and the tail flushed. Allocates.
    /// Leaves the denoiser reset.
    pub fn denoise_buffer(&mut self, input: &[f32]) -> Result<Vec<f32>, DenoiseError> {
        self.check_frames("input", input.len())?;
        let nch = self.channels.len();
        self.reset();
        let lat = self.latency() * nch;
        let mut raw = vec![0.0; input.len() + self.flush_len() + lat + self.cfg.hop * nch];
        let (consumed, produced) = self.process(input, &mut raw)?;
        debug_assert_eq!(consumed, input.len());
        let flushed = self.flush(&mut raw[produced..])?;
        raw.truncate(produced + flushed);
        self.reset();
        Ok(raw.drain(lat..lat + input.len()).collect())
    }

    /// Split-phase feeding (for [`super::HopBatch`]): consumes whole frames of interleaved
    /// `input` until the current hop is complete, without running it. Returns samples consumed
    /// (0 while a complete hop waits for [`Denoiser::finish_hop`]).
    pub(crate) fn push_until_hop(&mut self, input: &[f32]) -> usize {
        let nch = self.channels.len();
        let take = (self.cfg.hop - self.fill).min(input.len() / nch);
        self.push(&input[..take * nch], take);
        take * nch
    }

    /// Frames of zeros to push through the split-phase path to end the stream, the same
    /// zeros [`Denoiser::flush`] feeds.
    pub(crate) fn flush_frames(&self) -> usize {
        self.flush_len() / self.channels.len() - self.fill
    }

    /// Whether a complete hop waits to be run.
    pub(crate) fn hop_ready(&self) -> bool {
        self.fill == self.cfg.hop
    }

    /// The shared network.
    pub(crate) fn model(&self) -> &Arc<Dfn3Model> {
        &self.model
    }

    /// The per-channel states, for a batch runner to run their hops.
    pub(crate) fn channels_mut(&mut self) -> &mut [Channel] {
        &mut self.channels
    }

    /// Ends a hop whose channels have all run (front, network, back): interleaves their output
    /// into `out` (`hop × channels` samples) and starts the next hop.
    pub(crate) fn finish_hop(&mut self, out: &mut [f32]) {
        let nch = self.channels.len();
        for (c, ch) in self.channels.iter().enumerate() {
            for (d, s) in out.iter_mut().skip(c).step_by(nch).zip(&ch.output) {
                *d = *s;
            }
        }
        self.fill = 0;
        self.frames_out += self.cfg.hop as u64;
    }

    fn check_frames(&self, what: &'static str, len: usize) -> Result<(), DenoiseError> {
        let channels = self.channels.len();
        if len.is_multiple_of(channels) { Ok(()) } else { Err(DenoiseError::PartialFrame { what, len, channels }) }
    }

    /// De-interleaves `frames` frames into the channels' hop buffers.
    fn push(&mut self, input: &[f32], frames: usize) {
        let nch = self.channels.len();
        for (c, ch) in self.channels.iter_mut().enumerate() {
            let dst = &mut ch.input[self.fill..self.fill + frames];
            for (d, s) in dst.iter_mut().zip(input.iter().skip(c).step_by(nch)) {
                *d = *s;
            }
        }
        self.fill += frames;
        self.frames_in += frames as u64;
    }

    /// Runs the full hop in every channel and interleaves the results into `out`.
    fn run_hop(&mut self, out: &mut [f32]) -> Result<(), DenoiseError> {
        for ch in &mut self.channels {
            ch.step(&self.model)?;
        }
        self.finish_hop(out);
        Ok(())
    }
}
