//! The live worker loop: what goes into the capture ring comes out of the sink aligned and
//! complete — unchanged when bypassed, equal to the offline denoiser otherwise.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::{Denoiser, DenoiserSettings, ResampledDenoiser};
use sluice_pipeline::live::{LiveError, LiveProcessor, LiveSink, PlaybackSink, RunLimits, Worker, XrunCounters, ring};

/// A sink that keeps everything (tests only: it allocates).
#[derive(Default)]
struct Collect(Vec<f32>);

impl LiveSink for Collect {
    fn write(&mut self, samples: &[f32]) -> Result<(), LiveError> {
        self.0.extend_from_slice(samples);
        Ok(())
    }
}

fn model() -> Arc<Dfn3Model> {
    let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
    Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")))
}

/// Speech-like test signal: a warbling tone with a little deterministic noise.
fn signal(frames: usize, channels: usize, rate: f32) -> Vec<f32> {
    let mut seed = 0x2545_f491_u32;
    (0..frames * channels)
        .map(|i| {
            let t = (i / channels) as f32 / rate;
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (seed as f32 / u32::MAX as f32 - 0.5) * 0.05;
            0.3 * (2.0 * std::f32::consts::PI * (220.0 + 80.0 * (3.0 * t).sin()) * t).sin() + noise
        })
        .collect()
}

/// Pushes `input` into the ring in uneven callback-sized pieces, stepping the worker whenever the
/// ring is full, as the real threads would interleave; then finishes.
fn stream_through(worker: &mut Worker, producer: &mut ring::Producer, input: &[f32], sink: &mut Collect) {
    let ch = producer.channels();
    let mut pos = 0;
    let sizes = [441, 64, 1024, 5, 480, 333];
    let mut k = 0;
    while pos < input.len() {
        let n = (sizes[k % sizes.len()] * ch).min(input.len() - pos);
        k += 1;
        let mut pushed = 0;
        while pushed < n {
            pushed += producer.push(&input[pos + pushed..pos + n]);
            worker.step(sink, usize::MAX).unwrap_or_else(|e| panic!("step: {e}"));
        }
        pos += n;
    }
    while worker.step(sink, usize::MAX).unwrap_or_else(|e| panic!("step: {e}")) > 0 {}
    worker.finish(sink).unwrap_or_else(|e| panic!("finish: {e}"));
}

fn worker_for(processor: LiveProcessor) -> (Worker, ring::Producer) {
    let (p, c) = ring::spsc(processor.channels(), 4096);
    let w = Worker::new(processor, c, Arc::new(XrunCounters::default())).unwrap_or_else(|e| panic!("Worker::new: {e}"));
    (w, p)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn bypass_passes_every_sample_unchanged() {
    let input = signal(10_000, 2, 44_100.0);
    let (mut w, mut p) = worker_for(LiveProcessor::bypass(2, 44_100).unwrap_or_else(|e| panic!("{e}")));
    let mut sink = Collect::default();
    stream_through(&mut w, &mut p, &input, &mut sink);
    assert_eq!(sink.0, input);
}

#[test]
fn denoised_stream_equals_the_offline_denoiser() {
    let model = model();
    let settings = DenoiserSettings { atten_lim_db: 20.0, ..Default::default() };
    let input = signal(20_000, 1, 48_000.0);
    let mut offline = Denoiser::new(model.clone(), 1).unwrap_or_else(|e| panic!("{e}"));
    offline.set_settings(settings);
    let want = offline.denoise_buffer(&input).unwrap_or_else(|e| panic!("{e}"));

    let processor = LiveProcessor::denoise(model, 1, 48_000, settings).unwrap_or_else(|e| panic!("{e}"));
    let (mut w, mut p) = worker_for(processor);
    let mut sink = Collect::default();
    stream_through(&mut w, &mut p, &input, &mut sink);
    assert_eq!(sink.0.len(), input.len(), "aligned: as many frames out as in");
    let diff = max_abs_diff(&sink.0, &want);
    assert!(diff < 1e-6, "live output differs from the offline denoiser by {diff}");
    assert!(max_abs_diff(&sink.0, &input) > 0.01, "the model changed the signal");
    assert!(w.stats(0).lsnr_db.is_some_and(f32::is_finite));
}

#[test]
fn resampled_stream_equals_the_offline_resampled_denoiser() {
    let model = model();
    let input = signal(15_000, 2, 44_100.0);
    let mut offline = ResampledDenoiser::new(model.clone(), 2, 44_100).unwrap_or_else(|e| panic!("{e}"));
    let want = offline.denoise_buffer(&input).unwrap_or_else(|e| panic!("{e}"));

    let processor =
        LiveProcessor::denoise(model, 2, 44_100, DenoiserSettings::default()).unwrap_or_else(|e| panic!("{e}"));
    let (mut w, mut p) = worker_for(processor);
    let mut sink = Collect::default();
    stream_through(&mut w, &mut p, &input, &mut sink);
    assert_eq!(sink.0.len(), input.len());
    let diff = max_abs_diff(&sink.0, &want);
    assert!(diff < 1e-6, "live output differs from the offline denoiser by {diff}");
}

/// `run` with a stop flag already set still processes what was captured before it, and flushes.
#[test]
fn run_drains_the_backlog_after_stop() {
    let input = signal(3_000, 1, 16_000.0);
    let (mut w, mut p) = worker_for(LiveProcessor::bypass(1, 16_000).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(p.push(&input), input.len());
    let mut sink = Collect::default();
    let summary =
        w.run(&mut sink, &AtomicBool::new(true), RunLimits::default(), |_| true).unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!(sink.0, input);
    assert_eq!((summary.captured_frames, summary.written_frames), (3_000, 3_000));
}

/// A frame limit stops the run at exactly that many frames, though more are waiting.
#[test]
fn run_stops_at_the_frame_limit_and_reports_stats() {
    let model = model();
    let input = signal(4_000, 1, 48_000.0);
    let processor =
        LiveProcessor::denoise(model, 1, 48_000, DenoiserSettings::default()).unwrap_or_else(|e| panic!("{e}"));
    let (mut w, mut p) = worker_for(processor);
    assert_eq!(p.push(&input), input.len());
    let mut sink = Collect::default();
    let mut ticks = Vec::new();
    let limits = RunLimits { max_frames: Some(2_500), stats_every: Duration::ZERO, ..Default::default() };
    let summary = w
        .run(&mut sink, &AtomicBool::new(false), limits, |s| {
            ticks.push(*s);
            true
        })
        .unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!((summary.captured_frames, summary.written_frames), (2_500, 2_500));
    assert_eq!(sink.0.len(), 2_500);
    let first = ticks.first().unwrap_or_else(|| panic!("no stats"));
    assert!((first.input_peak_dbfs - 20.0 * 0.325f32.log10()).abs() < 1.0, "peak {}", first.input_peak_dbfs);
    assert!(first.latency_ms >= 30.0, "at least the model's 30 ms: {}", first.latency_ms);
}

/// A `tick` that returns false ends the run like the stop flag.
#[test]
fn tick_can_stop_the_run() {
    let (mut w, _p) = worker_for(LiveProcessor::bypass(1, 48_000).unwrap_or_else(|e| panic!("{e}")));
    let limits = RunLimits { stats_every: Duration::ZERO, ..Default::default() };
    let mut sink = Collect::default();
    let summary = w.run(&mut sink, &AtomicBool::new(false), limits, |_| false).unwrap_or_else(|e| panic!("run: {e}"));
    assert_eq!(summary.captured_frames, 0);
}

#[test]
fn playback_sink_maps_channels_and_counts_overflows() {
    let counters = Arc::new(XrunCounters::default());
    let (p, mut c) = ring::spsc(2, 4);
    let mut sink = PlaybackSink::new(p, 1, 3, counters.clone());
    sink.write(&[0.1, 0.2, 0.3]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sink.queued(), 3, "queued in stream samples");
    assert_eq!(counters.snapshot().playback_overflows, 0);
    sink.write(&[0.4, 0.5]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counters.snapshot().playback_overflows, 1, "the fifth frame did not fit");
    let mut out = [0.0; 10];
    assert_eq!(c.pop(&mut out), 8);
    assert_eq!(out[..8], [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4]);
}

#[test]
fn mismatched_ring_is_refused() {
    let (_p, c) = ring::spsc(2, 16);
    let processor = LiveProcessor::bypass(1, 48_000).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        Worker::new(processor, c, Arc::new(XrunCounters::default())),
        Err(LiveError::Channels { ring: 2, stream: 1 })
    ));
}
