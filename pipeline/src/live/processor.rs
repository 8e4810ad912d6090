//! [`LiveProcessor`]: what the worker runs on each block — DFN3 at 48 kHz, DFN3 behind
//! resamplers at any other device rate, or a bypass for A/B listening.

use std::sync::Arc;

use sluice_models::dfn3::Dfn3Model;

use crate::denoise::{DenoiseError, Denoiser, DenoiserSettings, ResampledDenoiser};

enum Mode {
    Bypass,
    Native(Denoiser),
    Resampled(Box<ResampledDenoiser>),
}

/// The per-block stage of a live stream, with the streaming contract of
/// [`Denoiser`]: `process(input, output) -> (consumed, produced)` allocates nothing, the output
/// is the raw stream delayed by [`LiveProcessor::latency`] frames, [`LiveProcessor::flush`]
/// drains it.
pub struct LiveProcessor {
    mode: Mode,
    channels: usize,
    sample_rate: u32,
}

impl LiveProcessor {
    /// DFN3 on `channels` interleaved channels at `sample_rate` Hz (resampled to 48 kHz and back
    /// when it differs), with `settings`. Allocates every buffer now.
    pub fn denoise(
        model: Arc<Dfn3Model>,
        channels: usize,
        sample_rate: u32,
        settings: DenoiserSettings,
    ) -> Result<Self, DenoiseError> {
        let mode = if sample_rate == 48_000 {
            let mut d = Denoiser::new(model, channels)?;
            d.set_settings(settings);
            Mode::Native(d)
        } else {
            let mut d = ResampledDenoiser::new(model, channels, sample_rate as usize)?;
            d.inner_mut().set_settings(settings);
            Mode::Resampled(Box::new(d))
        };
        Ok(Self { mode, channels, sample_rate })
    }

    /// The input unchanged (for comparing with the enhanced sound); no model needed.
    pub fn bypass(channels: usize, sample_rate: u32) -> Result<Self, DenoiseError> {
        if channels == 0 {
            return Err(DenoiseError::InvalidConfig("zero channels".into()));
        }
        Ok(Self { mode: Mode::Bypass, channels, sample_rate })
    }

    /// Interleaved channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Whether the model is bypassed.
    pub fn is_bypass(&self) -> bool {
        matches!(self.mode, Mode::Bypass)
    }

    /// Frames per natural processing block: a 480-frame hop at 48 kHz, the resampler's block
    /// otherwise; the bypass takes any size and reports a 10 ms block.
    pub fn block(&self) -> usize {
        match &self.mode {
            Mode::Bypass => (self.sample_rate as usize / 100).max(1),
            Mode::Native(d) => d.hop(),
            Mode::Resampled(d) => d.block(),
        }
    }

    /// Delay of the raw output in frames (0 for the bypass).
    pub fn latency(&self) -> usize {
        match &self.mode {
            Mode::Bypass => 0,
            Mode::Native(d) => d.latency(),
            Mode::Resampled(d) => d.latency(),
        }
    }

    /// Samples one `process` call may write beyond its input's length: one block.
    pub fn headroom(&self) -> usize {
        match &self.mode {
            Mode::Bypass => 0,
            Mode::Native(d) => d.hop() * self.channels,
            Mode::Resampled(d) => d.block() * self.channels,
        }
    }

    /// Local SNR in dB of channel 0's latest hop (`None` for the bypass).
    pub fn lsnr(&self) -> Option<f32> {
        match &self.mode {
            Mode::Bypass => None,
            Mode::Native(d) => d.lsnr(0),
            Mode::Resampled(d) => d.inner().lsnr(0),
        }
    }

    /// Consumes interleaved `input` and writes the raw output; `(consumed, produced)` in
    /// samples. Allocates nothing.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(usize, usize), DenoiseError> {
        match &mut self.mode {
            Mode::Bypass => {
                let whole = input.len() - input.len() % self.channels;
                let n = whole.min(output.len() - output.len() % self.channels);
                output[..n].copy_from_slice(&input[..n]);
                Ok((n, n))
            }
            Mode::Native(d) => d.process(input, output),
            Mode::Resampled(d) => d.process(input, output),
        }
    }

    /// Samples [`LiveProcessor::flush`] writes.
    pub fn flush_len(&self) -> usize {
        match &self.mode {
            Mode::Bypass => 0,
            Mode::Native(d) => d.flush_len(),
            Mode::Resampled(d) => d.flush_len(),
        }
    }

    /// Ends the stream, writing [`LiveProcessor::flush_len`] samples. Allocates nothing.
    pub fn flush(&mut self, output: &mut [f32]) -> Result<usize, DenoiseError> {
        match &mut self.mode {
            Mode::Bypass => Ok(0),
            Mode::Native(d) => d.flush(output),
            Mode::Resampled(d) => d.flush(output),
        }
    }
}
