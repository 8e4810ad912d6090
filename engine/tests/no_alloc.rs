//! Running a plan allocates nothing: a counting global allocator watches every op's `run`.

mod common;

use common::*;
use sluice_engine::{Activation, Conv, ConvSpec, ConvTranspose, ConvTransposeSpec, StreamingConv, Threads};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// Runs `f` a few times to warm up (thread pool start-up, work-stealing deques), then counts
/// allocations over more runs.
fn allocations(mut f: impl FnMut()) -> usize {
    for _ in 0..3 {
        f();
    }
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        f();
    }
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

// One test function: the counter is process-wide, so parallel tests would count each other.
#[test]
fn running_plans_allocates_nothing() {
    let mut r = rng(3);
    for threads in [Threads::single(), Threads::new(2).unwrap_or_else(|e| panic!("{e}"))] {
        for isa in tiers() {
            let what = format!("{isa} {} threads", threads.count());
            let convs = [
                (ConvSpec::new(16, 32, &[3, 3]).same_padding().activation(Activation::Tanh), vec![48usize, 64]),
                (ConvSpec::new(1, 64, &[5, 5]).same_padding().activation(Activation::Tanh), vec![40, 64]),
                (ConvSpec::new(32, 9, &[3, 3]).same_padding().pixel_shuffle(3), vec![40, 64]),
                (ConvSpec::new(64, 64, &[1, 3]).stride(&[1, 2]).groups(64), vec![1, 32]),
                (ConvSpec::new(8, 8, &[3, 3, 3]).same_padding(), vec![4, 32, 32]),
            ];
            for (spec, dims) in convs {
                let w = rand_vec(&mut r, spec.weight_len());
                let plan = Conv::with_isa(isa, &spec, &dims, &w, None).unwrap_or_else(|e| panic!("{e}"));
                let x = rand_vec(&mut r, plan.input_len());
                let mut y = vec![0.0; plan.output_len()];
                let mut s = vec![0.0; plan.scratch_len(&threads)];
                let n = allocations(|| plan.run(&x, &mut y, &mut s, &threads).unwrap_or_else(|e| panic!("{e}")));
                assert_eq!(n, 0, "{what}: conv {} {spec:?} allocated", plan.kernel_name());
            }

            let spec = ConvTransposeSpec::new(16, 16, &[1, 3])
                .stride(&[1, 2])
                .padding(&[0, 1], &[0, 1])
                .output_padding(&[0, 1]);
            let w = rand_vec(&mut r, spec.weight_len());
            let plan = ConvTranspose::with_isa(isa, &spec, &[4, 16], &w, None).unwrap_or_else(|e| panic!("{e}"));
            let x = rand_vec(&mut r, plan.input_len());
            let mut y = vec![0.0; plan.output_len()];
            let mut s = vec![0.0; plan.scratch_len(&threads)];
            let n = allocations(|| plan.run(&x, &mut y, &mut s, &threads).unwrap_or_else(|e| panic!("{e}")));
            assert_eq!(n, 0, "{what}: conv transpose allocated");

            let spec = ConvSpec::new(2, 64, &[3, 3]).padding(&[2, 1], &[0, 1]).groups(2);
            let w = rand_vec(&mut r, spec.weight_len());
            let sc = StreamingConv::with_isa(isa, &spec, &[96], 1, &w, None).unwrap_or_else(|e| panic!("{e}"));
            let mut st = sc.new_state(4);
            let x = rand_vec(&mut r, 4 * sc.input_frame_len());
            let mut y = vec![0.0; 4 * sc.output_frame_len()];
            let mut s = vec![0.0; sc.scratch_len(&threads)];
            let n = allocations(|| sc.step(&mut st, &x, &mut y, &mut s, &threads).unwrap_or_else(|e| panic!("{e}")));
            assert_eq!(n, 0, "{what}: streaming conv allocated");
        }
    }
}
