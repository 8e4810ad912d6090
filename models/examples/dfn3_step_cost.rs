//! Per-hop cost of the DFN3 network (encoder + both decoders), one stream, one thread, best of
//! many blocks of hops (the machine is shared; best-of skips preempted blocks).
//!
//! `cargo run --release -p sluice-models --example dfn3_step_cost` (`SLUICE_ISA` picks the tier).
//!
//! The last lines imitate a live worker (12 of 40 states per call) and what happens between its
//! calls. On the 2-core VM here, quiet (2026-11-26): 83–90 µs per stream-hop back to back; 89–107
//! with a 1 ms pause, whether the thread sleeps, yields or spins in user space (so it is not the
//! halted core); 118–128 when 64 MiB of other memory traffic pushes the weights and states out of
//! every cache between calls. The server's workers (≈ 125–150 µs per hop, DSP included) sit near
//! that last line: the I/O threads, the load generator and the other worker run between ticks.

use std::error::Error;
use std::time::{Duration, Instant};

use sluice_engine::Isa;
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_models::timing::{self, Reps};

const BLOCK: usize = 100;
const PASSES: usize = 100;

fn main() -> Result<(), Box<dyn Error>> {
    let model = Dfn3Model::new(&Dfn3Weights::bundled()?)?;
    let mut state = model.new_state();
    let mut out = model.new_output();
    // Deterministic feature-like inputs (values in the range the DSP produces).
    let (erb, spec) = timing::dfn3_features(BLOCK, model.nb_erb(), model.nb_df());
    let best = timing::measure(Reps::new(PASSES).with_warmup(0), || {
        for (e, s) in erb.iter().zip(&spec) {
            model.step(&mut state, e, s, &mut out)?;
        }
        Ok::<(), sluice_engine::EngineError>(())
    })?
    .per(BLOCK)
    .best
    .as_secs_f64()
        * 1e6;
    let isa = Isa::active().name();
    println!("DFN3 network step, 1 stream, 1 thread, {isa}: {best:.1} µs per hop (best of {PASSES}×{BLOCK})");

    // Batched: B streams per step_many call (the dense layers read their weights once per call).
    for b in [1usize, 8, 32, 128] {
        let mut states: Vec<_> = (0..b).map(|_| model.new_state()).collect();
        let mut outs: Vec<_> = (0..b).map(|_| model.new_output()).collect();
        let mut batch = model.new_batch(b);
        let erb_b: Vec<f32> = (0..b).flat_map(|i| erb[i % BLOCK].clone()).collect();
        let spec_b: Vec<f32> = (0..b).flat_map(|i| spec[i % BLOCK].clone()).collect();
        let calls = (2000 / b).max(10);
        let best = timing::measure(Reps::new(5).with_warmup(0).with_inner(calls), || {
            model.step_many(&mut states, &mut batch, &erb_b, &spec_b, &mut outs)
        })?
        .per(b)
        .best
        .as_secs_f64();
        println!(
            "step_many, {b:>3} streams, 1 thread, {isa}: {:.1} µs per stream-hop, {:.0} hops/s",
            best * 1e6,
            1.0 / best
        );
    }

    // As a live worker sees it: 40 streams, a batch of 12 of them per call (the ones whose hop
    // completed in that tick, so each state is touched once per 10 ms), optionally sleeping
    // between calls as the worker does between ticks (other threads then use the core and its
    // caches). The gap to the hot loops above is what cold states and weights cost.
    let (streams, per_call) = (40usize, 12usize);
    let mut states: Vec<_> = (0..streams).map(|_| model.new_state()).collect();
    let mut outs: Vec<_> = (0..per_call).map(|_| model.new_output()).collect();
    let mut batch = model.new_batch(per_call);
    let erb_b: Vec<f32> = (0..per_call).flat_map(|i| erb[i % BLOCK].clone()).collect();
    let spec_b: Vec<f32> = (0..per_call).flat_map(|i| spec[i % BLOCK].clone()).collect();
    let mut evict = vec![0u8; 64 << 20];
    for gap in [Gap::Nothing, Gap::Sleep, Gap::Yield, Gap::Spin, Gap::Evict] {
        let calls = 400;
        let mut busy = Duration::ZERO;
        for _ in 0..calls {
            let mut group: Vec<_> = states.drain(..per_call).collect();
            let t = Instant::now();
            model.step_many(&mut group, &mut batch, &erb_b, &spec_b, &mut outs)?;
            busy += t.elapsed();
            states.extend(group);
            gap.pass(&mut evict);
        }
        println!(
            "step_many, {per_call} of {streams} streams rotating, {} between calls, {isa}: {:.1} µs per stream-hop",
            gap.name(),
            busy.as_secs_f64() * 1e6 / (calls * per_call) as f64
        );
    }
    Ok(())
}

/// What the live-worker imitation does between two batch calls.
#[derive(Clone, Copy)]
enum Gap {
    /// Calls back to back.
    Nothing,
    /// A worker's wait for its next tick: asleep (the core may halt).
    Sleep,
    /// The same wait yielding to the scheduler (the core stays awake).
    Yield,
    /// The same wait spinning in user space (no kernel entry at all).
    Spin,
    /// Other work that pushes the weights and states out of every cache level.
    Evict,
}

/// How long a worker waits between ticks in the imitation.
const PAUSE: Duration = Duration::from_millis(1);

impl Gap {
    fn name(self) -> &'static str {
        match self {
            Gap::Nothing => "nothing",
            Gap::Sleep => "1 ms asleep",
            Gap::Yield => "1 ms yielding",
            Gap::Spin => "1 ms spinning",
            Gap::Evict => "64 MiB of other memory traffic",
        }
    }

    fn pass(self, evict: &mut [u8]) {
        let until = Instant::now() + PAUSE;
        match self {
            Gap::Nothing => {}
            Gap::Sleep => std::thread::sleep(PAUSE),
            Gap::Yield => {
                while Instant::now() < until {
                    std::thread::yield_now();
                }
            }
            Gap::Spin => {
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
            Gap::Evict => {
                for (i, b) in evict.iter_mut().enumerate().step_by(64) {
                    *b = b.wrapping_add(i as u8);
                }
            }
        }
    }
}
