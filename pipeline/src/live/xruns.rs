//! [`XrunCounters`]: over- and underruns counted by the audio callbacks with atomics, read by
//! the worker for its display; a callback never prints or logs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Event counts shared (in an `Arc`) by the callbacks that bump them and the thread that reads
/// them. Each counts callbacks (events), not samples.
#[derive(Debug, Default)]
pub struct XrunCounters {
    capture_overruns: AtomicU64,
    playback_underruns: AtomicU64,
    playback_overflows: AtomicU64,
    device_xruns: AtomicU64,
}

/// A snapshot of [`XrunCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Xruns {
    /// Capture callbacks that found the ring to the worker full and dropped samples (the worker
    /// fell behind).
    pub capture_overruns: u64,
    /// Playback callbacks that found too few processed samples and played silence instead.
    pub playback_underruns: u64,
    /// Worker blocks that found the ring to the playback callback full and dropped samples (the
    /// playback clock runs slower than the capture clock).
    pub playback_overflows: u64,
    /// Xruns the audio backend itself reported (the device's own buffer ran over or dry).
    pub device_xruns: u64,
}

impl Xruns {
    /// All events together.
    pub fn total(&self) -> u64 {
        self.capture_overruns + self.playback_underruns + self.playback_overflows + self.device_xruns
    }
}

impl XrunCounters {
    /// Counts one capture overrun (callback-safe: one relaxed atomic add).
    pub fn capture_overrun(&self) {
        self.capture_overruns.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one playback underrun (callback-safe).
    pub fn playback_underrun(&self) {
        self.playback_underruns.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one playback overflow (worker side).
    pub fn playback_overflow(&self) {
        self.playback_overflows.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one xrun reported by the backend (callback-safe).
    pub fn device_xrun(&self) {
        self.device_xruns.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> Xruns {
        Xruns {
            capture_overruns: self.capture_overruns.load(Ordering::Relaxed),
            playback_underruns: self.playback_underruns.load(Ordering::Relaxed),
            playback_overflows: self.playback_overflows.load(Ordering::Relaxed),
            device_xruns: self.device_xruns.load(Ordering::Relaxed),
        }
    }
}
