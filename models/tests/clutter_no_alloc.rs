//! Streaming the clutter filter allocates nothing after construction: a counting global
//! allocator watches `ClutterStream::process` (its own test binary, since the counter is
//! process-wide).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sluice_engine::Threads;
use sluice_models::clutter::Clutter;

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn streaming_process_allocates_nothing() {
    assert!(
        {
            COUNTING.store(true, Ordering::SeqCst);
            drop(std::hint::black_box(vec![1u8; 8]));
            COUNTING.store(false, Ordering::SeqCst);
            ALLOCS.swap(0, Ordering::SeqCst)
        } > 0,
        "the counter counts"
    );
    let model = Clutter::bundled().unwrap_or_else(|e| panic!("{e}"));
    let (h, w) = (32, 48);
    let x: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
    let mut y = vec![0.0; h * w];
    for n in [1, 2] {
        let threads = Arc::new(Threads::new(n).unwrap_or_else(|e| panic!("{e}")));
        let mut stream = model.stream(h, w, threads).unwrap_or_else(|e| panic!("{e}"));
        // Warm up (pool start-up), then count over several frames and a reset.
        for _ in 0..3 {
            stream.process(&x, &mut y).unwrap_or_else(|e| panic!("{e}"));
        }
        ALLOCS.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        for i in 0..6 {
            if i == 3 {
                stream.reset();
            }
            let r = stream.process(&x, &mut y);
            if r.is_err() {
                COUNTING.store(false, Ordering::SeqCst);
                panic!("{r:?}");
            }
        }
        COUNTING.store(false, Ordering::SeqCst);
        assert_eq!(ALLOCS.load(Ordering::SeqCst), 0, "{n} thread(s): process allocated");
    }
}
