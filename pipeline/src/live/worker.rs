//! [`Worker`]: the live stream's processing thread — takes captured frames from the ring,
//! runs the [`LiveProcessor`] and hands the result, aligned to the input, to a [`LiveSink`].
//!
//! Aligned means the processor's delay is trimmed at the start and its tail flushed at the end,
//! as `sluice denoise` does: frame `i` written is captured frame `i` enhanced, and a stopped
//! stream has written exactly as many frames as it captured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::LiveError;
use super::processor::LiveProcessor;
use super::ring::Consumer;
use super::sink::LiveSink;
use super::xruns::{XrunCounters, Xruns};

/// What the display shows, measured by the worker (never by a callback).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveStats {
    /// Peak input level since the previous stats in dBFS (−∞ for digital silence).
    pub input_peak_dbfs: f32,
    /// Local SNR of the newest hop in dB, from the model (`None` when bypassed or before the
    /// first hop).
    pub lsnr_db: Option<f32>,
    /// Delay this program adds, in ms: the processor's delay plus what waits in the rings
    /// (the devices' own buffers come on top).
    pub latency_ms: f32,
    /// Frames captured so far.
    pub captured_frames: u64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Over- and underruns so far.
    pub xruns: Xruns,
}

/// What a finished stream did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSummary {
    /// Frames taken from the capture ring.
    pub captured_frames: u64,
    /// Frames given to the sink (equal to `captured_frames` once finished).
    pub written_frames: u64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: usize,
    /// Over- and underruns.
    pub xruns: Xruns,
}

/// How [`Worker::run`] paces itself and when it stops.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Stop after this many captured frames (`None`: until the stop flag).
    pub max_frames: Option<u64>,
    /// How often `tick` gets fresh [`LiveStats`].
    pub stats_every: Duration,
    /// Sleep when the capture ring is empty (well under a 10 ms hop).
    pub idle_sleep: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self { max_frames: None, stats_every: Duration::from_millis(250), idle_sleep: Duration::from_millis(2) }
    }
}

/// The processing side of a live stream: owns the processor, the capture ring's consumer end
/// and every buffer, so a block moves through without allocating.
pub struct Worker {
    processor: LiveProcessor,
    input: Consumer,
    counters: Arc<XrunCounters>,
    /// One block of captured samples.
    block: Vec<f32>,
    /// The processor's raw output for one block.
    raw: Vec<f32>,
    /// Raw samples still to drop (the processor's delay).
    skip: usize,
    captured: u64,
    written: u64,
    /// Peak |x| since the last stats.
    peak: f32,
}

impl Worker {
    /// A worker running `processor` on what arrives in `input`. Allocates every buffer now.
    pub fn new(processor: LiveProcessor, input: Consumer, counters: Arc<XrunCounters>) -> Result<Self, LiveError> {
        let channels = processor.channels();
        if input.channels() != channels {
            return Err(LiveError::Channels { ring: input.channels(), stream: channels });
        }
        let block = vec![0.0; processor.block() * channels];
        let raw = vec![0.0; block.len() + processor.headroom()];
        let skip = processor.latency() * channels;
        Ok(Self { processor, input, counters, block, raw, skip, captured: 0, written: 0, peak: 0.0 })
    }

    /// The processor (settings, latency).
    pub fn processor(&self) -> &LiveProcessor {
        &self.processor
    }

    /// Frames taken from the capture ring so far.
    pub fn captured_frames(&self) -> u64 {
        self.captured
    }

    /// Moves up to one block (and at most `max_frames` frames) from the capture ring through the
    /// processor into `sink`. Returns the frames taken; 0 means the ring was empty. Allocates
    /// nothing.
    pub fn step(&mut self, sink: &mut impl LiveSink, max_frames: usize) -> Result<usize, LiveError> {
        let ch = self.processor.channels();
        let want = self.block.len().min(max_frames.saturating_mul(ch));
        let n = self.input.pop(&mut self.block[..want]);
        if n == 0 {
            return Ok(0);
        }
        let input = &self.block[..n];
        self.peak = input.iter().fold(self.peak, |m, x| m.max(x.abs()));
        let (consumed, produced) = self.processor.process(input, &mut self.raw)?;
        debug_assert_eq!(consumed, n, "the raw buffer holds a block plus headroom");
        self.captured += (n / ch) as u64;
        self.emit(sink, produced)?;
        Ok(n / ch)
    }

    /// Writes `raw[..len]` past the delay still to skip, never beyond the frames captured.
    fn emit(&mut self, sink: &mut impl LiveSink, len: usize) -> Result<(), LiveError> {
        let ch = self.processor.channels();
        let dropped = self.skip.min(len);
        self.skip -= dropped;
        let due = usize::try_from(self.captured - self.written).unwrap_or(usize::MAX).saturating_mul(ch);
        let out = &self.raw[dropped..len];
        let out = &out[..out.len().min(due)];
        if !out.is_empty() {
            sink.write(out)?;
            self.written += (out.len() / ch) as u64;
        }
        Ok(())
    }

    /// Ends the stream: flushes the processor's tail so every captured frame reaches `sink`.
    /// Not real-time (may grow a buffer once); call it once, at the end.
    pub fn finish(&mut self, sink: &mut impl LiveSink) -> Result<(), LiveError> {
        let need = self.processor.flush_len();
        if self.raw.len() < need {
            self.raw.resize(need, 0.0);
        }
        let n = self.processor.flush(&mut self.raw[..need])?;
        self.emit(sink, n)
    }

    /// Stats since the previous call (`sink_queued`: samples the sink still holds, see
    /// [`LiveSink::queued`]). Allocates nothing.
    pub fn stats(&mut self, sink_queued: usize) -> LiveStats {
        let ch = self.processor.channels();
        let rate = self.processor.sample_rate();
        let waiting = self.input.available() / ch + sink_queued / ch + self.processor.latency();
        let peak = std::mem::take(&mut self.peak);
        LiveStats {
            input_peak_dbfs: 20.0 * peak.log10(),
            lsnr_db: self.processor.lsnr(),
            latency_ms: waiting as f32 * 1000.0 / rate as f32,
            captured_frames: self.captured,
            sample_rate: rate,
            xruns: self.counters.snapshot(),
        }
    }

    /// Runs until `stop` is set, `limits.max_frames` are captured or `tick` returns `false`;
    /// then processes what the capture ring already holds, flushes the tail into `sink` and
    /// returns. `tick` gets fresh stats every `limits.stats_every` (draw the display there).
    pub fn run(
        &mut self,
        sink: &mut impl LiveSink,
        stop: &AtomicBool,
        limits: RunLimits,
        mut tick: impl FnMut(&LiveStats) -> bool,
    ) -> Result<LiveSummary, LiveError> {
        let room =
            |w: &Self| limits.max_frames.map_or(usize::MAX, |m| usize::try_from(m - w.captured).unwrap_or(usize::MAX));
        let mut last = Instant::now();
        while !stop.load(Ordering::Acquire) && room(self) > 0 {
            if self.step(sink, room(self))? == 0 {
                std::thread::sleep(limits.idle_sleep);
            }
            if last.elapsed() >= limits.stats_every {
                last = Instant::now();
                let stats = self.stats(sink.queued());
                if !tick(&stats) {
                    break;
                }
            }
        }
        // Everything captured before the stop still goes out; what arrives after does not.
        let mut backlog = self.input.available() / self.processor.channels();
        while backlog > 0 {
            let n = self.step(sink, backlog.min(room(self)))?;
            if n == 0 {
                break;
            }
            backlog -= n;
        }
        self.finish(sink)?;
        Ok(LiveSummary {
            captured_frames: self.captured,
            written_frames: self.written,
            sample_rate: self.processor.sample_rate(),
            channels: self.processor.channels(),
            xruns: self.counters.snapshot(),
        })
    }
}
