//! [`VideoSource`]: an opened input file — demuxer, its best video stream's decoder and what the
//! container announces — shared by every whole-file pass ([`super::UpscaleJob`],
//! [`crate::echo::DeclutterJob`]), with the end-of-file checks that tell a whole file from a cut one.

use std::path::{Path, PathBuf};

use ffmpeg_next::{Rational, format, media};

use super::VideoError;
use super::audio::rescale;
use super::decode::VideoDecoder;

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

/// An opened input: demuxer, video decoder and the stream's announced facts.
pub(crate) struct VideoSource {
    pub(crate) path: PathBuf,
    pub(crate) input: format::context::Input,
    pub(crate) video_index: usize,
    pub(crate) audio_index: Option<usize>,
    pub(crate) decoder: VideoDecoder,
    pub(crate) info: MediaInfo,
    /// Frames the video stream itself announces, and whether that count is exact (an index)
    /// rather than derived from its duration.
    pub(crate) expected: Option<(u64, bool)>,
    pub(crate) time_base: Rational,
    /// The file's first timestamp in µs (≥ 0), subtracted from every output timestamp.
    pub(crate) start_us: i64,
}

impl VideoSource {
    /// Opens `input` and its best video stream's decoder.
    pub(crate) fn open(input: &Path) -> Result<Self, VideoError> {
        crate::video::init()?;
        let path = input.to_path_buf();
        let ictx =
            format::input(&input).map_err(|e| VideoError::NotMedia { path: path.clone(), reason: e.to_string() })?;
        let Some(stream) = ictx.streams().best(media::Type::Video) else {
            return Err(VideoError::NoVideo { path });
        };
        let video_index = stream.index();
        let decoder = VideoDecoder::new(&stream, input)?;
        let size = decoder.layout().luma;
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
            size,
            frames,
            frame_rate: rate,
            rotation: rotation_of(&stream),
            codec: decoder.codec_name(),
            has_audio: audio_index.is_some(),
        };
        Ok(Self { path, input: ictx, video_index, audio_index, decoder, info, expected, time_base, start_us })
    }

    /// The file's start in the video stream's time base (subtract it from every timestamp).
    pub(crate) fn shift(&self) -> i64 {
        rescale(self.start_us, Rational::new(1, 1_000_000), self.time_base)
    }

    /// After the last packet: `frames` decoded from `video_packets` read, `read_error` if the
    /// demuxer stopped on one. A file with no decodable frame, a read error, or fewer packets
    /// than the stream announces (exact for an index, within 5 % for a duration) is an error;
    /// packets the decoder rejects are damage, not truncation (skipped and counted).
    pub(crate) fn check_end(
        &self,
        frames: u64,
        video_packets: u64,
        read_error: Option<ffmpeg_next::Error>,
    ) -> Result<(), VideoError> {
        let path = || self.path.clone();
        if frames == 0 {
            return Err(match (read_error, self.decoder.damage()) {
                (Some(e), _) => VideoError::Truncated { path: path(), reason: format!("no frame could be read: {e}") },
                (None, (n, Some(msg))) if n > 0 => VideoError::Truncated {
                    path: path(),
                    reason: format!("none of the video could be decoded ({n} damaged packets; last: {msg})"),
                },
                _ => VideoError::ZeroFrames { path: path() },
            });
        }
        if let Some(e) = read_error {
            return Err(VideoError::Truncated {
                path: path(),
                reason: format!("read failed after {frames} frames: {e}"),
            });
        }
        // A demuxer reaching the end of a cut file stops without an error.
        if let Some((announced, exact)) = self.expected {
            let slack = if exact { 0 } else { (announced / 20).max(2) };
            if video_packets + slack < announced {
                return Err(VideoError::Truncated {
                    path: path(),
                    reason: format!("the stream announces {announced} frames, the file holds {video_packets}"),
                });
            }
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
