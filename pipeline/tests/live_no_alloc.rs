//! The live worker's per-block path (`Worker::step`, `Worker::stats`), the ring and the playback
//! sink allocate nothing: a counting global allocator watches them.

mod counting;

use counting::count;

use std::sync::Arc;

use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::DenoiserSettings;
use sluice_pipeline::live::{LiveError, LiveProcessor, LiveSink, PlaybackSink, Worker, XrunCounters, ring};

/// A sink into a preallocated buffer, as a real-time sink would be.
struct Fixed {
    buf: Vec<f32>,
    len: usize,
}

impl LiveSink for Fixed {
    fn write(&mut self, samples: &[f32]) -> Result<(), LiveError> {
        let n = samples.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&samples[..n]);
        self.len += n;
        Ok(())
    }
}

/// Callback-sized pushes into the ring, a worker step after each, stats now and then.
fn run_blocks(worker: &mut Worker, producer: &mut ring::Producer, input: &[f32], sink: &mut impl LiveSink) {
    let ch = producer.channels();
    for (k, chunk) in input.chunks(441 * ch).enumerate() {
        assert_eq!(producer.push(chunk), chunk.len(), "the ring has room");
        while worker.step(sink, usize::MAX).unwrap_or_else(|e| panic!("step: {e}")) > 0 {}
        if k % 4 == 0 {
            std::hint::black_box(worker.stats(sink.queued()));
        }
    }
}

/// The counter is process-wide, so everything runs from this one test.
#[test]
fn worker_step_ring_and_playback_sink_allocate_nothing() {
    assert!(count(|| drop(std::hint::black_box(vec![1u8; 8]))) > 0, "the counter counts");
    let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
    let model = Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")));
    let settings = DenoiserSettings { atten_lim_db: 12.0, ..Default::default() };
    for (channels, rate) in [(1, 48_000), (2, 44_100), (1, 16_000)] {
        let processor = LiveProcessor::denoise(model.clone(), channels, rate, settings)
            .unwrap_or_else(|e| panic!("LiveProcessor::denoise: {e}"));
        let counters = Arc::new(XrunCounters::default());
        let (mut p, c) = ring::spsc(channels, 8192);
        let mut worker = Worker::new(processor, c, counters.clone()).unwrap_or_else(|e| panic!("Worker::new: {e}"));
        let input: Vec<f32> = (0..20_000 * channels).map(|i| (i as f32 * 0.013).sin() * 0.3).collect();
        // Warm up (first-touch paths), then count.
        let mut file = Fixed { buf: vec![0.0; input.len() * 2], len: 0 };
        run_blocks(&mut worker, &mut p, &input[..4410 * channels], &mut file);
        assert_eq!(count(|| run_blocks(&mut worker, &mut p, &input, &mut file)), 0, "{rate} Hz × {channels} to a file");

        // The same through the playback ring (stereo device), drained as a callback would.
        let (pp, mut pc) = ring::spsc(2, 48_000);
        let mut playback = PlaybackSink::new(pp, channels, 4096, counters);
        let mut device = vec![0.0f32; 2 * 441];
        let allocs = count(|| {
            playback.prefill(960);
            run_blocks(&mut worker, &mut p, &input, &mut playback);
            while pc.pop(&mut device) > 0 {}
        });
        assert_eq!(allocs, 0, "{rate} Hz × {channels} to playback");
    }
}
