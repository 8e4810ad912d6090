//! The engine's thread pool: a layer's output is split into row bands, one per thread.
//!
//! Small ops run inline on the caller: handing work to another core costs a few
//! microseconds, which would dominate a 10 ms audio hop's tiny layers.

use crate::error::{EngineError, Result, invalid};
use crate::outptr::OutPtr;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Work below this many FLOPs is never split across threads (≈20–40 µs of compute).
pub const MIN_PARALLEL_FLOPS: u64 = 4_000_000;

/// A fixed-size pool owned by the engine user (server, CLI, bench): `n − 1` parked workers
/// plus the calling thread, which always takes part. Handing out a run allocates nothing.
pub struct Threads {
    shared: Option<Arc<Shared>>,
    workers: Vec<JoinHandle<()>>,
    n: usize,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads").field("n", &self.n).finish()
    }
}

/// The job of the current run, with its lifetime erased (see `run_bands` for why it is sound).
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync));
// SAFETY: the pointee is `Sync`, and `run_bands` keeps it alive until every worker is done with it.
unsafe impl Send for Job {}

struct State {
    epoch: u64,
    job: Option<Job>,
    bands: usize,
    /// Workers currently holding `job`.
    in_flight: usize,
    /// Bands finished in this run.
    done: usize,
    panicked: bool,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    next: AtomicUsize,
    wake: Condvar,
    finished: Condvar,
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
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                epoch: 0,
                job: None,
                bands: 0,
                in_flight: 0,
                done: 0,
                panicked: false,
                shutdown: false,
            }),
            next: AtomicUsize::new(0),
            wake: Condvar::new(),
            finished: Condvar::new(),
        });
        let mut workers = Vec::with_capacity(n - 1);
        for i in 1..n {
            let sh = Arc::clone(&shared);
            let h = std::thread::Builder::new()
                .name(format!("sluice-engine-{i}"))
                .spawn(move || worker(&sh))
                .map_err(|e| invalid("threads", format!("cannot start engine thread {i}: {e}")))?;
            workers.push(h);
        }
        Ok(Self { shared: Some(shared), workers, n })
    }

    /// Runs everything on the calling thread.
    pub fn single() -> Self {
        Self { shared: None, workers: Vec::new(), n: 1 }
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

    /// Runs `f(band)` for every band in `0..bands`, spread over the pool when `bands > 1`.
    /// Returns when all bands are done. Allocates nothing. Runs from several threads on the
    /// same pool are serialised.
    pub fn run_bands(&self, bands: usize, f: &(dyn Fn(usize) + Sync)) {
        let Some(sh) = self.shared.as_ref().filter(|_| bands > 1) else {
            (0..bands).for_each(f);
            return;
        };
        let mut st = lock(&sh.state);
        // Another caller's run in progress: wait for it to retire its job.
        while st.job.is_some() {
            st = sh.finished.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        // SAFETY: only the lifetime is erased. Workers dereference the job only while counted in
        // `in_flight`, and this function does not return before `in_flight == 0` and the job has
        // been taken back out of the shared state, so `f` outlives every use.
        let job: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(f) };
        st.job = Some(Job(job));
        st.bands = bands;
        st.done = 0;
        st.panicked = false;
        st.epoch = st.epoch.wrapping_add(1);
        sh.next.store(0, Ordering::SeqCst);
        drop(st);
        sh.wake.notify_all();

        let mine = take_bands(sh, f, bands);
        let mut st = lock(&sh.state);
        st.done += mine.0;
        st.panicked |= mine.1;
        while st.done < bands || st.in_flight > 0 {
            st = sh.finished.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.job = None;
        let panicked = st.panicked;
        drop(st);
        sh.finished.notify_all();
        if panicked {
            panic!("an engine thread panicked while running a band");
        }
    }
}

/// A band body: `(image, rows of that image, band scratch)`.
pub(crate) type RowBandFn<'a> = dyn Fn(usize, Range<usize>, &mut [f32]) + Sync + 'a;

impl Threads {
    /// Splits `images × rows_per_image` output rows into bands (one per thread when `work`
    /// FLOPs are worth it) and calls `f(image, rows, band_scratch)` for each image's share of a
    /// band. Band `b` gets `scratch[b·per_band..][..per_band]`; a short `scratch` is an error.
    #[allow(clippy::too_many_arguments)] // the band contract: what, how much, scratch, work
    pub(crate) fn run_row_bands(
        &self,
        op: &'static str,
        images: usize,
        rows_per_image: usize,
        work: u64,
        per_band: usize,
        scratch: &mut [f32],
        f: &RowBandFn<'_>,
    ) -> Result<()> {
        let total = images * rows_per_image;
        let bands = self.bands_for(total, work);
        if scratch.len() < per_band * bands {
            return Err(EngineError::BufferLength {
                op,
                buffer: "scratch",
                expected: per_band * bands,
                got: scratch.len(),
            });
        }
        let scratch = OutPtr::new(scratch);
        self.run_bands(bands, &|b| {
            // SAFETY: band `b` owns scratch[b·per_band ..][..per_band] exclusively.
            let scr = unsafe { scratch.slice(b * per_band, per_band) };
            let range = band_range(total, bands, b);
            let mut r = range.start;
            while r < range.end {
                let img = r / rows_per_image;
                let end = range.end.min((img + 1) * rows_per_image);
                f(img, (r - img * rows_per_image)..(end - img * rows_per_image), scr);
                r = end;
            }
        });
        Ok(())
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        if let Some(sh) = &self.shared {
            lock(&sh.state).shutdown = true;
            sh.wake.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Claims and runs bands until none are left; returns (bands run, whether one panicked).
fn take_bands(sh: &Shared, f: &(dyn Fn(usize) + Sync), bands: usize) -> (usize, bool) {
    let (mut ran, mut panicked) = (0, false);
    loop {
        let b = sh.next.fetch_add(1, Ordering::SeqCst);
        if b >= bands {
            return (ran, panicked);
        }
        panicked |= catch_unwind(AssertUnwindSafe(|| f(b))).is_err();
        ran += 1;
    }
}

fn worker(sh: &Shared) {
    let mut seen = 0u64;
    let mut st = lock(&sh.state);
    loop {
        if st.shutdown {
            return;
        }
        match st.job {
            Some(job) if st.epoch != seen => {
                seen = st.epoch;
                let bands = st.bands;
                st.in_flight += 1;
                drop(st);
                // SAFETY: counted in `in_flight`, so `run_bands` keeps the job alive until we are done.
                let f = unsafe { &*job.0 };
                let (ran, panicked) = take_bands(sh, f, bands);
                st = lock(&sh.state);
                st.in_flight -= 1;
                st.done += ran;
                st.panicked |= panicked;
                sh.finished.notify_all();
            }
            _ => st = sh.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
        }
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

    #[test]
    fn concurrent_callers_share_one_pool() -> Result<()> {
        let t = Threads::new(2)?;
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        t.run_bands(5, &|b| {
                            total.fetch_add(b + 1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(total.into_inner(), 4 * 200 * 15);
        Ok(())
    }

    #[test]
    fn a_panicking_band_is_reported_not_hung() -> Result<()> {
        let t = Threads::new(2)?;
        let r = catch_unwind(AssertUnwindSafe(|| t.run_bands(4, &|b| assert!(b != 2, "band 2 fails"))));
        assert!(r.is_err());
        // The pool still works afterwards.
        let hits = AtomicUsize::new(0);
        t.run_bands(4, &|_| {
            hits.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(hits.into_inner(), 4);
        Ok(())
    }
}
