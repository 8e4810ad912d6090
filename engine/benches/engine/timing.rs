//! Best-of-N timing with thread CPU time, which ignores time spent descheduled on a busy machine.

use std::time::{Duration, Instant};

/// Seconds of CPU time the calling thread has used.
pub fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// How a measurement is repeated.
#[derive(Debug, Clone, Copy)]
pub struct Reps {
    /// Timed samples wanted (after one untimed warm-up).
    pub samples: usize,
    /// Stop adding samples once this much wall time is spent (at least one sample is taken).
    pub budget: Duration,
}

/// Summary of one measurement, in seconds per call.
///
/// `best`/`median` use thread CPU time when the work ran on the calling thread alone
/// (`cpu_valid`), wall time otherwise; `best_wall` is always wall time.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub best: f64,
    pub median: f64,
    pub best_wall: f64,
    pub samples: usize,
}

/// Runs `f` once untimed, then up to `reps.samples` timed samples of `inner` calls each.
pub fn measure(reps: Reps, inner: usize, cpu_valid: bool, mut f: impl FnMut()) -> Stats {
    let inner = inner.max(1);
    f();
    let start = Instant::now();
    let mut main = Vec::with_capacity(reps.samples);
    let mut walls = Vec::with_capacity(reps.samples);
    while main.len() < reps.samples.max(1) && (main.is_empty() || start.elapsed() < reps.budget) {
        let (c0, w0) = (thread_cpu_s(), Instant::now());
        for _ in 0..inner {
            f();
        }
        let wall = w0.elapsed().as_secs_f64() / inner as f64;
        let cpu = (thread_cpu_s() - c0) / inner as f64;
        main.push(if cpu_valid && cpu.is_finite() { cpu } else { wall });
        walls.push(wall);
    }
    main.sort_by(f64::total_cmp);
    walls.sort_by(f64::total_cmp);
    Stats { best: main[0], median: main[main.len() / 2], best_wall: walls[0], samples: main.len() }
}
