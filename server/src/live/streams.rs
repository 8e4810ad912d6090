//! The cpal streams of `sluice live`. Their callbacks only move samples between the device and
//! a ring (converting the sample format on the way) and bump atomic counters: no allocation,
//! no lock, no printing. Errors other than xruns go to the worker through a bounded channel.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cpal::traits::DeviceTrait;
use cpal::{
    BufferSize, Device, ErrorKind, FromSample, SampleFormat, SizedSample, Stream, StreamConfig, SupportedBufferSize,
    SupportedStreamConfigRange,
};
use sluice_pipeline::live::XrunCounters;
use sluice_pipeline::live::ring::{Consumer, Producer};

/// How long building a stream may take before the device counts as unresponsive.
const BUILD_TIMEOUT: Duration = Duration::from_secs(5);

/// Sample formats the callbacks convert, best first.
const FORMATS: [SampleFormat; 5] =
    [SampleFormat::F32, SampleFormat::I32, SampleFormat::I16, SampleFormat::U16, SampleFormat::U8];

/// A device format the streams can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Channels, rate and the device buffer (period) size.
    pub config: StreamConfig,
    /// Sample encoding on the device side.
    pub sample_format: SampleFormat,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} Hz, {} ch, {}", self.config.sample_rate, self.config.channels, self.sample_format)?;
        match self.config.buffer_size {
            BufferSize::Fixed(n) => write!(f, ", {n}-frame buffer"),
            BufferSize::Default => write!(f, ", device's buffer"),
        }
    }
}

/// A stream error the worker should act on (an xrun is only counted, never sent), with the
/// stream it came from (`"input"` or `"output"`).
pub type StreamError = (&'static str, cpal::Error);

/// The sending end, one clone per stream.
pub type ErrorTx = SyncSender<StreamError>;

/// A channel for stream errors, bounded so an error callback never allocates or blocks.
pub fn error_channel() -> (ErrorTx, Receiver<StreamError>) {
    sync_channel(16)
}

/// The capture format: the device's own rate and channels (the worker resamples), in the best
/// sample format the device offers at that rate, with a device buffer of about `buffer`.
pub fn input_format(device: &Device, buffer: Duration) -> Result<Format> {
    let default = device.default_input_config().context("the input device reports no usable format")?;
    let ranges: Vec<_> = device.supported_input_configs().map(Iterator::collect).unwrap_or_default();
    let buffer_size = if is_pulseaudio(device) {
        // cpal 0.18's PulseAudio capture with a fixed buffer caps the server-side queue at one
        // fragment, and the server then drops audio whenever a render block overshoots it
        // (measured here: ~1000-frame pieces lost several times a second, whatever the size).
        // The server's own buffering loses nothing, at the price of coarser delivery.
        BufferSize::Default
    } else {
        buffer_size(default.buffer_size(), default.sample_rate(), buffer)
    };
    let config = StreamConfig { buffer_size, ..default.config() };
    choose(config, default.sample_format(), &ranges)
}

/// The playback format: `rate` (the capture's, so no second resampler is needed) with the
/// device's own channel count, with a device buffer of about `buffer`.
pub fn output_format(device: &Device, rate: u32, buffer: Duration) -> Result<Format> {
    let default = device.default_output_config().context("the output device reports no usable format")?;
    let ranges: Vec<_> = device.supported_output_configs().map(Iterator::collect).unwrap_or_default();
    let config = StreamConfig {
        sample_rate: rate,
        buffer_size: buffer_size(default.buffer_size(), rate, buffer),
        ..default.config()
    };
    let format = choose(config, default.sample_format(), &ranges)?;
    if format.config.sample_rate != rate {
        bail!(
            "the output device cannot play {rate} Hz (the input's rate); pick an output device that can, or \
             write a file with --output"
        );
    }
    Ok(format)
}

/// Whether `device` is reached through cpal's PulseAudio host.
fn is_pulseaudio(device: &Device) -> bool {
    device.id().is_ok_and(|id| id.host().name() == "PulseAudio")
}

/// `buffer` in frames at `rate`, clamped to what the device allows; the device's choice when
/// it does not say. (PulseAudio's own default for capture delivers audio in chunks of up to
/// two seconds — far too coarse for live use.)
pub fn buffer_size(range: &SupportedBufferSize, rate: u32, buffer: Duration) -> BufferSize {
    let frames = (buffer.as_secs_f64() * f64::from(rate)).round().max(1.0) as u32;
    match *range {
        SupportedBufferSize::Range { min, max } => BufferSize::Fixed(frames.clamp(min, max.max(min))),
        SupportedBufferSize::Unknown => BufferSize::Default,
    }
}

/// `config` in the first of [`FORMATS`] some range allows at its rate and channel count, else
/// in `default_format` if the callbacks convert it.
fn choose(config: StreamConfig, default_format: SampleFormat, ranges: &[SupportedStreamConfigRange]) -> Result<Format> {
    let allowed = |f: SampleFormat| {
        ranges.iter().any(|r| {
            r.sample_format() == f
                && r.channels() == config.channels
                && (r.min_sample_rate()..=r.max_sample_rate()).contains(&config.sample_rate)
        })
    };
    if let Some(&sample_format) = FORMATS.iter().find(|&&f| allowed(f)) {
        return Ok(Format { config, sample_format });
    }
    if FORMATS.contains(&default_format) && (ranges.is_empty() || allowed(default_format)) {
        return Ok(Format { config, sample_format: default_format });
    }
    bail!(
        "unsupported device format: {} Hz, {} ch, {default_format} (sluice converts {})",
        config.sample_rate,
        config.channels,
        FORMATS.map(|f| f.to_string()).join(", ")
    )
}

/// The error callback: xruns counted, anything else handed to the worker (dropped if 16 are
/// already waiting — the first ones tell the story).
fn on_error(
    side: &'static str,
    counters: Arc<XrunCounters>,
    errors: ErrorTx,
) -> impl FnMut(cpal::Error) + Send + 'static {
    move |e| {
        if e.kind() == ErrorKind::Xrun {
            counters.device_xrun();
        } else {
            let _ = errors.try_send((side, e));
        }
    }
}

/// A capture stream (not started: call `play`) pushing into `ring`.
pub fn capture(
    device: &Device,
    format: Format,
    ring: Producer,
    counters: Arc<XrunCounters>,
    errors: ErrorTx,
) -> Result<Stream> {
    let stream = match format.sample_format {
        SampleFormat::F32 => capture_as::<f32>(device, format.config, ring, counters, errors),
        SampleFormat::I32 => capture_as::<i32>(device, format.config, ring, counters, errors),
        SampleFormat::I16 => capture_as::<i16>(device, format.config, ring, counters, errors),
        SampleFormat::U16 => capture_as::<u16>(device, format.config, ring, counters, errors),
        SampleFormat::U8 => capture_as::<u8>(device, format.config, ring, counters, errors),
        other => bail!("unsupported input sample format {other}"),
    };
    stream.with_context(|| format!("cannot open the input stream ({format})"))
}

fn capture_as<T>(
    device: &Device,
    config: StreamConfig,
    mut ring: Producer,
    counters: Arc<XrunCounters>,
    errors: ErrorTx,
) -> Result<Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let overruns = counters.clone();
    let data = move |data: &[T], _: &cpal::InputCallbackInfo| {
        if ring.push_with(data, f32::from_sample_) < data.len() {
            overruns.capture_overrun();
        }
    };
    device.build_input_stream(config, data, on_error("input", counters, errors), Some(BUILD_TIMEOUT))
}

/// A playback stream (not started: call `play`) playing what arrives in `ring`; silence (and a
/// counted underrun, once audio has started flowing) when it runs dry.
pub fn playback(
    device: &Device,
    format: Format,
    ring: Consumer,
    counters: Arc<XrunCounters>,
    errors: ErrorTx,
) -> Result<Stream> {
    let stream = match format.sample_format {
        SampleFormat::F32 => playback_as::<f32>(device, format.config, ring, counters, errors),
        SampleFormat::I32 => playback_as::<i32>(device, format.config, ring, counters, errors),
        SampleFormat::I16 => playback_as::<i16>(device, format.config, ring, counters, errors),
        SampleFormat::U16 => playback_as::<u16>(device, format.config, ring, counters, errors),
        SampleFormat::U8 => playback_as::<u8>(device, format.config, ring, counters, errors),
        other => bail!("unsupported output sample format {other}"),
    };
    stream.with_context(|| format!("cannot open the output stream ({format})"))
}

fn playback_as<T>(
    device: &Device,
    config: StreamConfig,
    mut ring: Consumer,
    counters: Arc<XrunCounters>,
    errors: ErrorTx,
) -> Result<Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let underruns = counters.clone();
    let mut flowing = false;
    let data = move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
        let n = ring.pop_with(data, T::from_sample_);
        if n < data.len() {
            data[n..].fill(T::EQUILIBRIUM);
            if flowing {
                underruns.playback_underrun();
            }
        }
        flowing |= n > 0;
    };
    device.build_output_stream(config, data, on_error("output", counters, errors), Some(BUILD_TIMEOUT))
}

/// What a stream error means for the user.
pub fn explain((what, e): &StreamError) -> String {
    match e.kind() {
        ErrorKind::DeviceNotAvailable | ErrorKind::StreamInvalidated => {
            format!("the {what} device went away ({e}); is it unplugged, or did the sound server stop?")
        }
        _ => format!("the {what} stream failed: {e}"),
    }
}
