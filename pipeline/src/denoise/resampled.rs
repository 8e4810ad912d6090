//! [`ResampledDenoiser`]: the 48 kHz [`Denoiser`] at any sample rate, through `rubato` FFT
//! resamplers to 48 kHz and back.
//!
//! Audio moves in fixed blocks: `block` input frames become a whole number of 480-sample hops
//! at 48 kHz (both resamplers are `FixedSync::Both` with the same FFT size ratio), so the
//! denoiser never holds a partial hop and each block in gives exactly one block out.

use std::sync::Arc;

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use sluice_models::dfn3::Dfn3Model;

use super::{DenoiseError, Denoiser};

const OP_RATE: u64 = 48_000;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn resample_error(e: impl std::fmt::Display) -> DenoiseError {
    DenoiseError::Resample(e.to_string())
}

/// Streaming DFN3 denoiser for interleaved audio at any sample rate (8 kHz … 192 kHz).
///
/// Real-time safe like [`Denoiser`]: [`ResampledDenoiser::process`] allocates nothing.
pub struct ResampledDenoiser {
    inner: Denoiser,
    up: Fft<f32>,
    down: Fft<f32>,
    rate: usize,
    /// Input frames per block.
    block: usize,
    /// Frames per block at 48 kHz (a whole number of hops).
    block48: usize,
    /// Interleaved input block being filled, and its fill in frames.
    input: Vec<f32>,
    fill: usize,
    /// Interleaved 48 kHz scratch: the upsampled block and the denoised block.
    up_buf: Vec<f32>,
    den_buf: Vec<f32>,
    /// Split-phase only: frames of `up_buf` handed to the denoiser so far, while a block's hops
    /// are in flight (`pending`).
    up_pos: usize,
    pending: bool,
}

impl ResampledDenoiser {
    /// A denoiser for `channels` interleaved channels at `sample_rate` Hz. Allocates every
    /// buffer now.
    pub fn new(model: Arc<Dfn3Model>, channels: usize, sample_rate: usize) -> Result<Self, DenoiseError> {
        if !(8_000..=192_000).contains(&sample_rate) {
            return Err(DenoiseError::InvalidConfig(format!("sample rate {sample_rate} Hz is outside 8000..=192000")));
        }
        let inner = Denoiser::new(model, channels)?;
        let hop = inner.hop() as u64;
        let g = gcd(sample_rate as u64, OP_RATE);
        let (min_in, min48) = (sample_rate as u64 / g, OP_RATE / g);
        // Fewest minimum FFT blocks whose 48 kHz side is whole hops and whose input side is
        // even, so the two resamplers' delays (half an FFT block each) add up to exactly one block.
        let mut n = hop / gcd(hop, min48);
        if (n * min_in) % 2 == 1 {
            n *= 2;
        }
        let (block, block48) = ((n * min_in) as usize, (n * min48) as usize);
        if block48 > 48 * inner.hop() {
            return Err(DenoiseError::InvalidConfig(format!(
                "sample rate {sample_rate} Hz needs {block48}-frame blocks at 48 kHz; use a rate with a larger common divisor with 48000"
            )));
        }
        let up = Fft::new_custom(
            sample_rate,
            OP_RATE as usize,
            block,
            1,
            channels,
            rubato::WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(resample_error)?;
        let down = Fft::new_custom(
            OP_RATE as usize,
            sample_rate,
            block48,
            1,
            channels,
            rubato::WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(resample_error)?;
        if (up.input_frames_next(), up.output_frames_next(), down.input_frames_next(), down.output_frames_next())
            != (block, block48, block48, block)
        {
            return Err(DenoiseError::Resample(format!(
                "unexpected resampler chunk sizes {}→{}, {}→{} for {block}→{block48}",
                up.input_frames_next(),
                up.output_frames_next(),
                down.input_frames_next(),
                down.output_frames_next()
            )));
        }
        Ok(Self {
            inner,
            up,
            down,
            rate: sample_rate,
            block,
            block48,
            input: vec![0.0; block * channels],
            fill: 0,
            up_buf: vec![0.0; block48 * channels],
            den_buf: vec![0.0; block48 * channels],
            up_pos: 0,
            pending: false,
        })
    }

    /// The 48 kHz denoiser inside (settings, lsnr).
    pub fn inner(&self) -> &Denoiser {
        &self.inner
    }

    /// The 48 kHz denoiser inside, to change its settings.
    pub fn inner_mut(&mut self) -> &mut Denoiser {
        &mut self.inner
    }

    /// The stream's sample rate in Hz.
    pub fn sample_rate(&self) -> usize {
        self.rate
    }

    /// Input (and output) frames per processing block.
    pub fn block(&self) -> usize {
        self.block
    }

    /// Delay of the raw stream in input-rate frames, rounded to the nearest frame: the two
    /// resamplers' delays (half an FFT block each, one block in all) plus the denoiser's
    /// latency converted to this rate (exact when `latency·rate/48000` is whole, e.g. 1323 at
    /// 44.1 kHz, 480 at 16 kHz; 661.5 → 662 at 22.05 kHz). A sample also waits up to
    /// `block() − 1` frames for its block.
    pub fn latency(&self) -> usize {
        let den = (self.inner.latency() as u64 * self.rate as u64 + OP_RATE / 2) / OP_RATE;
        self.block + den as usize
    }

    /// Same contract as [`Denoiser::process`], at this stream's rate and in blocks of
    /// [`ResampledDenoiser::block`] frames. Allocates nothing.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(usize, usize), DenoiseError> {
        let nch = self.inner.channels();
        self.check_frames("input", input.len())?;
        self.check_frames("output", output.len())?;
        let (mut consumed, mut produced) = (0, 0);
        while consumed < input.len() {
            let take = (self.block - self.fill).min((input.len() - consumed) / nch);
            let completes = self.fill + take == self.block;
            let take = if completes && output.len() - produced < self.block * nch { take - 1 } else { take };
            self.input[self.fill * nch..(self.fill + take) * nch]
                .copy_from_slice(&input[consumed..consumed + take * nch]);
            self.fill += take;
            consumed += take * nch;
            if self.fill < self.block {
                if completes {
                    break;
                }
                continue;
            }
            self.run_block(&mut output[produced..produced + self.block * nch])?;
            produced += self.block * nch;
        }
        Ok((consumed, produced))
    }

    /// Samples [`ResampledDenoiser::flush`] writes: whole blocks until every consumed frame has
    /// come out.
    pub fn flush_len(&self) -> usize {
        (self.fill + self.latency()).div_ceil(self.block) * self.block * self.inner.channels()
    }

    /// Ends the stream by feeding zeros; writes [`ResampledDenoiser::flush_len`] samples and
    /// returns that count. Call [`ResampledDenoiser::reset`] before a new stream. Allocates nothing.
    pub fn flush(&mut self, output: &mut [f32]) -> Result<usize, DenoiseError> {
        let needed = self.flush_len();
        if output.len() < needed {
            return Err(DenoiseError::OutputTooSmall { needed, got: output.len() });
        }
        let nch = self.inner.channels();
        for chunk in output[..needed].chunks_exact_mut(self.block * nch) {
            self.input[self.fill * nch..].fill(0.0);
            self.fill = self.block;
            self.run_block(chunk)?;
        }
        Ok(needed)
    }

    /// Starts a new stream (resamplers, denoiser, buffers). Settings are kept.
    pub fn reset(&mut self) {
        self.inner.reset();
        self.up.reset();
        self.down.reset();
        self.input.fill(0.0);
        self.fill = 0;
        self.up_pos = 0;
        self.pending = false;
    }

    /// Convenience, NOT real-time: like [`Denoiser::denoise_buffer`] at this rate (output as
    /// long as the input, sample `i` ↔ input sample `i`, to the nearest frame). Allocates.
    pub fn denoise_buffer(&mut self, input: &[f32]) -> Result<Vec<f32>, DenoiseError> {
        self.check_frames("input", input.len())?;
        let nch = self.inner.channels();
        self.reset();
        let lat = self.latency() * nch;
        let mut raw = vec![0.0; input.len() + self.flush_len() + lat + self.block * nch];
        let (_, produced) = self.process(input, &mut raw)?;
        let flushed = self.flush(&mut raw[produced..])?;
        raw.truncate(produced + flushed);
        self.reset();
        Ok(raw.drain(lat..lat + input.len()).collect())
    }

    fn check_frames(&self, what: &'static str, len: usize) -> Result<(), DenoiseError> {
        let channels = self.inner.channels();
        if len.is_multiple_of(channels) { Ok(()) } else { Err(DenoiseError::PartialFrame { what, len, channels }) }
    }

    /// Resamples the full input block up, denoises it, resamples it down into `out`.
    fn run_block(&mut self, out: &mut [f32]) -> Result<(), DenoiseError> {
        self.upsample()?;
        let (c, p) = self.inner.process(&self.up_buf, &mut self.den_buf)?;
        if (c, p) != (self.up_buf.len(), self.den_buf.len()) {
            return Err(DenoiseError::Resample(format!(
                "48 kHz block not processed whole: consumed {c}, produced {p}"
            )));
        }
        self.downsample(out)
    }

    /// The full input block → `up_buf` at 48 kHz.
    fn upsample(&mut self) -> Result<(), DenoiseError> {
        let nch = self.inner.channels();
        let src = InterleavedSlice::new(&self.input[..], nch, self.block).map_err(resample_error)?;
        let mut dst = InterleavedSlice::new_mut(&mut self.up_buf[..], nch, self.block48).map_err(resample_error)?;
        self.up.process_into_buffer(&src, &mut dst, None).map_err(resample_error)?;
        Ok(())
    }

    /// `den_buf` → one block at the input rate in `out`; the input block is free again.
    fn downsample(&mut self, out: &mut [f32]) -> Result<(), DenoiseError> {
        let nch = self.inner.channels();
        let src = InterleavedSlice::new(&self.den_buf[..], nch, self.block48).map_err(resample_error)?;
        let mut dst = InterleavedSlice::new_mut(out, nch, self.block).map_err(resample_error)?;
        self.down.process_into_buffer(&src, &mut dst, None).map_err(resample_error)?;
        self.fill = 0;
        Ok(())
    }

    /// Split-phase feeding (for [`super::HopBatch`]): fills the input block; once full it is
    /// resampled and its first 48 kHz hop handed to the denoiser, which then has a hop ready.
    /// Returns samples consumed (0 while a block's hops are in flight).
    pub(crate) fn push_until_hop(&mut self, input: &[f32]) -> Result<usize, DenoiseError> {
        if self.pending {
            return Ok(0);
        }
        let nch = self.inner.channels();
        let take = (self.block - self.fill).min(input.len() / nch);
        self.input[self.fill * nch..(self.fill + take) * nch].copy_from_slice(&input[..take * nch]);
        self.fill += take;
        if self.fill == self.block {
            self.upsample()?;
            self.up_pos = 0;
            self.pending = true;
            self.feed_hop();
        }
        Ok(take * nch)
    }

    /// Ends the denoiser's current hop (all its channels have run); when that completes the
    /// block, writes the block (`block × channels` samples) to `out` and returns its length,
    /// else hands the next hop over and returns 0.
    pub(crate) fn finish_hop(&mut self, out: &mut [f32]) -> Result<usize, DenoiseError> {
        let nch = self.inner.channels();
        let hop = self.inner.hop();
        self.inner.finish_hop(&mut self.den_buf[self.up_pos * nch..(self.up_pos + hop) * nch]);
        self.up_pos += hop;
        if self.up_pos < self.block48 {
            self.feed_hop();
            return Ok(0);
        }
        self.pending = false;
        self.downsample(&mut out[..self.block * nch])?;
        Ok(self.block * nch)
    }

    /// Frames of zeros to push through the split-phase path to end the stream, the same
    /// zeros [`ResampledDenoiser::flush`] feeds.
    pub(crate) fn flush_frames(&self) -> usize {
        self.flush_len() / self.inner.channels() - self.fill
    }

    fn feed_hop(&mut self) {
        let nch = self.inner.channels();
        let hop = self.inner.hop();
        let fed = self.inner.push_until_hop(&self.up_buf[self.up_pos * nch..(self.up_pos + hop) * nch]);
        debug_assert_eq!(fed, hop * nch);
    }
}
