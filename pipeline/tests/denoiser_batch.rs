//! [`HopBatch`] over many [`BatchStream`]s gives each stream exactly what its own
//! `Denoiser`/`ResampledDenoiser::process` + `flush` give, whatever the mix of rates, channels,
//! settings, chunk sizes and batch capacity.

use std::sync::{Arc, OnceLock};

use rand::{Rng, SeedableRng, rngs::StdRng};
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::{BatchStream, Denoiser, DenoiserSettings, HopBatch, ResampledDenoiser};
use sluice_pipeline::dsp::StageThresholds;

fn model() -> Arc<Dfn3Model> {
    static MODEL: OnceLock<Arc<Dfn3Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
            Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")))
        })
        .clone()
}

/// A stream under test: rate, channels, settings, and a leading stretch of digital silence
/// (so the silence gate's no-network path is mixed into the batch).
#[derive(Clone, Copy)]
struct Case {
    rate: usize,
    channels: usize,
    settings: DenoiserSettings,
    silent_frames: usize,
}

const SPICY: DenoiserSettings =
    DenoiserSettings { atten_lim_db: 12.0, post_filter_beta: 0.02, thresholds: StageThresholds::C_API };
/// libDF's library thresholds: noise-only hops run no decoder.
const LIBRARY: DenoiserSettings =
    DenoiserSettings { atten_lim_db: 100.0, post_filter_beta: 0.0, thresholds: StageThresholds::LIBRARY_DEFAULT };
/// Thresholds under which every stage occurs, so batches mix rows running both, one or no decoder.
const STAGES: DenoiserSettings = DenoiserSettings {
    atten_lim_db: 12.0,
    post_filter_beta: 0.02,
    thresholds: StageThresholds { min_db: -5.0, max_erb_db: 10.0, max_df_db: 0.0 },
};

fn cases() -> Vec<Case> {
    let d = DenoiserSettings::default();
    vec![
        Case { rate: 48_000, channels: 1, settings: d, silent_frames: 0 },
        Case { rate: 48_000, channels: 2, settings: SPICY, silent_frames: 2_000 },
        Case { rate: 16_000, channels: 2, settings: d, silent_frames: 0 },
        Case { rate: 44_100, channels: 1, settings: SPICY, silent_frames: 0 },
        // 22.05 kHz blocks hold two 48 kHz hops: a stream stays ready over two runs.
        Case { rate: 22_050, channels: 1, settings: d, silent_frames: 700 },
        Case { rate: 48_000, channels: 3, settings: d, silent_frames: 0 },
        Case { rate: 48_000, channels: 1, settings: LIBRARY, silent_frames: 0 },
        Case { rate: 16_000, channels: 2, settings: STAGES, silent_frames: 0 },
        Case { rate: 48_000, channels: 2, settings: STAGES, silent_frames: 1_000 },
    ]
}

/// Noisy tones: a seeded mix of sines and white noise, interleaved, after `silent` zero frames.
fn signal(case: Case, frames: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = vec![0.0; case.silent_frames * case.channels];
    for i in 0..frames {
        let t = i as f32 / case.rate as f32;
        for c in 0..case.channels {
            let f = 220.0 * (c + 1) as f32;
            let tone = 0.3 * (2.0 * std::f32::consts::PI * f * t).sin() * (0.5 + 0.5 * (6.0 * t).sin());
            out.push(tone + rng.random_range(-0.08..0.08));
        }
    }
    out
}

/// The reference: the stream's own `process` in the given chunks, then `flush`.
fn reference(case: Case, input: &[f32], chunks: &[usize]) -> Vec<f32> {
    let nch = case.channels;
    let mut out = Vec::new();
    let mut buf = vec![0.0; 48_000 * nch];
    let mut pos = 0;
    let mut chunks = chunks.iter().cycle();
    if case.rate == 48_000 {
        let mut d = Denoiser::new(model(), nch).unwrap_or_else(|e| panic!("Denoiser::new: {e}"));
        d.set_settings(case.settings);
        while pos < input.len() {
            let n = (chunks.next().copied().unwrap_or(1) * nch).min(input.len() - pos);
            let (c, p) = d.process(&input[pos..pos + n], &mut buf).unwrap_or_else(|e| panic!("process: {e}"));
            assert_eq!(c, n);
            out.extend_from_slice(&buf[..p]);
            pos += n;
        }
        let n = d.flush(&mut buf).unwrap_or_else(|e| panic!("flush: {e}"));
        out.extend_from_slice(&buf[..n]);
    } else {
        let mut d =
            ResampledDenoiser::new(model(), nch, case.rate).unwrap_or_else(|e| panic!("ResampledDenoiser::new: {e}"));
        d.inner_mut().set_settings(case.settings);
        while pos < input.len() {
            let n = (chunks.next().copied().unwrap_or(1) * nch).min(input.len() - pos);
            let (c, p) = d.process(&input[pos..pos + n], &mut buf).unwrap_or_else(|e| panic!("process: {e}"));
            assert_eq!(c, n);
            out.extend_from_slice(&buf[..p]);
            pos += n;
        }
        let n = d.flush(&mut buf).unwrap_or_else(|e| panic!("flush: {e}"));
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Every stream fed in the given chunks (one chunk per stream per round, as a server tick
/// would), all run through one `HopBatch`; then each stream's flush zeros the same way.
/// Returns the outputs and the decoder runs the batch skipped.
fn batched(batch: &mut HopBatch, cases: &[Case], inputs: &[Vec<f32>], chunks: &[usize]) -> (Vec<Vec<f32>>, usize) {
    let mut streams: Vec<BatchStream> = cases
        .iter()
        .map(|c| {
            let mut s = BatchStream::new(model(), c.channels, c.rate).unwrap_or_else(|e| panic!("BatchStream: {e}"));
            s.set_settings(c.settings);
            s
        })
        .collect();
    let mut outs = vec![Vec::new(); cases.len()];
    // Input positions; past the input, each stream is fed its flush zeros.
    let mut pos = vec![0; cases.len()];
    // Flush zeros still to feed; MAX until the input is through.
    let mut flush_left = vec![usize::MAX; cases.len()];
    let zeros = vec![0.0f32; 100_000];
    let mut round = 0;
    let mut skipped = 0;
    loop {
        let mut pending = false;
        for (i, s) in streams.iter_mut().enumerate() {
            let nch = cases[i].channels;
            let mut budget = chunks[(round + i) % chunks.len()] * nch;
            loop {
                let taken = if pos[i] < inputs[i].len() {
                    let n = budget.min(inputs[i].len() - pos[i]);
                    let c = s.push(&inputs[i][pos[i]..pos[i] + n]).unwrap_or_else(|e| panic!("push: {e}"));
                    pos[i] += c;
                    c
                } else {
                    if flush_left[i] == usize::MAX {
                        flush_left[i] = s.flush_frames() * nch;
                    }
                    let n = budget.min(flush_left[i]);
                    let c = s.push(&zeros[..n]).unwrap_or_else(|e| panic!("push zeros: {e}"));
                    flush_left[i] -= c;
                    c
                };
                budget -= taken;
                if taken == 0 || budget == 0 {
                    break;
                }
            }
            pending |= pos[i] < inputs[i].len() || flush_left[i] != 0 || s.ready();
        }
        let run = batch.run(&mut streams).unwrap_or_else(|e| panic!("batch run: {e}"));
        assert!(run.network_calls <= run.network_hops.div_ceil(batch.capacity()) + cases.len());
        assert!(run.decoders_skipped <= 2 * run.network_hops);
        skipped += run.decoders_skipped;
        for (i, s) in streams.iter_mut().enumerate() {
            outs[i].extend_from_slice(s.output());
            s.clear_output();
        }
        round += 1;
        if !pending && run.streams == 0 {
            break;
        }
        assert!(round < 100_000, "batched streams never finished");
    }
    (outs, skipped)
}

fn check(batch: &mut HopBatch, chunks: &[usize]) {
    let cases = cases();
    let inputs: Vec<Vec<f32>> =
        cases.iter().enumerate().map(|(i, &c)| signal(c, c.rate * 3 / 10, 7 + i as u64)).collect();
    let (got, skipped) = batched(batch, &cases, &inputs, chunks);
    // The gated streams' hops skip decoders, so batches mix rows running both, one and none.
    assert!(skipped > 100, "only {skipped} decoder runs were skipped: the gated cases prove nothing");
    for (i, &case) in cases.iter().enumerate() {
        let want = reference(case, &inputs[i], &[333, 480, 17]);
        assert_eq!(got[i].len(), want.len(), "stream {i} ({} Hz, {} ch): output length", case.rate, case.channels);
        let worst = want.iter().zip(&got[i]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst == 0.0, "stream {i} ({} Hz, {} ch): batched differs by up to {worst}", case.rate, case.channels);
        let energy: f32 = want.iter().map(|v| v * v).sum();
        assert!(energy > 1e-3, "stream {i}: the reference is silent ({energy}), the comparison proves nothing");
    }
}

#[test]
fn batched_streams_equal_their_own_process() {
    // Capacity 4 < ready channels (12) per round: several network calls per run.
    check(&mut HopBatch::new(model(), 4), &[480, 160, 1000, 77]);
    // Capacity larger than everything, odd chunk sizes.
    check(&mut HopBatch::new(model(), 64), &[1, 999, 4_800, 37]);
}

#[test]
fn unbatched_runner_gives_the_same_output() {
    let mut b = HopBatch::unbatched(model());
    assert!(!b.is_batched());
    check(&mut b, &[480, 250]);
}

#[test]
fn a_stream_of_another_model_is_refused() {
    let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("weights: {e}"));
    let other = Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("model: {e}")));
    let mut s = BatchStream::new(other, 1, 48_000).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = StdRng::seed_from_u64(1);
    let x: Vec<f32> = (0..480).map(|_| rng.random_range(-0.1..0.1)).collect();
    assert_eq!(s.push(&x).unwrap_or_else(|e| panic!("{e}")), 480);
    assert!(s.ready());
    assert!(HopBatch::new(model(), 2).run(&mut [s]).is_err());
}

#[test]
fn push_takes_whole_frames_only_and_stops_at_a_ready_hop() {
    let mut s = BatchStream::new(model(), 2, 48_000).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.push(&[0.0; 3]).is_err(), "half a stereo frame must be refused");
    assert_eq!(s.push(&[0.1; 2_000]).unwrap_or_else(|e| panic!("{e}")), 960);
    assert!(s.ready());
    assert_eq!(s.push(&[0.1; 2]).unwrap_or_else(|e| panic!("{e}")), 0, "a ready hop blocks further input");
    HopBatch::new(model(), 1).run(std::slice::from_mut(&mut s)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.output().len(), 960);
    assert_eq!(s.push(&[0.1; 2]).unwrap_or_else(|e| panic!("{e}")), 0, "untaken output blocks further input");
    s.clear_output();
    assert_eq!(s.push(&[0.1; 2]).unwrap_or_else(|e| panic!("{e}")), 2);
    assert_eq!((s.unit_frames(), s.latency(), s.sample_rate(), s.channels()), (480, 1440, 48_000, 2));
}
