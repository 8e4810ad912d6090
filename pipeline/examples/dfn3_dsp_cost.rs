//! Per-hop cost of the DFN3 DSP (no network), single thread, best of several passes.
//!
//! `cargo run --release -p sluice-pipeline --example dfn3_dsp_cost`

use sluice_pipeline::dsp::{
    Analysis, Complex32, Dfn3Dsp, DspConfig, DspError, ErbFeatures, FrontEnd, SpecFeatures, StageOutput, Synthesis,
};
use std::time::Instant;

/// Hops of test audio (10 s).
const HOPS: usize = 1000;
/// Hops per timed block: short blocks let best-of skip the blocks a busy machine preempted.
const BLOCK: usize = 100;
const PASSES: usize = 300;

/// Best mean time per hop in µs of `f(hop_index)` over `PASSES` blocks of `BLOCK` hops
/// (the stream continues across blocks, cycling through the audio).
fn best_us(mut f: impl FnMut(usize) -> Result<(), DspError>) -> Result<f64, DspError> {
    let mut best = f64::INFINITY;
    for p in 0..PASSES {
        let t = Instant::now();
        for i in 0..BLOCK {
            f((p * BLOCK + i) % HOPS)?;
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / BLOCK as f64);
    }
    Ok(best)
}

fn main() -> Result<(), DspError> {
    let cfg = DspConfig::DFN3;
    // 10 s of a deterministic noisy chirp-like signal.
    let audio: Vec<f32> = (0..HOPS * 480)
        .map(|n| {
            let s = n as f32 / 48000.0;
            0.3 * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * s) * s).sin()
                + 0.01 * ((n * 7919 % 1000) as f32 - 500.0) / 500.0
        })
        .collect();
    let hop = |i: usize| &audio[i * 480..(i + 1) * 480];
    let mut spec = vec![Complex32::new(0.0, 0.0); 481];
    let mut out = vec![0.0f32; 480];
    let (mut fe, mut fs) = (vec![0.0f32; 32], vec![0.0f32; 192]);

    let mut a = Analysis::new(&cfg)?;
    let mut s = Synthesis::new(&cfg)?;
    let mut erb = ErbFeatures::new(&cfg)?;
    let mut sf = SpecFeatures::new(&cfg)?;
    let t_ana = best_us(|i| a.process(hop(i), &mut spec))?;
    let t_feat = best_us(|_| {
        erb.process(&spec, &mut fe)?;
        sf.process(&spec, &mut fs)
    })?;
    let t_syn = best_us(|_| s.process(&spec, &mut out))?;
    let t_all = best_us(|i| {
        a.process(hop(i), &mut spec)?;
        erb.process(&spec, &mut fe)?;
        sf.process(&spec, &mut fs)?;
        s.process(&spec, &mut out)
    })?;

    let mask = vec![0.6f32; 32];
    let coefs: Vec<f32> = (0..960).map(|i| ((i % 11) as f32 - 5.0) * 0.05).collect();
    let mut driver = |atten: f32, beta: f32| -> Result<f64, DspError> {
        let mut d = Dfn3Dsp::new(&cfg)?;
        d.set_atten_lim_db(atten);
        d.set_post_filter_beta(beta);
        best_us(|i| {
            if d.front(hop(i), &mut out, &mut fe, &mut fs)? == FrontEnd::Features {
                d.back(StageOutput::ErbDf { mask: &mask, coefs: &coefs }, &mut out)?;
            }
            Ok(())
        })
    };
    let t_full = driver(100.0, 0.0)?;
    let t_full_pf = driver(12.0, 0.02)?;

    println!("DFN3 DSP per hop (480 samples = 10 ms), best of {PASSES} blocks of {BLOCK} hops, 1 thread:");
    println!("  analysis (window + rfft 960 + scale)      {t_ana:7.2} µs");
    println!("  features (feat_erb + feat_spec)           {t_feat:7.2} µs");
    println!("  synthesis (irfft 960 + window + OLA)      {t_syn:7.2} µs");
    println!("  analysis + features + synthesis           {t_all:7.2} µs");
    println!("  Dfn3Dsp front+back, mask + DF             {t_full:7.2} µs");
    println!("  Dfn3Dsp front+back, + post-filter + limit {t_full_pf:7.2} µs");
    Ok(())
}
