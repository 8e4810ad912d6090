//! Running a pooling plan or a small op allocates nothing (a counting global allocator).

mod common;

use common::*;
use sluice_engine::{Add, Broadcast, Concat, Mul, PixelShuffle, Pool, PoolSpec, Threads, Upsample, WindowMethod};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls made by the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by the current thread while running `f`.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn pool_run_allocates_nothing() {
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 8]))) > 0, "the counter counts");
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

#[test]
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
