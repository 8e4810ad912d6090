//! [`UpscaleJob`]: the whole file pass — demux, decode, upscale, encode, mux — packet by packet,
//! so memory stays bounded (one decoded and one upscaled frame plus codec queues) whatever the
//! length.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next::{Packet, Rational, format, media};
use sluice_models::dfn3::Dfn3Model;

use super::VideoError;
use super::audio::{AudioMode, AudioTrack, rescale};
use super::decode::VideoDecoder;
use super::encode::{Container, Output, OutputTarget, VideoEncoder, VideoSettings};
use super::stage::{FrameLayout, Rotation, UpscaleStage};
use super::upscaler::LumaUpscaler;

/// Largest output frame, either orientation: 8K UHD (7680×4320). Larger requests are refused
/// before anything is decoded (an H.264 level-6.2 frame is 8192×4320).
pub const MAX_OUTPUT: (usize, usize) = (7680, 4320);

/// Options of a job.
#[derive(Clone, Default)]
pub struct UpscaleOptions {
    /// Constant rate factor for video outputs (H.264 0–51, VP9 0–63); `None` = the codec's default here.
    pub crf: Option<u8>,
    /// Denoise the audio track with this DFN3 model (re-encodes it).
    pub denoise_audio: Option<Arc<Dfn3Model>>,
}

/// What the input holds, read before any frame is decoded.
#[derive(Debug, Clone)]
pub struct MediaInfo {
    /// Coded width and height of the video.
    pub size: (usize, usize),
    /// Frames the container announces (or duration × frame rate), if known.
    pub frames: Option<u64>,
    /// Average frame rate, if known.
    pub frame_rate: Option<Rational>,
    /// Display rotation in degrees clockwise (0, 90, 180, 270); baked into the output pixels.
    pub rotation: i32,
    /// The video codec's name.
    pub codec: &'static str,
    /// Whether the input has an audio stream.
    pub has_audio: bool,
}

/// What a finished job did.
#[derive(Debug, Clone)]
pub struct UpscaleSummary {
    /// Frames encoded (= decoded).
    pub frames: u64,
    /// Input size.
    pub input_size: (usize, usize),
    /// Output size as displayed (rotation applied; even for 4:2:0 video).
    pub output_size: (usize, usize),
    /// What happened to the audio.
    pub audio: AudioMode,
    /// The luma model used.
    pub model: &'static str,
    /// Damaged video packets or frames skipped (the decoder's concealment covers them).
    pub skipped: u64,
    /// Wall time of the pass.
    pub elapsed: Duration,
}

impl UpscaleSummary {
    /// Frames per second of wall time.
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// An opened input, ready to be upscaled into an output.
pub struct UpscaleJob {
    path: PathBuf,
    input: format::context::Input,
    video_index: usize,
    audio_index: Option<usize>,
    decoder: VideoDecoder,
    info: MediaInfo,
    /// Frames the video stream itself announces, and whether that count is exact (an index)
    /// rather than derived from its duration.
    expected: Option<(u64, bool)>,
    time_base: Rational,
    /// The file's first timestamp in µs (≥ 0), subtracted from every output timestamp.
    start_us: i64,
    upscaler: Box<dyn LumaUpscaler>,
    options: UpscaleOptions,
}

/// Display rotation (clockwise degrees) from a stream's display matrix or `rotate` tag.
fn rotation_of(stream: &format::stream::Stream<'_>) -> i32 {
    for sd in stream.side_data() {
        if sd.kind() == ffmpeg_next::codec::packet::side_data::Type::DisplayMatrix && sd.data().len() >= 36 {
            let m: Vec<f64> = sd.data()[..36]
                .chunks_exact(4)
                .map(|b| f64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            // av_display_rotation_get gives the counter-clockwise angle; the tag is clockwise.
            let (s0, s1) = (m[0].hypot(m[3]), m[1].hypot(m[4]));
            if s0 == 0.0 || s1 == 0.0 {
                return 0;
            }
            let ccw = -(m[1] / s1).atan2(m[0] / s0).to_degrees();
            return normalise_degrees(-ccw.round() as i32);
        }
    }
    stream.metadata().get("rotate").and_then(|r| r.trim().parse::<i32>().ok()).map_or(0, normalise_degrees)
}

/// Frames the video stream announces: its frame count (exact), else its duration (from the
/// stream header or Matroska's `DURATION` tag) × frame rate.
fn expected_frames(stream: &format::stream::Stream<'_>, rate: Option<Rational>) -> Option<(u64, bool)> {
    if stream.frames() > 0 {
        return Some((stream.frames() as u64, true));
    }
    let secs = if stream.duration() > 0 {
        stream.duration() as f64 * f64::from(stream.time_base())
    } else {
        stream.metadata().get("DURATION").and_then(parse_hms)?
    };
    let r = rate?;
    (secs > 0.0).then(|| ((secs * f64::from(r)).round() as u64, false))
}

/// `HH:MM:SS.fraction` → seconds.
fn parse_hms(s: &str) -> Option<f64> {
    let mut parts = s.trim().split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + sec.parse::<f64>().ok()?)
}

fn normalise_degrees(d: i32) -> i32 {
    d.rem_euclid(360)
}

impl UpscaleJob {
    /// Opens `input` and checks it can be upscaled by `upscaler` (dimension cap included).
    pub fn open(input: &Path, upscaler: Box<dyn LumaUpscaler>, options: UpscaleOptions) -> Result<Self, VideoError> {
        crate::video::init()?;
        let path = input.to_path_buf();
        let ictx =
            format::input(&input).map_err(|e| VideoError::NotMedia { path: path.clone(), reason: e.to_string() })?;
        let Some(stream) = ictx.streams().best(media::Type::Video) else {
            return Err(VideoError::NoVideo { path });
        };
        let video_index = stream.index();
        let decoder = VideoDecoder::new(&stream, input)?;
        let (w, h) = decoder.layout().luma;
        let s = upscaler.scale();
        check_size((w, h), s)?;
        let rate =
            [stream.avg_frame_rate(), stream.rate()].into_iter().find(|r| r.numerator() > 0 && r.denominator() > 0);
        let time_base = stream.time_base();
        let expected = expected_frames(&stream, rate);
        let frames = expected.map(|(n, _)| n).or_else(|| {
            let secs = ictx.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE);
            rate.filter(|_| secs > 0.0).map(|r| (secs * f64::from(r)).round() as u64)
        });
        let audio_index = ictx.streams().best(media::Type::Audio).map(|a| a.index());
        // Where the file starts (MPEG-TS starts at ~1.4 s): output timestamps count from there,
        // as the ffmpeg CLI's do. Negative starts (AAC priming) are left to the muxer.
        let start_us = ictx
            .streams()
            .filter(|s| s.start_time() != ffmpeg_next::ffi::AV_NOPTS_VALUE)
            .map(|s| rescale(s.start_time(), s.time_base(), Rational::new(1, 1_000_000)))
            .min()
            .unwrap_or(0)
            .max(0);
        let info = MediaInfo {
            size: (w, h),
            frames,
            frame_rate: rate,
            rotation: rotation_of(&stream),
            codec: decoder.codec_name(),
            has_audio: audio_index.is_some(),
        };
        Ok(Self {
            path,
            input: ictx,
            video_index,
            audio_index,
            decoder,
            info,
            expected,
            time_base,
            start_us,
            upscaler,
            options,
        })
    }

    /// What the input holds.
    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    /// Runs the pass into `target` as `container`, calling `on_frame(frames_done)` after each
    /// frame. On error the target holds a partial result: callers writing files use a
    /// temporary path and rename it on success.
    pub fn run(
        mut self,
        target: OutputTarget,
        container: Container,
        on_frame: &mut dyn FnMut(u64),
    ) -> Result<UpscaleSummary, VideoError> {
        let start = Instant::now();
        let scale = self.upscaler.scale();
        let layout = self.decoder.layout();
        let (w, h) = layout.luma;
        let (ow, oh) = (w * scale, h * scale);
        if let Some(frames) = self.info.frames.filter(|n| container.is_image() && *n > 1) {
            return Err(VideoError::ImageNeedsOneFrame { frames });
        }
        let out_layout = if container.is_image() {
            FrameLayout::subsampled(ow, oh, 0, 0)
        } else {
            FrameLayout::subsampled(ow, oh, 1, 1)
        };
        let colour = self.decoder.colour();
        let model = self.upscaler.name();
        // FFmpeg 5.1's muxers take a display matrix only as stream side data, which the safe
        // API cannot set: the rotation is baked into the pixels instead (same picture shown).
        let rotation = Rotation::from_degrees(self.info.rotation);
        let mut stage = UpscaleStage::new(self.upscaler, colour, layout, out_layout)?.with_rotation(rotation);
        let (ow, oh) = rotation.apply((ow, oh));

        let mut out = Output::open(target, container)?;
        let settings = VideoSettings {
            width: ow,
            height: oh,
            time_base: self.time_base,
            frame_rate: self.info.frame_rate,
            crf: self.options.crf,
            colour,
        };
        let mut encoder = VideoEncoder::new(&mut out, &settings)?;
        let demuxer = self.input.format().name().to_string();
        let (mut audio, audio_mode) = match self.audio_index.filter(|_| !container.is_image()) {
            Some(i) => match self.input.stream(i) {
                Some(stream) => {
                    let (t, m) = AudioTrack::new(
                        &stream,
                        &demuxer,
                        &mut out,
                        self.options.denoise_audio.clone(),
                        self.start_us,
                    )?;
                    (Some(t), m)
                }
                None => (None, AudioMode::None),
            },
            None => (None, AudioMode::None),
        };
        out.write_header()?;

        let shift = rescale(self.start_us, Rational::new(1, 1_000_000), self.time_base);
        let mut frames = 0u64;
        let mut video_packets = 0u64;
        let mut packet = Packet::empty();
        let mut read_error = None;
        loop {
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => break,
                Err(e) => {
                    // A read error mid-file: decode what came, then report it below.
                    read_error = Some(e);
                    break;
                }
            }
            let index = packet.stream();
            if index == self.video_index {
                video_packets += 1;
                self.decoder.send(&packet);
                frames +=
                    upscale_ready(&mut self.decoder, &mut stage, &mut encoder, &mut out, shift, frames, on_frame)?;
                // Inputs that do not announce their length (an animated GIF) are caught here.
                if container.is_image() && frames > 1 {
                    return Err(VideoError::ImageNeedsOneFrame { frames });
                }
            } else if Some(index) == self.audio_index
                && let Some(a) = &mut audio
            {
                a.packet(&mut packet, &mut out)?;
            }
        }
        self.decoder.send_eof()?;
        frames += upscale_ready(&mut self.decoder, &mut stage, &mut encoder, &mut out, shift, frames, on_frame)?;
        if frames == 0 {
            return Err(match (read_error, self.decoder.damage()) {
                (Some(e), _) => {
                    VideoError::Truncated { path: self.path, reason: format!("no frame could be read: {e}") }
                }
                (None, (n, Some(msg))) if n > 0 => VideoError::Truncated {
                    path: self.path,
                    reason: format!("none of the video could be decoded ({n} damaged packets; last: {msg})"),
                },
                _ => VideoError::ZeroFrames { path: self.path },
            });
        }
        if let Some(e) = read_error {
            return Err(VideoError::Truncated {
                path: self.path,
                reason: format!("read failed after {frames} frames: {e}"),
            });
        }
        // A demuxer reaching the end of a cut file stops without an error: compare what it
        // read with what the stream announces (exact for an index, within 5 % for a duration).
        // Packets the decoder rejects are damage, not truncation: they are skipped and counted.
        if let Some((announced, exact)) = self.expected {
            let slack = if exact { 0 } else { (announced / 20).max(2) };
            if video_packets + slack < announced {
                return Err(VideoError::Truncated {
                    path: self.path,
                    reason: format!("the stream announces {announced} frames, the file holds {video_packets}"),
                });
            }
        }
        encoder.finish(&mut out)?;
        if let Some(a) = &mut audio {
            a.finish(&mut out)?;
        }
        out.write_trailer()?;
        drop(out);
        Ok(UpscaleSummary {
            frames,
            input_size: (w, h),
            output_size: if container.is_image() { (ow, oh) } else { (ow & !1, oh & !1) },
            audio: audio_mode,
            model,
            skipped: self.decoder.damage().0,
            elapsed: start.elapsed(),
        })
    }
}

/// Upscales and encodes every frame the decoder has ready; returns how many.
fn upscale_ready(
    decoder: &mut VideoDecoder,
    stage: &mut UpscaleStage,
    encoder: &mut VideoEncoder,
    out: &mut Output,
    shift: i64,
    done: u64,
    on_frame: &mut dyn FnMut(u64),
) -> Result<u64, VideoError> {
    let mut n = 0;
    while let Some(frame) = decoder.receive()? {
        let (pts, duration) = (frame.pts.map(|t| t - shift), frame.duration);
        stage.process(frame.planes, encoder)?;
        encoder.encode(pts, duration, out)?;
        n += 1;
        on_frame(done + n);
    }
    Ok(n)
}

/// Refuses empty inputs and outputs beyond [`MAX_OUTPUT`] (either orientation).
pub fn check_size((w, h): (usize, usize), scale: usize) -> Result<(), VideoError> {
    let (ow, oh) = (w.saturating_mul(scale), h.saturating_mul(scale));
    let err = |reason: String| VideoError::BadDimensions { width: w, height: h, out_width: ow, out_height: oh, reason };
    if w == 0 || h == 0 {
        return Err(err("the frame is empty".into()));
    }
    let (long, short) = (ow.max(oh), ow.min(oh));
    if long > MAX_OUTPUT.0 || short > MAX_OUTPUT.1 {
        return Err(err(format!(
            "the output would exceed the {}×{} cap (8K UHD, either orientation)",
            MAX_OUTPUT.0, MAX_OUTPUT.1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_cap_is_8k_either_way() {
        assert!(check_size((640, 360), 3).is_ok());
        assert!(check_size((2560, 1440), 3).is_ok());
        assert!(check_size((1440, 2560), 3).is_ok());
        assert!(check_size((2561, 1440), 3).is_err());
        assert!(check_size((1441, 1441), 3).is_err());
        assert!(check_size((0, 10), 2).is_err());
        assert!(check_size((usize::MAX / 2, 1), 4).is_err());
    }

    #[test]
    fn matroska_durations_parse() {
        assert_eq!(parse_hms("00:00:02.000000000"), Some(2.0));
        assert_eq!(parse_hms("01:02:03.5"), Some(3723.5));
        assert_eq!(parse_hms("nonsense"), None);
    }

    #[test]
    fn degrees_normalise() {
        assert_eq!(normalise_degrees(-90), 270);
        assert_eq!(normalise_degrees(450), 90);
    }
}
