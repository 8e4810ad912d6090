//! Timing the networks: best and median over repeated runs, and the fixed deterministic inputs
//! they run on. Shared by the examples under `models/examples/` and `sluice bench`, so that
//! both time the same work the same way.
//!
//! Times are wall time. On a shared machine a run can be preempted; the best of several skips
//! those runs, and the median shows how much they matter.

use std::time::{Duration, Instant};

/// How a measurement is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reps {
    /// Untimed runs first (caches, page faults, thread-pool start-up).
    pub warmup: usize,
    /// Timed samples (at least one is taken).
    pub samples: usize,
    /// Calls per sample; a sample's time is divided by this (short calls are timed in blocks).
    pub inner: usize,
}

impl Reps {
    /// `samples` timed samples of one call each, after one warm-up call.
    pub fn new(samples: usize) -> Self {
        Self { warmup: 1, samples, inner: 1 }
    }

    /// The same, with `inner` calls per sample.
    pub fn with_inner(self, inner: usize) -> Self {
        Self { inner, ..self }
    }

    /// The same, with `warmup` untimed calls first.
    pub fn with_warmup(self, warmup: usize) -> Self {
        Self { warmup, ..self }
    }
}

/// Best and median time of one call over the samples of a measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Fastest sample, per call.
    pub best: Duration,
    /// Median sample (the upper one of an even count), per call.
    pub median: Duration,
    /// Samples taken.
    pub samples: usize,
}

impl Timing {
    /// The per-call times divided by `n` (e.g. per stream when one call serves `n` streams).
    pub fn per(self, n: usize) -> Self {
        let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        Self { best: self.best / n, median: self.median / n, samples: self.samples }
    }

    /// Best time in milliseconds.
    pub fn best_ms(&self) -> f64 {
        self.best.as_secs_f64() * 1e3
    }

    /// Median time in milliseconds.
    pub fn median_ms(&self) -> f64 {
        self.median.as_secs_f64() * 1e3
    }
}

/// Runs `f` `reps.warmup` times untimed, then `reps.samples` timed samples of `reps.inner`
/// calls each; the first error stops the measurement.
pub fn measure<E>(reps: Reps, mut f: impl FnMut() -> Result<(), E>) -> Result<Timing, E> {
    for _ in 0..reps.warmup {
        f()?;
    }
    let inner = reps.inner.max(1);
    let mut times = Vec::with_capacity(reps.samples.max(1));
    for _ in 0..reps.samples.max(1) {
        let t = Instant::now();
        for _ in 0..inner {
            f()?;
        }
        times.push(t.elapsed() / u32::try_from(inner).unwrap_or(u32::MAX));
    }
    times.sort();
    Ok(Timing { best: times[0], median: times[times.len() / 2], samples: times.len() })
}

/// A small deterministic generator (xorshift32) for inputs and made-up weights: the same
/// numbers on every machine, without a dependency.
#[derive(Debug, Clone)]
pub struct Xorshift(u32);

impl Xorshift {
    /// A generator from `seed` (0 is replaced, xorshift would stay at 0).
    pub fn new(seed: u32) -> Self {
        Self(if seed == 0 { 0x2545_f491 } else { seed })
    }

    /// The next value, uniform in [-0.5, 0.5].
    pub fn next_centered(&mut self) -> f32 {
        let s = &mut self.0;
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        (*s as f32 / u32::MAX as f32) - 0.5
    }

    /// `n` values uniform in [-bound, bound].
    pub fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| 2.0 * bound * self.next_centered()).collect()
    }
}

/// `hops` hops of DeepFilterNet3 input features (`nb_erb` ERB values, then `2·nb_df` spectrum
/// values per hop), in the range the DSP produces.
pub fn dfn3_features(hops: usize, nb_erb: usize, nb_df: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = Xorshift::new(0x2545_f491);
    let erb = (0..hops).map(|_| (0..nb_erb).map(|_| rng.next_centered()).collect()).collect();
    let spec = (0..hops).map(|_| (0..2 * nb_df).map(|_| rng.next_centered()).collect()).collect();
    (erb, spec)
}

/// A natural-ish `width`×`height` luma frame in [0, 1]: smooth gradients, a few edges and fine
/// texture.
pub fn luma_frame(width: usize, height: usize) -> Vec<f32> {
    (0..width * height)
        .map(|i| {
            let (x, r) = ((i % width) as f32, (i / width) as f32);
            let v = 0.5 + 0.25 * (x / 37.0).sin() * (r / 23.0).cos() + if (x + r) % 97.0 < 48.0 { 0.1 } else { -0.1 };
            v + 0.05 * ((x * 12.9898 + r * 78.233).sin() * 43_758.547).fract()
        })
        .collect()
}

/// An echo-like clip of `frames` `height`×`width` frames in [0, 1]: moving texture, a static
/// bright band a quarter of the way down (clutter-like; at least 2 rows), speckle-ish noise.
pub fn echo_clip(frames: usize, height: usize, width: usize) -> Vec<f32> {
    let top = (height / 4) as f32;
    let band_rows = top..top + (height / 16).max(2) as f32;
    (0..frames * height * width)
        .map(|i| {
            let (t, y, x) = ((i / (height * width)) as f32, ((i / width) % height) as f32, (i % width) as f32);
            let band = if band_rows.contains(&y) { 0.3 } else { 0.0 };
            let noise = ((x * 12.9898 + y * 78.233 + t * 3.7).sin() * 43_758.547).fract().abs();
            (0.3 + 0.2 * (x / 7.0 + t / 3.0).sin() * (y / 9.0).cos() + band + 0.15 * noise).clamp(0.0, 1.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_orders_samples_and_counts_calls() {
        let mut calls = 0;
        let reps = Reps::new(5).with_inner(3).with_warmup(2);
        let t = measure(reps, || {
            calls += 1;
            std::thread::sleep(Duration::from_micros(50 * (calls % 4)));
            Ok::<(), ()>(())
        })
        .unwrap_or_else(|()| panic!("measure failed"));
        assert_eq!((calls, t.samples), (2 + 5 * 3, 5));
        assert!(t.best <= t.median && t.best > Duration::ZERO, "{t:?}");
        let half = t.per(2);
        assert_eq!((half.best, half.median), (t.best / 2, t.median / 2));
    }

    #[test]
    fn measure_stops_at_the_first_error() {
        let mut calls = 0;
        let r = measure(Reps::new(4), || {
            calls += 1;
            if calls == 3 { Err(calls) } else { Ok(()) }
        });
        assert_eq!((r, calls), (Err(3), 3));
    }

    #[test]
    fn inputs_are_deterministic_and_in_range() {
        assert_eq!(luma_frame(64, 8), luma_frame(64, 8));
        let clip = echo_clip(3, 16, 16);
        assert_eq!(clip.len(), 3 * 256);
        assert!(clip.iter().all(|v| (0.0..=1.0).contains(v)));
        let (erb, spec) = dfn3_features(4, 32, 96);
        assert_eq!((erb.len(), erb[0].len(), spec[3].len()), (4, 32, 192));
        assert!(erb.iter().flatten().chain(spec.iter().flatten()).all(|v| v.abs() <= 0.5));
        let w = Xorshift::new(7).uniform(100, 0.25);
        assert!(w.iter().all(|v| v.abs() <= 0.25) && w != Xorshift::new(8).uniform(100, 0.25));
    }
}
