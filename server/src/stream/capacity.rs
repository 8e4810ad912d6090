//! The default stream cap, from the model's measured speed on this machine at start-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_models::dfn3::Dfn3Model;
use sluice_pipeline::denoise::{BatchStream, DenoiseError, HopBatch};

use super::worker::HOP_PERIOD;

/// Share of each worker's time the cap plans to use (by this calibration's per-hop cost); the rest
/// absorbs what calibration does not see: cold per-stream state, socket work and the I/O
/// threads on the same cores, and jitter. Measured on 2 Zen 4 cores: at about a third (60
/// streams) p99 hop round trips stay under 10 ms; at 80 streams a run in three stays under 20 ms.
/// On 2 Zen 5 cores this plans 118–138 streams, where p99 stays under 13 ms (README, Performance).
pub const HEADROOM: f64 = 0.3;
/// Streams in the calibration batch.
const CALIBRATION_STREAMS: usize = 32;
/// Hops timed per stream (after one warm-up hop).
const CALIBRATION_HOPS: usize = 20;
/// Never plan for more than this many streams, however fast the machine.
pub const MAX_STREAMS: usize = 4_096;

/// What calibration measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Batched compute time per 48 kHz mono stream hop.
    pub per_hop: Duration,
    /// Streams the workers hold with [`HEADROOM`].
    pub max_streams: usize,
}

/// Times `CALIBRATION_STREAMS` 48 kHz mono streams of noise through `batch` (the runner the
/// workers use, so batching on/off is measured as configured) and plans `workers` workers.
pub fn calibrate(model: &Arc<Dfn3Model>, mut batch: HopBatch, workers: usize) -> Result<Capacity, DenoiseError> {
    let mut streams =
        (0..CALIBRATION_STREAMS).map(|_| BatchStream::new(model.clone(), 1, 48_000)).collect::<Result<Vec<_>, _>>()?;
    // Deterministic noise, loud enough that no silence gate skips the network.
    let mut x = 0x2545_f491_u32;
    let noise: Vec<f32> = (0..480 * (CALIBRATION_HOPS + 1))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 - 0.5) * 0.2
        })
        .collect();
    let mut timed = Duration::ZERO;
    for (hop, chunk) in noise.chunks_exact(480).enumerate() {
        for s in &mut streams {
            s.push(chunk)?;
        }
        let start = Instant::now();
        batch.run(&mut streams)?;
        if hop > 0 {
            timed += start.elapsed();
        }
        for s in &mut streams {
            s.clear_output();
        }
    }
    let per_hop = timed / (CALIBRATION_STREAMS * CALIBRATION_HOPS) as u32;
    let per_worker = (HOP_PERIOD.as_secs_f64() * HEADROOM / per_hop.as_secs_f64().max(1e-9)).floor() as usize;
    Ok(Capacity { per_hop, max_streams: (per_worker * workers).clamp(1, MAX_STREAMS) })
}
