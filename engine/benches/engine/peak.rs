//! The f32 FMA peak of one core at the engine's active tier, measured when the bench starts, so
//! `%peak` means the same on whatever CPU runs it. Why: the table used to divide by one Zen 4
//! core's 117 GFLOP/s, and a Zen 5 core (two 512-bit FMA pipes) runs well past that.
//!
//! Independent multiply-add chains, more of them than the FMA latency × pipes needs, in thread
//! CPU time; the best of a few short runs.

use crate::timing::thread_cpu_s;
use sluice_engine::Isa;
use std::hint::black_box;

/// Inner iterations per run: tens of milliseconds on any tier.
const ITERS: usize = 2_000_000;
/// Runs; the fastest counts.
const RUNS: usize = 5;

/// Best FLOP/s of one core over `RUNS` runs at `isa`'s vector width.
pub fn fma_peak_per_core(isa: Isa) -> f64 {
    (0..RUNS)
        .map(|_| {
            let t0 = thread_cpu_s();
            let flops = chains(isa, ITERS);
            flops as f64 / (thread_cpu_s() - t0).max(1e-9)
        })
        .fold(0.0, f64::max)
}

/// Runs the chains for `iters` steps and returns the FLOPs done.
fn chains(isa: Isa, iters: usize) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        match isa {
            // SAFETY: the engine reports these tiers only when the CPU has the features.
            Isa::Avx512 => return unsafe { x86::avx512(iters) },
            Isa::Avx2 => return unsafe { x86::avx2(iters) },
            _ => {}
        }
    }
    let _ = isa;
    scalar(iters)
}

/// 32 multiply-add chains in plain f32 code (two FLOPs each per step), as the compiler builds
/// it for the scalar tier (baseline SSE2 on x86-64).
fn scalar(iters: usize) -> u64 {
    let mut acc: [f32; 32] = std::array::from_fn(|i| 1.0 + i as f32 / 32.0);
    let (a, b) = (black_box(0.999_999f32), black_box(1e-7f32));
    for _ in 0..iters {
        for x in &mut acc {
            *x = *x * a + b;
        }
    }
    black_box(acc);
    2 * acc.len() as u64 * iters as u64
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// 16 chains of 16 lanes: twice what two FMA pipes of latency 4 keep busy.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(iters: usize) -> u64 {
        const N: usize = 16;
        let a = _mm512_set1_ps(black_box(0.999_999));
        let b = _mm512_set1_ps(black_box(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); N];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        black_box(acc);
        2 * 16 * N as u64 * iters as u64
    }

    /// 12 chains of 8 lanes (12 of the 16 ymm registers, the rest for the operands).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(iters: usize) -> u64 {
        const N: usize = 12;
        let a = _mm256_set1_ps(black_box(0.999_999));
        let b = _mm256_set1_ps(black_box(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); N];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        black_box(acc);
        2 * 8 * N as u64 * iters as u64
    }
}
