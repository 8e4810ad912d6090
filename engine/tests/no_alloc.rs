//! Running a plan allocates nothing: a counting global allocator watches every op's `run`.

mod common;

use common::*;
use sluice_engine::{
    Activation, Add, Broadcast, Concat, Conv, ConvSpec, ConvTranspose, ConvTransposeSpec, Mul, PixelShuffle, Pool,
    PoolSpec, StreamingConv, Threads, Upsample, WindowMethod,
};
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

/// The counter is process-wide, so everything runs from this one test, in turn.
#[test]
fn running_plans_allocates_nothing() {
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 8]))) > 0, "the counter counts");
    convs_allocate_nothing();
    pool_run_allocates_nothing();
    ops_run_allocates_nothing();
}

fn convs_allocate_nothing() {
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

fn pool_run_allocates_nothing() {
    let t = Threads::single();
    let mut r = rng(7);
    for isa in tiers() {
        for (spec, dims) in [
            (PoolSpec::max(64, &[3, 3]).same_padding(), vec![20, 70]),
            (PoolSpec::avg(1, &[7, 7]).same_padding().method(WindowMethod::PrefixSuffix), vec![30, 90]),
            (PoolSpec::avg(17, &[3, 2, 5]).stride(&[1, 2, 1]).padding(&[1, 0, 2], &[1, 1, 2]), vec![5, 6, 40]),
            (PoolSpec::max(16, &[2, 2, 1]).stride(&[2, 2, 1]), vec![8, 8, 12]),
        ] {
            let plan = Pool::with_isa(isa, &spec, &dims).unwrap_or_else(|e| panic!("{e}"));
            let x = rand_vec(&mut r, plan.input_len() * 2);
            let mut out = vec![0.0; plan.output_len() * 2];
            let mut scratch = vec![0.0; plan.scratch_len(&t)];
            let n = allocations(|| plan.run(&x, &mut out, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}")));
            assert_eq!(n, 0, "{isa} {spec:?} allocated {n} times");
        }
    }
}

fn ops_run_allocates_nothing() {
    let mut r = rng(8);
    let ps = PixelShuffle::new(18, 3, &[5, 7]).unwrap_or_else(|e| panic!("{e}"));
    let up = Upsample::new(8, &[2, 2, 1], &[3, 4, 5]).unwrap_or_else(|e| panic!("{e}"));
    let cat = Concat::new(&[3, 5], &[6, 7]).unwrap_or_else(|e| panic!("{e}"));
    let add = Add::new(8, 60, Broadcast::PerChannel).unwrap_or_else(|e| panic!("{e}"));
    let gate = Mul::new(8, 60, Broadcast::PerPixel).unwrap_or_else(|e| panic!("{e}"));
    let (x1, x2) = (rand_vec(&mut r, ps.input_len()), rand_vec(&mut r, up.input_len()));
    let (a, b) = (rand_vec(&mut r, 3 * 42), rand_vec(&mut r, 5 * 42));
    let (g, y) = (rand_vec(&mut r, 60), rand_vec(&mut r, 8));
    let mut o1 = vec![0.0; ps.output_len()];
    let mut o2 = vec![0.0; up.output_len()];
    let mut o3 = vec![0.0; cat.output_len()];
    let mut o4 = vec![0.0; 480];
    let n = allocations(|| {
        ps.run(&x1, &mut o1).unwrap_or_else(|e| panic!("{e}"));
        up.run(&x2, &mut o2).unwrap_or_else(|e| panic!("{e}"));
        cat.run(&[&a, &b], &mut o3).unwrap_or_else(|e| panic!("{e}"));
        add.run(&x2[..480], &y, &mut o4).unwrap_or_else(|e| panic!("{e}"));
        gate.run_in_place(&mut o4, &g).unwrap_or_else(|e| panic!("{e}"));
    });
    assert_eq!(n, 0, "ops allocated {n} times");
}
