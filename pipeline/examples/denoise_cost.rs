//! End-to-end cost of one hop of the streaming [`Denoiser`] (DSP + network, one thread, mono):
//! `cargo run --release -p sluice-pipeline --example denoise_cost`.

use std::sync::Arc;
use std::time::Instant;

use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::Denoiser;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = Arc::new(Dfn3Model::new(&Dfn3Weights::bundled()?)?);
    let mut d = Denoiser::new(model, 1)?;
    let hops = 500;
    let hop = d.hop();
    let input: Vec<f32> =
        (0..hops * hop).map(|i| ((i as f32) * 0.031).sin() * 0.2 + ((i * 7919 % 1000) as f32 - 500.0) * 1e-4).collect();
    let mut out = vec![0.0; hop];
    let mut per_hop = Vec::with_capacity(hops);
    let mut best_mean = f64::MAX;
    for _rep in 0..5 {
        d.reset();
        per_hop.clear();
        let t0 = Instant::now();
        for chunk in input.chunks_exact(hop) {
            let t = Instant::now();
            d.process(chunk, &mut out)?;
            per_hop.push(t.elapsed().as_secs_f64() * 1e6);
        }
        best_mean = best_mean.min(t0.elapsed().as_secs_f64() * 1e6 / hops as f64);
    }
    per_hop.sort_by(f64::total_cmp);
    let pct = |p: f64| per_hop[((per_hop.len() - 1) as f64 * p) as usize];
    println!(
        "denoiser, 1 channel, 1 thread, {hops} hops of {hop}: best mean {best_mean:.1} µs/hop; last run median {:.1} µs, p99 {:.1} µs; RTF {:.4}",
        pct(0.5),
        pct(0.99),
        best_mean / 10_000.0
    );
    Ok(())
}
