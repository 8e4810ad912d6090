//! `sluice live`: the microphone denoised in real time, to the speakers or a WAV file.
//!
//! capture callback → lock-free ring → worker (this thread: resample, DFN3, display) → ring →
//! playback callback, or → WAV. The real-time parts are `sluice_pipeline::live`; this module
//! picks the audio system and devices ([`devices`]), opens the cpal streams ([`streams`]),
//! draws the status line ([`display`]) and turns stream failures into clear errors. A stop
//! request (SIGINT/SIGTERM sets the flag) ends the run cleanly: what was captured is processed,
//! the tail flushed and the WAV's header finalised.

pub mod devices;
pub mod display;
pub mod streams;

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use cpal::traits::StreamTrait;
use sluice_pipeline::audio::{WavSampleFormat, WavSink};
use sluice_pipeline::live::{
    LiveProcessor, LiveSink, LiveStats, LiveSummary, PlaybackSink, RunLimits, Worker, XrunCounters, ring,
};

use crate::cli::LiveArgs;
use devices::Direction;
use display::StatusLine;
use streams::StreamError;

/// Audio the rings between the callbacks and the worker can hold: far more than a block or a
/// device buffer, so only a stalled worker overruns. (Only what is queued adds delay.)
const RING_SECONDS: f64 = 4.0;
/// Silence queued ahead of playback so the first blocks do not underrun.
const PLAYBACK_CUSHION_MS: u32 = 30;
/// No captured audio for this long means the input device stopped delivering.
const STALL: Duration = Duration::from_secs(3);

/// Prints `--list-devices` for the audio system `args.host` selects.
pub fn list_devices(args: &LiveArgs) -> Result<String> {
    devices::listing(&devices::open_host(args.host)?)
}

/// Runs the live stream until `stop` is set (or `--duration` is reached, or a device fails).
/// Progress and the status line go to stderr.
pub fn run(args: &LiveArgs, stop: &AtomicBool) -> Result<LiveSummary> {
    let host = devices::open_host(args.host)?;
    let input = devices::find(&host, Direction::Input, args.input.as_deref())?;
    let in_format = streams::input_format(&input, args.buffer)?;
    let rate = in_format.config.sample_rate;
    let channels = usize::from(in_format.config.channels);

    let processor = if args.passthrough {
        LiveProcessor::bypass(channels, rate)?
    } else {
        LiveProcessor::denoise(crate::denoise::load_model()?, channels, rate, args.denoiser_settings())
            .with_context(|| format!("cannot denoise the input's format ({in_format})"))?
    };
    let counters = Arc::new(XrunCounters::default());
    let ring_frames = (f64::from(rate) * RING_SECONDS) as usize;
    let (capture_tx, capture_rx) = ring::spsc(channels, ring_frames);
    let mut worker = Worker::new(processor, capture_rx, counters.clone())?;
    let (errors_tx, errors) = streams::error_channel();
    let limits = RunLimits {
        max_frames: args.duration.map(|d| (d.as_secs_f64() * f64::from(rate)).round() as u64),
        ..RunLimits::default()
    };
    let mode = if args.passthrough { "passthrough" } else { "DFN3" };
    let in_label = devices::label(&input);

    match &args.output {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut sink = WavSink::new(file, path, rate, channels, WavSampleFormat::Int16)?;
            let capture = streams::capture(&input, in_format, capture_tx, counters, errors_tx)?;
            capture.play().context("cannot start capturing")?;
            eprintln!("sluice live: {in_label} [{in_format}] → {mode} → {}; Ctrl-C to stop", path.display());
            let outcome = pump(&mut worker, &mut sink, stop, limits, &errors, args.passthrough);
            drop(capture);
            // Finalise the header whatever happened: the WAV holds everything captured so far.
            sink.finish()?;
            outcome
        }
        None => {
            let output = devices::find(&host, Direction::Output, args.output_device.as_deref())?;
            let out_format = streams::output_format(&output, rate, args.buffer)?;
            let out_channels = usize::from(out_format.config.channels);
            let (playback_tx, playback_rx) = ring::spsc(out_channels, ring_frames);
            let block = worker.processor().block() * 2;
            let mut sink = PlaybackSink::new(playback_tx, channels, block, counters.clone());
            sink.prefill((rate * PLAYBACK_CUSHION_MS / 1000) as usize);
            let playback = streams::playback(&output, out_format, playback_rx, counters.clone(), errors_tx.clone())?;
            let capture = streams::capture(&input, in_format, capture_tx, counters, errors_tx)?;
            playback.play().context("cannot start playback")?;
            capture.play().context("cannot start capturing")?;
            eprintln!(
                "sluice live: {in_label} [{in_format}] → {mode} → {} [{out_format}]; Ctrl-C to stop",
                devices::label(&output)
            );
            let outcome = pump(&mut worker, &mut sink, stop, limits, &errors, args.passthrough);
            drop(capture);
            drop(playback);
            outcome
        }
    }
}

/// Runs the worker with the status line, watching for stream errors and a silent input.
fn pump(
    worker: &mut Worker,
    sink: &mut impl LiveSink,
    stop: &AtomicBool,
    limits: RunLimits,
    errors: &Receiver<StreamError>,
    bypass: bool,
) -> Result<LiveSummary> {
    let mut status = StatusLine::new(bypass);
    let mut failure = None;
    let (mut last_frames, mut last_change) = (0, Instant::now());
    let tick = |s: &LiveStats| {
        if let Ok(e) = errors.try_recv() {
            failure = Some(anyhow!(streams::explain(&e)));
            return false;
        }
        if s.captured_frames != last_frames {
            (last_frames, last_change) = (s.captured_frames, Instant::now());
        } else if last_change.elapsed() >= STALL {
            failure = Some(anyhow!(
                "no audio from the input device for {} s: it stopped delivering (unplugged or suspended?)",
                STALL.as_secs()
            ));
            return false;
        }
        status.draw(s);
        true
    };
    let summary = worker.run(sink, stop, limits, tick);
    status.finish();
    let summary = summary?;
    match failure {
        Some(e) => Err(e.context(format!(
            "stopped after {:.1} s of audio",
            summary.captured_frames as f64 / f64::from(summary.sample_rate)
        ))),
        None => Ok(summary),
    }
}
