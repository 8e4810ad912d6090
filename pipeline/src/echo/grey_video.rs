//! [`GreyVideo`]: grey frames into a video — H.264 in MP4 or VP9 in WebM through
//! [`crate::video`]'s encoder and muxer, coded as limited-range `yuv420p` with neutral chroma and
//! flagged BT.601. The clutter filter's output ([`super::DeclutterJob`]) and simulated clips
//! (`sluice simulate-echo --format mp4|webm`, the server's sample clip) are both written through
//! it, so the two are coded alike.

use std::path::PathBuf;

use ffmpeg_next::Rational;

use crate::video::colour::Colour;
use crate::video::encode::{Output, VideoEncoder, VideoSettings};
use crate::video::stage::{PlaneMut, PlaneSink};
use crate::video::{Container, Matrix, OutputTarget, Range, VideoError};

/// What grey video is coded as: plain `yuv420p`, limited range, flagged BT.601; the chroma is
/// neutral, so the matrix only labels it.
pub const GREY_VIDEO: Colour = Colour { matrix: Matrix::Bt601, range: Range::Limited };

/// An open grey video: fill [`GreyVideo::luma`], then [`GreyVideo::encode`]; or hand whole
/// frames of grey levels to [`GreyVideo::write_grey`]. [`GreyVideo::finish`] closes the file.
pub struct GreyVideo {
    out: Box<Output>,
    encoder: Box<VideoEncoder>,
    size: (usize, usize),
    frames: i64,
}

impl GreyVideo {
    /// Opens `target` for `width`×`height` frames in `time_base` units (`frame_rate`, when known,
    /// is flagged on the stream). An odd side loses its last row or column (4:2:0).
    pub(crate) fn open(
        target: OutputTarget,
        container: Container,
        (width, height): (usize, usize),
        time_base: Rational,
        frame_rate: Option<Rational>,
        crf: Option<u8>,
    ) -> Result<Self, VideoError> {
        crate::video::init()?;
        if container.is_image() {
            return Err(VideoError::UnsupportedOutput {
                path: PathBuf::from(format!("{container:?}").to_ascii_lowercase()),
                reason: "a grey clip is written as a video (.mp4, .webm)".into(),
            });
        }
        let mut out = Box::new(Output::open(target, container)?);
        let settings = VideoSettings { width, height, time_base, frame_rate, crf, colour: GREY_VIDEO };
        let encoder = Box::new(VideoEncoder::new(&mut out, &settings)?);
        out.write_header()?;
        Ok(Self { out, encoder, size: (width & !1, height & !1), frames: 0 })
    }

    /// Opens `target` for frames `1/fps` s apart (`fps` in 1..=1000), timed by their index.
    pub fn at_fps(
        target: OutputTarget,
        container: Container,
        size: (usize, usize),
        fps: u32,
        crf: Option<u8>,
    ) -> Result<Self, VideoError> {
        if !(1..=1000).contains(&fps) {
            return Err(VideoError::InvalidConfig(format!("frame rate {fps} must be in 1..=1000")));
        }
        let rate = Rational::new(i32::try_from(fps).unwrap_or(1000), 1);
        Self::open(target, container, size, rate.invert(), Some(rate), crf)
    }

    /// The frame size written (even sides).
    pub fn size(&self) -> (usize, usize) {
        self.size
    }

    /// The luma code range [`GreyVideo::luma`] takes (limited: 16 black, 235 white).
    pub fn range(&self) -> Range {
        GREY_VIDEO.range
    }

    /// The luma plane of the next frame, to be filled before [`GreyVideo::encode`].
    pub fn luma(&mut self) -> PlaneMut<'_> {
        self.encoder.plane(0)
    }

    /// Encodes the filled luma with neutral chroma, at `pts` for `duration` (time-base units;
    /// `None`: one frame after the previous).
    pub fn encode(&mut self, pts: Option<i64>, duration: Option<i64>) -> Result<(), VideoError> {
        // Refilled each frame: the encoder owns the frame's buffers between frames.
        for k in [1, 2] {
            let p = self.encoder.plane(k);
            for line in p.data.chunks_mut(p.stride.max(1)).take(p.height) {
                let n = p.width.min(line.len());
                line[..n].fill(128);
            }
        }
        self.encoder.encode(pts, duration, &mut self.out)?;
        self.frames += 1;
        Ok(())
    }

    /// Writes one frame of grey levels in [0, 1] (clamped), `width` per row, as the next frame.
    pub fn write_grey(&mut self, grey: &[f32], width: usize) -> Result<(), VideoError> {
        let (w, h) = self.size;
        if width < w || grey.len() < width * h {
            return Err(VideoError::InvalidConfig(format!(
                "a frame of {} grey levels at {width} per row cannot fill {w}×{h}",
                grey.len()
            )));
        }
        let index = self.frames;
        let luma = self.luma();
        let stride = luma.stride.max(1);
        for (line, row) in luma.data.chunks_mut(stride).take(h).zip(grey.chunks(width)) {
            for (o, v) in line[..w].iter_mut().zip(row) {
                // In [16.5, 235.5) after the clamp: the cast cannot overflow.
                *o = (16.0 + v.clamp(0.0, 1.0) * 219.0 + 0.5) as u8;
            }
        }
        self.encode(Some(index), Some(1))
    }

    /// Flushes the encoder and closes the file; returns the size written.
    pub fn finish(mut self) -> Result<(usize, usize), VideoError> {
        self.encoder.finish(&mut self.out)?;
        self.out.write_trailer()?;
        Ok(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_levels_survive_a_lossless_round_trip() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("grey.mp4");
        let (w, h) = (34, 22);
        let frames: Vec<Vec<f32>> =
            (0..3).map(|t| (0..w * h).map(|i| ((i + 7 * t) % 50) as f32 / 49.0).collect()).collect();
        let mut video = GreyVideo::at_fps(OutputTarget::File(path.clone()), Container::Mp4, (w, h), 25, Some(0))
            .unwrap_or_else(|e| panic!("{e}"));
        for f in &frames {
            video.write_grey(f, w).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(video.finish().unwrap_or_else(|e| panic!("{e}")), (34, 22));
        let mut source = crate::video::source::VideoSource::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(source.info.size, (34, 22));
        let mut t = 0;
        let mut packet = ffmpeg_next::Packet::empty();
        let check = |planes: [crate::video::Plane<'_>; 3], t: usize| {
            let y = planes[0];
            for r in 0..h {
                for x in 0..w {
                    let want = (16.0 + frames[t][r * w + x] * 219.0 + 0.5) as u8;
                    assert_eq!(y.data[r * y.stride + x], want, "frame {t} ({x}, {r})");
                }
            }
            assert!(planes[1].data[..planes[1].width].iter().all(|&c| c == 128), "neutral chroma");
        };
        while packet.read(&mut source.input).is_ok() {
            if packet.stream() == source.video_index {
                source.decoder.send(&packet);
                while let Some(frame) = source.decoder.receive().unwrap_or_else(|e| panic!("{e}")) {
                    check(frame.planes, t);
                    t += 1;
                }
            }
        }
        source.decoder.send_eof().unwrap_or_else(|e| panic!("{e}"));
        while let Some(frame) = source.decoder.receive().unwrap_or_else(|e| panic!("{e}")) {
            check(frame.planes, t);
            t += 1;
        }
        assert_eq!(t, 3);
        let too_short =
            GreyVideo::at_fps(OutputTarget::File(dir.path().join("b.webm")), Container::WebM, (8, 8), 0, None);
        assert!(too_short.is_err(), "0 fps is refused");
    }
}
