//! The engine's thread pool: a layer's output is split into row bands, one per thread.
//!
//! Small ops run inline on the caller: handing work to another core costs a few
//! microseconds, which would dominate a 10 ms audio hop's tiny layers.

use crate::error::{Result, invalid};
use std::ops::Range;

/// Work below this many FLOPs is never split across threads (≈20–40 µs of compute).
pub const MIN_PARALLEL_FLOPS: u64 = 4_000_000;

/// A fixed-size pool owned by the engine user (server, CLI, bench).
pub struct Threads {
    pool: Option<rayon::ThreadPool>,
    n: usize,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads").field("n", &self.n).finish()
    }
}

impl Threads {
    /// A pool of `n` threads (`n = 1` runs everything on the caller).
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 {
            return Err(invalid("threads", "thread count must be at least 1"));
        }
        if n == 1 {
            return Ok(Self::single());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("sluice-engine-{i}"))
            .build()
            .map_err(|e| invalid("threads", format!("cannot start {n} engine threads: {e}")))?;
        Ok(Self { pool: Some(pool), n })
    }

    /// Runs everything on the calling thread.
    pub fn single() -> Self {
        Self { pool: None, n: 1 }
    }

    /// One thread per available core.
    pub fn available() -> Result<Self> {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Number of threads.
    pub fn count(&self) -> usize {
        self.n
    }

    /// How many bands to split `rows` independent rows into, given the total work in FLOPs.
    pub fn bands_for(&self, rows: usize, flops: u64) -> usize {
        if self.n == 1 || flops < MIN_PARALLEL_FLOPS { 1 } else { self.n.min(rows).max(1) }
    }

    /// Runs `f(band)` for every band in `0..bands`, in parallel on the pool when `bands > 1`.
    /// Returns when all bands are done. Allocates nothing.
    pub fn run_bands(&self, bands: usize, f: &(dyn Fn(usize) + Sync)) {
        match (&self.pool, bands) {
            (_, 0) => {}
            (None, _) | (_, 1) => (0..bands).for_each(f),
            (Some(pool), _) => pool.install(|| split(0, bands, f)),
        }
    }
}

fn split(lo: usize, hi: usize, f: &(dyn Fn(usize) + Sync)) {
    if hi - lo == 1 {
        f(lo);
    } else {
        let mid = lo + (hi - lo) / 2;
        rayon::join(|| split(lo, mid, f), || split(mid, hi, f));
    }
}

/// The `i`-th of `bands` near-equal contiguous ranges covering `0..total`.
pub fn band_range(total: usize, bands: usize, i: usize) -> Range<usize> {
    let bands = bands.max(1);
    let base = total / bands;
    let extra = total % bands;
    let start = i * base + i.min(extra);
    let len = base + usize::from(i < extra);
    start..(start + len).min(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn bands_cover_everything_once() {
        for total in [0, 1, 2, 7, 100] {
            for bands in 1..6 {
                let mut seen = vec![0; total];
                for i in 0..bands {
                    for r in band_range(total, bands, i) {
                        seen[r] += 1;
                    }
                }
                assert!(seen.iter().all(|&c| c == 1));
            }
        }
    }

    #[test]
    fn pool_runs_every_band() -> Result<()> {
        let t = Threads::new(3)?;
        let hits = AtomicUsize::new(0);
        t.run_bands(7, &|b| {
            hits.fetch_add(1 << (b * 4), Ordering::Relaxed);
        });
        assert_eq!(hits.into_inner(), 0x111_1111);
        assert!(Threads::new(0).is_err());
        assert_eq!(t.bands_for(100, 10), 1);
        assert_eq!(t.bands_for(2, u64::MAX), 2);
        Ok(())
    }
}
