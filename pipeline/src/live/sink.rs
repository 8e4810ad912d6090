//! [`LiveSink`]: where the worker puts processed audio — a WAV file or the ring to the
//! playback callback ([`PlaybackSink`]).

use std::sync::Arc;

use super::LiveError;
use super::ring::Producer;
use super::xruns::XrunCounters;
use crate::audio::WavSink;

/// Takes the worker's processed, aligned, interleaved samples.
pub trait LiveSink {
    /// Takes whole frames. Called once per block on the worker thread; a real-time sink must not
    /// allocate here.
    fn write(&mut self, samples: &[f32]) -> Result<(), LiveError>;

    /// Samples written but not heard yet (queued for playback), for the latency readout.
    fn queued(&self) -> usize {
        0
    }
}

impl LiveSink for WavSink {
    fn write(&mut self, samples: &[f32]) -> Result<(), LiveError> {
        Ok(WavSink::write(self, samples)?)
    }
}

/// The ring to the playback callback, mapping the stream's channels onto the output device's
/// (output channel `c` plays stream channel `c mod stream_channels`: mono goes to every speaker).
/// A full ring (the playback clock is slower than the capture clock) drops the newest samples
/// and counts a playback overflow.
pub struct PlaybackSink {
    ring: Producer,
    stream_channels: usize,
    scratch: Vec<f32>,
    counters: Arc<XrunCounters>,
}

impl PlaybackSink {
    /// A sink for a `stream_channels`-channel stream into `ring` (which has the output device's
    /// channels), taking blocks of up to `max_frames` frames without allocating.
    pub fn new(ring: Producer, stream_channels: usize, max_frames: usize, counters: Arc<XrunCounters>) -> Self {
        let scratch = vec![0.0; max_frames.max(1) * ring.channels()];
        Self { ring, stream_channels: stream_channels.max(1), scratch, counters }
    }

    /// Queues `frames` frames of silence (the playback cushion at start; more than the
    /// capacity is cut to it).
    pub fn prefill(&mut self, frames: usize) {
        let mut left = frames * self.ring.channels();
        self.scratch.fill(0.0);
        while left > 0 {
            let n = left.min(self.scratch.len());
            let pushed = self.ring.push(&self.scratch[..n]);
            if pushed == 0 {
                break;
            }
            left -= pushed;
        }
    }
}

impl LiveSink for PlaybackSink {
    fn write(&mut self, samples: &[f32]) -> Result<(), LiveError> {
        let (cin, cout) = (self.stream_channels, self.ring.channels());
        let mut dropped = false;
        for chunk in samples.chunks(self.scratch.len() / cout * cin) {
            let frames = chunk.len() / cin;
            let out = &mut self.scratch[..frames * cout];
            if cin == cout {
                out.copy_from_slice(chunk);
            } else {
                for (frame_out, frame_in) in out.chunks_exact_mut(cout).zip(chunk.chunks_exact(cin)) {
                    for (c, y) in frame_out.iter_mut().enumerate() {
                        *y = frame_in[c % cin];
                    }
                }
            }
            dropped |= self.ring.push(out) < out.len();
        }
        if dropped {
            self.counters.playback_overflow();
        }
        Ok(())
    }

    fn queued(&self) -> usize {
        // In stream samples, to add to the capture side's count.
        self.ring.queued() / self.ring.channels() * self.stream_channels
    }
}
