//! `Denoiser::process` and `flush` allocate nothing: a counting global allocator watches them.

mod counting;

use counting::count;

use std::sync::Arc;

use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::{BatchStream, Denoiser, DenoiserSettings, HopBatch, ResampledDenoiser};

/// The counter is process-wide, so everything runs from this one test.
#[test]
fn process_and_flush_allocate_nothing() {
    assert!(count(|| drop(std::hint::black_box(vec![1u8; 8]))) > 0, "the counter counts");
    let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
    let model = Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")));
    for (channels, settings) in [
        (1, DenoiserSettings::default()),
        (2, DenoiserSettings { atten_lim_db: 12.0, post_filter_beta: 0.02, ..Default::default() }),
    ] {
        let mut d = Denoiser::new(model.clone(), channels).unwrap_or_else(|e| panic!("Denoiser::new: {e}"));
        d.set_settings(settings);
        let input: Vec<f32> = (0..4_000 * channels).map(|i| (i as f32 * 0.013).sin() * 0.3).collect();
        let mut out = vec![0.0; 6_000 * channels];
        let mut flushed = vec![0.0; d.flush_len() + 480 * channels];
        // Warm up once (first-touch paths), then count over chunks that split hops.
        let mut run = |d: &mut Denoiser| {
            let mut pos = 0;
            let mut produced = 0;
            for n in [123, 480, 1000, 7, 2390] {
                let n = n * channels;
                let (c, p) =
                    d.process(&input[pos..pos + n], &mut out[produced..]).unwrap_or_else(|e| panic!("process: {e}"));
                pos += c;
                produced += p;
            }
            d.flush(&mut flushed).unwrap_or_else(|e| panic!("flush: {e}"));
            d.reset();
        };
        run(&mut d);
        assert_eq!(count(|| run(&mut d)), 0, "{channels} channel(s) allocated");
    }
    for (channels, rate) in [(1, 44_100), (2, 16_000)] {
        let mut d = ResampledDenoiser::new(model.clone(), channels, rate)
            .unwrap_or_else(|e| panic!("ResampledDenoiser::new: {e}"));
        let input: Vec<f32> = (0..4_000 * channels).map(|i| (i as f32 * 0.017).sin() * 0.3).collect();
        let mut out = vec![0.0; 6_000 * channels];
        let mut flushed = vec![0.0; d.flush_len() + d.block() * channels];
        let mut run = |d: &mut ResampledDenoiser| {
            let mut pos = 0;
            let mut produced = 0;
            for n in [123, 480, 1000, 7, 2390] {
                let n = n * channels;
                let (c, p) =
                    d.process(&input[pos..pos + n], &mut out[produced..]).unwrap_or_else(|e| panic!("process: {e}"));
                pos += c;
                produced += p;
            }
            d.flush(&mut flushed).unwrap_or_else(|e| panic!("flush: {e}"));
            d.reset();
        };
        run(&mut d);
        assert_eq!(count(|| run(&mut d)), 0, "{rate} Hz, {channels} channel(s) allocated");
    }
    // Split-phase batching: push, run, take output, flush zeros; mixed rates and channels.
    let mut streams: Vec<BatchStream> = [(1, 48_000), (2, 16_000), (1, 22_050), (2, 48_000)]
        .into_iter()
        .map(|(ch, rate)| BatchStream::new(model.clone(), ch, rate).unwrap_or_else(|e| panic!("BatchStream: {e}")))
        .collect();
    let mut batch = HopBatch::new(model.clone(), 3);
    let input: Vec<f32> = (0..20_000).map(|i| (i as f32 * 0.011).sin() * 0.3).collect();
    let zeros = vec![0.0f32; 20_000];
    let mut sink = 0.0f32;
    let mut run = |streams: &mut Vec<BatchStream>, sink: &mut f32| {
        for round in 0..40 {
            for s in streams.iter_mut() {
                let n = [160, 480, 77, 1_000][round % 4] * s.channels();
                let src = if round < 30 { &input[..n] } else { &zeros[..n] };
                let mut pos = 0;
                while pos < n {
                    let c = s.push(&src[pos..n]).unwrap_or_else(|e| panic!("push: {e}"));
                    if c == 0 {
                        break;
                    }
                    pos += c;
                }
            }
            batch.run(streams).unwrap_or_else(|e| panic!("batch run: {e}"));
            for s in streams.iter_mut() {
                *sink += s.output().iter().sum::<f32>();
                s.clear_output();
            }
        }
        for s in streams.iter_mut() {
            s.reset();
        }
    };
    run(&mut streams, &mut sink);
    assert_eq!(count(|| run(&mut streams, &mut sink)), 0, "batched streams allocated");
    assert!(sink.is_finite());
}
