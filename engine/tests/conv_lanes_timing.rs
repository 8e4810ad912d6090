//! Timing of the channels-in-lanes kernels on the reference layers (ignored by default; run with
//! `cargo test --release -p sluice-engine --test conv_lanes_timing -- --ignored --nocapture`,
//! optionally with `SLUICE_ISA=avx2`). Prints best-of-N wall time and GFLOP/s.

mod common;

use common::*;
use sluice_engine::{Activation, Conv, ConvSpec, Threads};
use std::time::Instant;

fn time(name: &str, spec: &ConvSpec, dims: &[usize], threads: usize, reps: usize) {
    let mut r = rng(1);
    let in_len: usize = dims.iter().product::<usize>() * spec.in_channels;
    let x = rand_vec(&mut r, in_len);
    let w = rand_vec(&mut r, spec.weight_len());
    let b = rand_vec(&mut r, spec.out_channels);
    let plan = Conv::new(spec, dims, &w, Some(&b)).unwrap_or_else(|e| panic!("{e}"));
    let t = Threads::new(threads).unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![0.0; plan.output_len()];
    let mut scratch = vec![0.0; plan.scratch_len(&t)];
    let (mut best, mut best_cpu, mut best_proc) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..reps {
        let (t0, c0, p0) = (Instant::now(), cpu(libc::CLOCK_THREAD_CPUTIME_ID), cpu(libc::CLOCK_PROCESS_CPUTIME_ID));
        plan.run(&x, &mut out, &mut scratch, &t).unwrap_or_else(|e| panic!("{e}"));
        best = best.min(t0.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu(libc::CLOCK_THREAD_CPUTIME_ID) - c0);
        best_proc = best_proc.min(cpu(libc::CLOCK_PROCESS_CPUTIME_ID) - p0);
    }
    // The machine is shared, so wall time is inflated: with one thread report the caller's CPU
    // time; with more, print the wall best and the process CPU time per thread beside it.
    if threads == 1 {
        best = best_cpu.max(1e-9);
    } else {
        println!("  wall best {:.2} ms, process CPU / threads {:.2} ms", best * 1e3, best_proc * 1e3 / threads as f64);
        best = best.min(best_proc / threads as f64);
    }
    let gf = plan.flops() as f64 / best / 1e9;
    println!(
        "{name:8} {} {:10} threads {threads}: {:7.2} ms  {gf:6.1} GFLOP/s  {:5.1} % of 117",
        plan.isa(),
        plan.kernel_name(),
        best * 1e3,
        gf / 117.0 * 100.0 / threads as f64
    );
}

/// CPU time of `clock` (thread or process) in seconds.
fn cpu(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[test]
#[ignore = "timing, run by hand"]
fn reference_layers() {
    let reps: usize = std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let ths: Vec<usize> = if std::env::var("ONE").is_ok() { vec![1] } else { vec![1, 2] };
    for th in ths {
        time("l2", &ConvSpec::new(64, 32, &[3, 3]).same_padding().activation(Activation::Tanh), &[360, 640], th, reps);
        // Identity variants show what the fused activation costs.
        if std::env::var("IDENTITY").is_ok() {
            time("l2-id", &ConvSpec::new(64, 32, &[3, 3]).same_padding(), &[360, 640], th, reps);
            time("l1-id", &ConvSpec::new(1, 64, &[5, 5]).same_padding(), &[360, 640], th, reps);
        }
        time("conv3d", &ConvSpec::new(16, 16, &[3, 3, 3]).same_padding(), &[16, 128, 128], th, reps);
        time("l1", &ConvSpec::new(1, 64, &[5, 5]).same_padding().activation(Activation::Tanh), &[360, 640], th, reps);
        time("dw1x3", &ConvSpec::new(64, 64, &[1, 3]).padding(&[0, 1], &[0, 1]).groups(64), &[100, 96], th, reps * 20);
    }
}
