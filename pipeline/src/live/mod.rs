//! Live audio's real-time parts, independent of the audio API: the capture callback pushes into
//! a lock-free [`ring`], the [`Worker`] thread runs the [`LiveProcessor`] (DFN3, resampled when
//! the device is not at 48 kHz) and hands the result to a [`LiveSink`] — the ring to the
//! playback callback ([`PlaybackSink`]) or a WAV file. Callbacks only move samples and bump
//! [`XrunCounters`]; everything that measures, prints or writes files runs on the worker.

mod error;
mod processor;
pub mod ring;
mod sink;
mod worker;
mod xruns;

pub use error::LiveError;
pub use processor::LiveProcessor;
pub use sink::{LiveSink, PlaybackSink};
pub use worker::{LiveStats, LiveSummary, RunLimits, Worker};
pub use xruns::{XrunCounters, Xruns};
