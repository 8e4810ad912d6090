//! The audio track of an upscale job: copied packet for packet when the output container
//! takes its codec, else decoded → (optionally denoised by DFN3) → encoded (AAC for MP4,
//! Opus for WebM).
//!
//! Re-encoding streams in constant memory: swresample converts each decoded frame to
//! interleaved f32 at the encoder's rate, a small queue cuts it into encoder-sized frames.
//! Denoising runs at 48 kHz (both encoders take it) and is aligned like `sluice denoise`: the
//! model's latency is trimmed at the start and its tail flushed, so the track keeps its length.

use std::sync::Arc;

use ffmpeg_next::format::Sample;
use ffmpeg_next::format::sample::Type as SampleType;
use ffmpeg_next::software::resampling;
use ffmpeg_next::{ChannelLayout, Packet, Rational, codec, decoder, encoder, frame};
use sluice_models::dfn3::Dfn3Model;

use super::VideoError;
use super::encode::{Container, Output};
use super::error::FfmpegContext;
use crate::denoise::Denoiser;

/// What happened to the audio track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioMode {
    /// The input has no audio stream.
    None,
    /// Packets copied unchanged.
    Copied,
    /// Decoded and re-encoded (the container does not take the input's codec).
    Reencoded,
    /// Decoded, denoised with DeepFilterNet3, encoded.
    Denoised,
}

/// Codecs each container takes as they are.
fn copyable(container: Container, id: codec::Id) -> bool {
    use codec::Id;
    match container {
        Container::Mp4 => matches!(id, Id::AAC | Id::MP3 | Id::AC3 | Id::EAC3 | Id::ALAC | Id::OPUS),
        Container::WebM => matches!(id, Id::OPUS | Id::VORBIS),
        Container::Png | Container::Jpeg => false,
    }
}

/// Input demuxers whose codec tags every output container accepts (others, e.g. AVI's
/// FourCCs, make the MP4 muxer refuse a copied stream; such tracks are re-encoded).
fn tag_safe_demuxer(name: &str) -> bool {
    name.split(',').any(|n| matches!(n, "mov" | "mp4" | "matroska" | "webm"))
}

/// The audio side of a job.
pub(crate) enum AudioTrack {
    /// `shift`: subtracted from every timestamp (the file's start, in the stream's time base).
    Copy {
        in_tb: Rational,
        index: usize,
        shift: i64,
    },
    Encode(Box<AudioTranscoder>),
}

impl AudioTrack {
    /// Adds the output audio stream for input `stream` (before the header is written);
    /// `start_us` (µs, ≥ 0) is subtracted from its timestamps.
    pub(crate) fn new(
        stream: &ffmpeg_next::format::stream::Stream<'_>,
        demuxer: &str,
        out: &mut Output,
        denoise: Option<Arc<Dfn3Model>>,
        start_us: i64,
    ) -> Result<(Self, AudioMode), VideoError> {
        let params = stream.parameters();
        let shift = rescale(start_us, Rational::new(1, 1_000_000), stream.time_base());
        if denoise.is_none() && copyable(out.container(), params.id()) && tag_safe_demuxer(demuxer) {
            let mut ost =
                out.octx.add_stream(encoder::find(codec::Id::None)).ff(|| "adding the audio stream".into())?;
            ost.set_parameters(params);
            ost.set_time_base(stream.time_base());
            let index = ost.index();
            return Ok((Self::Copy { in_tb: stream.time_base(), index, shift }, AudioMode::Copied));
        }
        let mode = if denoise.is_some() { AudioMode::Denoised } else { AudioMode::Reencoded };
        Ok((Self::Encode(Box::new(AudioTranscoder::new(stream, out, denoise, shift)?)), mode))
    }

    /// Handles one input packet of the audio stream.
    pub(crate) fn packet(&mut self, packet: &mut Packet, out: &mut Output) -> Result<(), VideoError> {
        match self {
            Self::Copy { in_tb, index, shift } => {
                packet.set_pts(packet.pts().map(|t| t - *shift));
                packet.set_dts(packet.dts().map(|t| t - *shift));
                out.write(packet, *index, *in_tb)
            }
            Self::Encode(t) => t.packet(packet, out),
        }
    }

    /// Flushes whatever is buffered at the end of the input.
    pub(crate) fn finish(&mut self, out: &mut Output) -> Result<(), VideoError> {
        match self {
            Self::Copy { .. } => Ok(()),
            Self::Encode(t) => t.finish(out),
        }
    }
}

/// DFN3 with output alignment: the first `skip` samples dropped, at most `remaining` kept.
struct AlignedDenoiser {
    denoiser: Denoiser,
    skip: usize,
    remaining: u64,
    raw: Vec<f32>,
}

impl AlignedDenoiser {
    fn process(&mut self, input: &[f32], pending: &mut Vec<f32>) -> Result<(), VideoError> {
        self.remaining += input.len() as u64;
        let headroom = self.denoiser.hop() * self.denoiser.channels();
        self.raw.resize(input.len() + headroom, 0.0);
        let (_, produced) = self.denoiser.process(input, &mut self.raw)?;
        self.keep(produced, pending);
        Ok(())
    }

    fn flush(&mut self, pending: &mut Vec<f32>) -> Result<(), VideoError> {
        self.raw.resize(self.denoiser.flush_len(), 0.0);
        let produced = self.denoiser.flush(&mut self.raw)?;
        self.keep(produced, pending);
        Ok(())
    }

    fn keep(&mut self, produced: usize, pending: &mut Vec<f32>) {
        let raw = &self.raw[..produced];
        let dropped = self.skip.min(raw.len());
        self.skip -= dropped;
        let rest = &raw[dropped..];
        let n = rest.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        pending.extend_from_slice(&rest[..n]);
        self.remaining -= n as u64;
    }
}

/// Decode → resample → (denoise) → encode.
pub(crate) struct AudioTranscoder {
    decoder: decoder::Audio,
    in_tb: Rational,
    /// The file's start in `in_tb`, subtracted from timestamps.
    shift: i64,
    encoder: encoder::Audio,
    index: usize,
    rate: u32,
    channels: usize,
    layout: ChannelLayout,
    resampler: Option<resampling::Context>,
    decoded: frame::Audio,
    resampled: frame::Audio,
    /// Interleaved f32 at `rate` waiting for a whole encoder frame.
    pending: Vec<f32>,
    incoming: Vec<f32>,
    denoiser: Option<AlignedDenoiser>,
    frame: frame::Audio,
    frame_size: usize,
    /// Timestamp of the next encoder frame (1/rate), from the first decoded frame's.
    next_pts: Option<i64>,
    /// Leading frames still to drop (those before time 0).
    drop_frames: usize,
    packet: Packet,
}

const RESAMPLED_CAPACITY: usize = 16_384;

impl AudioTranscoder {
    fn new(
        stream: &ffmpeg_next::format::stream::Stream<'_>,
        out: &mut Output,
        denoise: Option<Arc<Dfn3Model>>,
        shift: i64,
    ) -> Result<Self, VideoError> {
        let params = stream.parameters();
        let id = params.id();
        let mut dec =
            codec::context::Context::from_parameters(params).ff(|| "reading the audio parameters".into())?.decoder();
        dec.set_packet_time_base(stream.time_base());
        let decoder = dec.audio().ff(|| format!("opening the {} audio decoder", id.name()))?;
        let channels = usize::from(decoder.channels()).max(1);
        let in_rate = decoder.rate();
        let name = match out.container() {
            Container::WebM => "libopus",
            _ => "aac",
        };
        let codec = encoder::find_by_name(name)
            .ok_or_else(|| VideoError::InvalidConfig(format!("this FFmpeg build has no {name} encoder")))?;
        let audio_codec = codec.audio().ff(|| format!("{name} is not an audio encoder"))?;
        let rates: Vec<i32> = audio_codec.rates().map(|r| r.collect()).unwrap_or_default();
        let rate = if denoise.is_some() || (!rates.is_empty() && !rates.contains(&(in_rate as i32))) || in_rate == 0 {
            48_000
        } else {
            in_rate
        };
        let formats: Vec<Sample> = audio_codec.formats().map(|f| f.collect()).unwrap_or_default();
        let format =
            [Sample::F32(SampleType::Packed), Sample::F32(SampleType::Planar), Sample::I16(SampleType::Packed)]
                .into_iter()
                .find(|f| formats.is_empty() || formats.contains(f))
                .ok_or_else(|| {
                    VideoError::InvalidConfig(format!("{name} takes no sample format this pipeline writes"))
                })?;
        let layout = ChannelLayout::default(channels as i32);
        let global_header = out.octx.format().flags().contains(ffmpeg_next::format::Flags::GLOBAL_HEADER);
        let index = out.octx.add_stream(codec).ff(|| "adding the audio stream".into())?.index();
        let mut enc =
            codec::context::Context::new_with_codec(codec).encoder().audio().ff(|| format!("creating {name}"))?;
        enc.set_rate(rate as i32);
        enc.set_channel_layout(layout);
        enc.set_format(format);
        enc.set_time_base(Rational::new(1, rate as i32));
        enc.set_bit_rate(if channels > 1 { 128_000 } else { 96_000 });
        if global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = enc.open().ff(|| format!("opening the {name} encoder ({rate} Hz, {channels} ch)"))?;
        if let Some(mut ost) = out.octx.stream_mut(index) {
            ost.set_parameters(&encoder);
            ost.set_time_base(Rational::new(1, rate as i32));
        }
        let frame_size = match encoder.frame_size() {
            0 => 1024,
            n => n as usize,
        };
        let denoiser = match denoise {
            Some(model) => {
                let d = Denoiser::new(model, channels)?;
                let skip = d.latency() * channels;
                Some(AlignedDenoiser { denoiser: d, skip, remaining: 0, raw: Vec::new() })
            }
            None => None,
        };
        Ok(Self {
            decoder,
            in_tb: stream.time_base(),
            shift,
            encoder,
            index,
            rate,
            channels,
            frame: frame::Audio::new(format, frame_size, layout),
            layout,
            resampler: None,
            decoded: frame::Audio::empty(),
            resampled: frame::Audio::empty(),
            pending: Vec::new(),
            incoming: Vec::new(),
            denoiser,
            frame_size,
            next_pts: None,
            drop_frames: 0,
            packet: Packet::empty(),
        })
    }

    fn packet(&mut self, packet: &Packet, out: &mut Output) -> Result<(), VideoError> {
        // A damaged audio packet is skipped (the decoder conceals it); video decides success.
        if self.decoder.send_packet(packet).is_ok() {
            self.receive(out)?;
        }
        Ok(())
    }

    fn receive(&mut self, out: &mut Output) -> Result<(), VideoError> {
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            if self.next_pts.is_none() {
                // Samples before time 0 are encoder priming the input's edit list hides (AAC in
                // MP4 starts at −1024): drop them, so the track starts where it is shown.
                let pts = self.decoded.timestamp().unwrap_or(self.shift) - self.shift;
                let start = rescale(pts, self.in_tb, Rational::new(1, self.rate as i32));
                self.drop_frames = usize::try_from(-start).unwrap_or(0);
                self.next_pts = Some(start.max(0));
            }
            let (format, in_rate, n) = (self.decoded.format(), self.decoded.rate(), self.decoded.channels());
            let mut in_layout = self.decoded.channel_layout();
            if in_layout.channels() != i32::from(n) {
                // Some demuxers leave the layout unset; swresample needs one.
                in_layout = ChannelLayout::default(i32::from(n));
                self.decoded.set_channel_layout(in_layout);
            }
            if self.resampler.is_none() {
                self.resampler = Some(
                    resampling::Context::get(
                        format,
                        in_layout,
                        in_rate,
                        Sample::F32(SampleType::Packed),
                        self.layout,
                        self.rate,
                    )
                    .ff(|| "setting up the audio resampler".into())?,
                );
                self.resampled = frame::Audio::new(Sample::F32(SampleType::Packed), RESAMPLED_CAPACITY, self.layout);
            }
            if let Some(r) = &mut self.resampler {
                self.resampled.set_samples(RESAMPLED_CAPACITY);
                r.run(&self.decoded, &mut self.resampled).ff(|| "resampling audio".into())?;
            }
            self.take_resampled()?;
            self.encode_whole_frames(out)?;
        }
        Ok(())
    }

    /// Moves the resampler's output into the queue (through the denoiser when on).
    fn take_resampled(&mut self) -> Result<(), VideoError> {
        let frames = self.resampled.samples();
        let dropped = self.drop_frames.min(frames);
        self.drop_frames -= dropped;
        let (from, to) = (dropped * self.channels * 4, frames * self.channels * 4);
        self.incoming.clear();
        self.incoming.extend(
            self.resampled.data(0)[from..to].chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        );
        match &mut self.denoiser {
            Some(d) => d.process(&self.incoming, &mut self.pending),
            None => {
                self.pending.extend_from_slice(&self.incoming);
                Ok(())
            }
        }
    }

    fn encode_whole_frames(&mut self, out: &mut Output) -> Result<(), VideoError> {
        let whole = self.frame_size * self.channels;
        let mut start = 0;
        while self.pending.len() - start >= whole {
            self.send_frame(start, self.frame_size)?;
            self.drain(out)?;
            start += whole;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Fills the encoder frame with `samples` frames of `pending` from `start` and sends it.
    fn send_frame(&mut self, start: usize, samples: usize) -> Result<(), VideoError> {
        let ch = self.channels;
        let src = &self.pending[start..start + samples * ch];
        self.frame.set_samples(samples);
        match self.frame.format() {
            Sample::F32(SampleType::Packed) => {
                for (d, s) in self.frame.data_mut(0).chunks_exact_mut(4).zip(src) {
                    d.copy_from_slice(&s.to_ne_bytes());
                }
            }
            Sample::F32(SampleType::Planar) => {
                for c in 0..ch {
                    let plane = self.frame.data_mut(c);
                    for (d, s) in plane.chunks_exact_mut(4).zip(src.iter().skip(c).step_by(ch)) {
                        d.copy_from_slice(&s.to_ne_bytes());
                    }
                }
            }
            _ => {
                for (d, s) in self.frame.data_mut(0).chunks_exact_mut(2).zip(src) {
                    d.copy_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_ne_bytes());
                }
            }
        }
        let pts = self.next_pts.unwrap_or(0);
        self.frame.set_pts(Some(pts));
        self.next_pts = Some(pts + samples as i64);
        self.encoder.send_frame(&self.frame).ff(|| "encoding audio".into())
    }

    fn drain(&mut self, out: &mut Output) -> Result<(), VideoError> {
        let tb = Rational::new(1, self.rate as i32);
        loop {
            match self.encoder.receive_packet(&mut self.packet) {
                Ok(()) => out.write(&mut self.packet, self.index, tb)?,
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::util::error::EAGAIN => return Ok(()),
                Err(e) => return Err(VideoError::Ffmpeg { context: "encoding audio".into(), source: e }),
            }
        }
    }

    fn finish(&mut self, out: &mut Output) -> Result<(), VideoError> {
        if self.decoder.send_eof().is_ok() {
            self.receive(out)?;
        }
        if let Some(mut r) = self.resampler.take() {
            loop {
                self.resampled.set_samples(RESAMPLED_CAPACITY);
                match r.flush(&mut self.resampled) {
                    Ok(_) if self.resampled.samples() > 0 => {}
                    _ => break,
                }
                self.take_resampled()?;
            }
        }
        if let Some(d) = &mut self.denoiser {
            d.flush(&mut self.pending)?;
        }
        self.encode_whole_frames(out)?;
        let rest = self.pending.len() / self.channels;
        if rest > 0 {
            self.send_frame(0, rest)?;
            self.pending.clear();
        }
        self.encoder.send_eof().ff(|| "flushing the audio encoder".into())?;
        self.drain(out)
    }
}

/// `ts` from time base `from` to `to`, rounded to nearest.
pub(crate) fn rescale(ts: i64, from: Rational, to: Rational) -> i64 {
    if to.numerator() == 0 || from.denominator() == 0 {
        return ts;
    }
    (ts as f64 * f64::from(from) / f64::from(to)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_copy_only_codecs_they_hold() {
        assert!(copyable(Container::Mp4, codec::Id::AAC));
        assert!(!copyable(Container::WebM, codec::Id::AAC));
        assert!(copyable(Container::WebM, codec::Id::OPUS));
        assert!(!copyable(Container::Png, codec::Id::OPUS));
        assert!(tag_safe_demuxer("mov,mp4,m4a,3gp,3g2,mj2"));
        assert!(tag_safe_demuxer("matroska,webm"));
        assert!(!tag_safe_demuxer("avi"));
    }

    #[test]
    fn rescale_rounds_to_nearest() {
        assert_eq!(rescale(1024, Rational::new(1, 44_100), Rational::new(1, 48_000)), 1115);
        assert_eq!(rescale(3, Rational::new(1, 25), Rational::new(1, 1000)), 120);
        assert_eq!(rescale(-1, Rational::new(1, 3), Rational::new(1, 2)), -1);
    }
}
