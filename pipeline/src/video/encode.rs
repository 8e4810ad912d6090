//! The output side: [`Container`] by extension, the muxer ([`Output`], a file or a pipe) and
//! the video encoder the stage writes into ([`VideoEncoder`]).
//!
//! Video: H.264 (libx264 `preset=veryfast tune=zerolatency`, CRF) in MP4, or VP9 (libvpx
//! `deadline=realtime cpu-used=8 row-mt=1`, CRF) in WebM, 4:2:0 with the input's matrix and
//! range flagged; the encoder's time base is the input stream's, so every timestamp is kept.
//! Images: PNG (RGB24) or JPEG (4:4:4, q=2) through the `image2` muxer, one frame.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ffmpeg_next::format::Pixel;
use ffmpeg_next::{Dictionary, Packet, Rational, codec, color, encoder, format, frame};

use super::VideoError;
use super::colour::{Colour, Matrix, Range};
use super::error::FfmpegContext;
use super::stage::{PlaneMut, PlaneSink};

/// Threads of the H.264 and VP9 encoders (see [`VideoEncoder::new`]).
const ENCODER_THREADS: usize = 2;

/// An output container, chosen by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `.mp4` / `.m4v` / `.mov`: H.264 video, audio copied or AAC.
    Mp4,
    /// `.webm`: VP9 video, audio copied (Opus/Vorbis) or Opus.
    WebM,
    /// `.png`: one image.
    Png,
    /// `.jpg` / `.jpeg`: one image.
    Jpeg,
}

impl Container {
    /// The container for `path`'s extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self, VideoError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("mp4" | "m4v" | "mov") => Ok(Self::Mp4),
            Some("webm") => Ok(Self::WebM),
            Some("png") => Ok(Self::Png),
            Some("jpg" | "jpeg") => Ok(Self::Jpeg),
            _ => Err(VideoError::UnsupportedOutput {
                path: path.to_path_buf(),
                reason: "the output extension must be .mp4, .m4v, .mov, .webm, .png, .jpg or .jpeg".into(),
            }),
        }
    }

    /// Whether this is a single-image format.
    pub fn is_image(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg)
    }

    fn muxer(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::WebM => "webm",
            Self::Png | Self::Jpeg => "image2",
        }
    }
}

/// Where the result goes.
#[derive(Debug)]
pub enum OutputTarget {
    /// A file (written in place: callers wanting all-or-nothing pass a temporary path).
    File(PathBuf),
    /// The write end of a pipe (`std::io::pipe()`), for streaming: WebM, or fragmented MP4
    /// (`frag_keyframe+empty_moov+default_base_moof`). Closed when the job ends.
    Pipe(std::io::PipeWriter),
}

/// An open muxer.
pub struct Output {
    pub(crate) octx: format::context::Output,
    container: Container,
    url: String,
    streamable: bool,
    /// Kept open until the muxer is dropped (declared after `octx`, so dropped after it).
    _pipe: Option<OwnedFd>,
}

impl Output {
    /// Opens `target` for `container`.
    pub fn open(target: OutputTarget, container: Container) -> Result<Self, VideoError> {
        let (url, pipe) = match target {
            OutputTarget::File(path) => (path.to_string_lossy().into_owned(), None),
            OutputTarget::Pipe(writer) => {
                if container.is_image() {
                    return Err(VideoError::UnsupportedOutput {
                        path: PathBuf::from("pipe"),
                        reason: "images are written to files only".into(),
                    });
                }
                let fd = OwnedFd::from(writer);
                (format!("pipe:{}", fd.as_raw_fd()), Some(fd))
            }
        };
        let streamable = pipe.is_some();
        let octx = format::output_as(&url, container.muxer()).ff(|| format!("opening {url} for writing"))?;
        Ok(Self { octx, container, url, streamable, _pipe: pipe })
    }

    /// The container being written.
    pub fn container(&self) -> Container {
        self.container
    }

    fn global_header(&self) -> bool {
        self.octx.format().flags().contains(format::Flags::GLOBAL_HEADER)
    }

    /// Writes the header once every stream is added (stream time bases are final after it).
    pub(crate) fn write_header(&mut self) -> Result<(), VideoError> {
        let mut opts = Dictionary::new();
        match (self.container, self.streamable) {
            (Container::Mp4, false) => opts.set("movflags", "+faststart"),
            (Container::Mp4, true) => opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof"),
            (Container::Png | Container::Jpeg, _) => opts.set("update", "1"),
            (Container::WebM, _) => {}
        }
        let url = self.url.clone();
        self.octx.write_header_with(opts).ff(|| format!("writing the header of {url}"))?;
        Ok(())
    }

    /// Finishes the file (index, trailer).
    pub(crate) fn write_trailer(&mut self) -> Result<(), VideoError> {
        match self.octx.write_trailer() {
            // The fragmented-MP4 muxer returns a positive byte count, which ffmpeg-next maps to
            // an "error" with a negative errno; only negative AVERROR codes are failures.
            Ok(()) => Ok(()),
            Err(ffmpeg_next::Error::Other { errno }) if errno < 0 => Ok(()),
            Err(source) => Err(VideoError::Ffmpeg { context: format!("finishing {}", self.url), source }),
        }
    }

    /// Rescales `packet` from `from` to stream `index`'s time base and writes it.
    pub(crate) fn write(&mut self, packet: &mut Packet, index: usize, from: Rational) -> Result<(), VideoError> {
        let to = self.octx.stream(index).map(|s| s.time_base()).unwrap_or(from);
        packet.set_stream(index);
        packet.set_position(-1);
        packet.rescale_ts(from, to);
        packet.write_interleaved(&mut self.octx).ff(|| "writing a packet".into())
    }
}

/// What the video encoder is asked to make.
#[derive(Debug, Clone, Copy)]
pub struct VideoSettings {
    /// Upscaled (and rotated) luma width (video outputs are cropped to even sizes for 4:2:0).
    pub width: usize,
    /// Upscaled luma height.
    pub height: usize,
    /// The input stream's time base (timestamps pass through unchanged).
    pub time_base: Rational,
    /// The input's average frame rate, if known.
    pub frame_rate: Option<Rational>,
    /// Constant rate factor (quality; lower is better). `None`: 23 for H.264, 32 for VP9.
    pub crf: Option<u8>,
    /// The stream's colour convention (flagged on the output).
    pub colour: Colour,
}

/// What the stage's output planes become before encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    /// The stage writes straight into the encoder's frame.
    None,
    /// Y'CbCr 4:4:4 → RGB24 (PNG).
    ToRgb,
    /// Y'CbCr 4:4:4 of another convention → BT.601 full (JPEG).
    ToJpeg,
}

/// The video encoder and the frame the stage writes into.
pub struct VideoEncoder {
    encoder: encoder::Video,
    index: usize,
    time_base: Rational,
    /// The frame the stage fills.
    staged: frame::Video,
    /// What is sent to the encoder when `post` is not `None`.
    converted: frame::Video,
    post: Post,
    colour: Colour,
    nominal_duration: i64,
    last_pts: Option<i64>,
    /// (pts, duration) of frames sent and not yet out of the encoder: libx264 and libvpx do
    /// not carry frame durations to packets, and the last one sets the file's duration.
    in_flight: VecDeque<(i64, i64)>,
    packet: Packet,
}

impl VideoEncoder {
    /// Adds the video stream to `out` and opens its encoder.
    pub fn new(out: &mut Output, s: &VideoSettings) -> Result<Self, VideoError> {
        let container = out.container();
        let even = |v: usize| if container.is_image() { v } else { v & !1 };
        let (w, h) = (even(s.width), even(s.height));
        if w == 0 || h == 0 {
            return Err(VideoError::InvalidConfig(format!(
                "output of {}×{} is too small to encode",
                s.width, s.height
            )));
        }
        let (name, pixel, post) = match container {
            Container::Mp4 => ("libx264", Pixel::YUV420P, Post::None),
            Container::WebM => ("libvpx-vp9", Pixel::YUV420P, Post::None),
            Container::Png => ("png", Pixel::RGB24, Post::ToRgb),
            Container::Jpeg => {
                ("mjpeg", Pixel::YUVJ444P, if s.colour == Colour::JPEG { Post::None } else { Post::ToJpeg })
            }
        };
        let codec = encoder::find_by_name(name).ok_or_else(|| VideoError::UnsupportedOutput {
            path: PathBuf::from(&out.url),
            reason: format!("this FFmpeg build has no {name} encoder"),
        })?;
        let global_header = out.global_header();
        let index = {
            let mut ost = out.octx.add_stream(codec).ff(|| "adding the video stream".into())?;
            ost.set_time_base(s.time_base);
            ost.index()
        };
        let mut enc =
            codec::context::Context::new_with_codec(codec).encoder().video().ff(|| format!("creating {name}"))?;
        enc.set_width(w as u32);
        enc.set_height(h as u32);
        enc.set_format(pixel);
        if matches!(container, Container::Mp4 | Container::WebM) {
            // libavcodec gives API users one encoder thread; then every frame's encode ran alone
            // on the calling thread between two upscales, leaving the other core idle. Frame
            // threads (x264) and tile/row threads (VP9) overlap it with the next upscale.
            enc.set_threading(codec::threading::Config {
                kind: codec::threading::Type::Frame,
                count: ENCODER_THREADS,
                ..Default::default()
            });
        }
        enc.set_time_base(s.time_base);
        enc.set_frame_rate(s.frame_rate);
        let range = if pixel == Pixel::YUVJ444P || pixel == Pixel::RGB24 || s.colour.range == Range::Full {
            color::Range::JPEG
        } else {
            color::Range::MPEG
        };
        if pixel != Pixel::RGB24 {
            enc.set_color_range(range);
            let matrix = if post == Post::ToJpeg { Matrix::Bt601 } else { s.colour.matrix };
            enc.set_colorspace(match matrix {
                Matrix::Bt601 => color::Space::SMPTE170M,
                Matrix::Bt709 => color::Space::BT709,
            });
        }
        if global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = Dictionary::new();
        match container {
            Container::Mp4 => {
                opts.set("preset", "veryfast");
                opts.set("tune", "zerolatency");
                opts.set("crf", &s.crf.unwrap_or(23).to_string());
            }
            Container::WebM => {
                opts.set("deadline", "realtime");
                opts.set("cpu-used", "8");
                opts.set("row-mt", "1");
                opts.set("crf", &s.crf.unwrap_or(32).to_string());
                enc.set_bit_rate(0);
            }
            Container::Jpeg => {
                // Fixed quantiser q=2 (FF_QP2LAMBDA = 118): the default 200 kb/s target would blur.
                enc.set_flags(codec::Flags::QSCALE);
                enc.set_global_quality(2 * 118);
            }
            Container::Png => {}
        }
        let encoder = enc.open_with(opts).ff(|| format!("opening the {name} encoder for {w}×{h}"))?;
        if let Some(mut ost) = out.octx.stream_mut(index) {
            ost.set_parameters(&encoder);
            if let Some(fps) = s.frame_rate {
                ost.set_avg_frame_rate(fps);
            }
        }
        let nominal_duration = s
            .frame_rate
            .filter(|r| r.numerator() > 0 && r.denominator() > 0)
            .map_or(1, |r| (f64::from(r.invert()) / f64::from(s.time_base)).round().max(1.0) as i64);
        let staged_format = if post == Post::None { pixel } else { Pixel::YUV444P };
        let (sw, sh) = if post == Post::None { (w, h) } else { (s.width, s.height) };
        let staged = frame::Video::new(staged_format, sw as u32, sh as u32);
        let converted =
            if post == Post::None { frame::Video::empty() } else { frame::Video::new(pixel, w as u32, h as u32) };
        Ok(Self {
            encoder,
            index,
            time_base: s.time_base,
            staged,
            converted,
            post,
            colour: s.colour,
            nominal_duration,
            last_pts: None,
            in_flight: VecDeque::with_capacity(64),
            packet: Packet::empty(),
        })
    }

    /// Encodes the staged frame at `pts`, shown for `duration` (input time base; the frame
    /// rate's period when unknown), and writes what the encoder emits.
    pub fn encode(&mut self, pts: Option<i64>, duration: Option<i64>, out: &mut Output) -> Result<(), VideoError> {
        // Encoders need strictly increasing timestamps; a missing or repeated one is
        // replaced by the previous plus one frame.
        let next = self.last_pts.map(|p| p + self.nominal_duration);
        let pts = match (pts, self.last_pts, next) {
            (Some(p), Some(last), Some(n)) if p <= last => n,
            (Some(p), _, _) => p,
            (None, _, Some(n)) => n,
            (None, _, None) => 0,
        };
        self.last_pts = Some(pts);
        self.in_flight.push_back((pts, duration.unwrap_or(self.nominal_duration)));
        match self.post {
            Post::None => {}
            Post::ToRgb => ycc_to_rgb(&self.staged, &mut self.converted, self.colour),
            Post::ToJpeg => ycc_to_jpeg(&self.staged, &mut self.converted, self.colour),
        }
        let frame = if self.post == Post::None { &mut self.staged } else { &mut self.converted };
        frame.set_pts(Some(pts));
        self.encoder.send_frame(frame).ff(|| "encoding a video frame".into())?;
        self.drain(out)
    }

    /// Flushes the encoder.
    pub fn finish(&mut self, out: &mut Output) -> Result<(), VideoError> {
        self.encoder.send_eof().ff(|| "flushing the video encoder".into())?;
        self.drain(out)
    }

    fn drain(&mut self, out: &mut Output) -> Result<(), VideoError> {
        loop {
            match self.encoder.receive_packet(&mut self.packet) {
                Ok(()) => {
                    let pts = self.packet.pts().unwrap_or(i64::MIN);
                    while self.in_flight.front().is_some_and(|(p, _)| *p < pts) {
                        self.in_flight.pop_front();
                    }
                    let known = match self.in_flight.front() {
                        Some(&(p, d)) if p == pts => {
                            self.in_flight.pop_front();
                            Some(d)
                        }
                        _ => None,
                    };
                    if self.packet.duration() <= 0 {
                        self.packet.set_duration(known.unwrap_or(self.nominal_duration));
                    }
                    out.write(&mut self.packet, self.index, self.time_base)?;
                }
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::util::error::EAGAIN => return Ok(()),
                Err(e) => return Err(VideoError::Ffmpeg { context: "encoding video".into(), source: e }),
            }
        }
    }
}

impl PlaneSink for VideoEncoder {
    /// The planes the stage writes (0 = Y, 1 = Cb, 2 = Cr); for 4:2:0 video possibly one
    /// row/column smaller than the upscaled size (x264 and VP9 need even sizes).
    fn plane(&mut self, index: usize) -> PlaneMut<'_> {
        let f = &mut self.staged;
        let (width, height) = (f.plane_width(index) as usize, f.plane_height(index) as usize);
        let stride = f.stride(index);
        PlaneMut { data: f.data_mut(index), stride, width, height }
    }
}

/// Planar Y'CbCr 4:4:4 of `colour` → RGB24 (same size).
fn ycc_to_rgb(ycc: &frame::Video, rgb: &mut frame::Video, colour: Colour) {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let strides = [ycc.stride(0), ycc.stride(1), ycc.stride(2)];
    let dst_stride = rgb.stride(0);
    let (y, cb, cr) = (ycc.data(0), ycc.data(1), ycc.data(2));
    let dst = rgb.data_mut(0);
    for row in 0..h {
        let line = &mut dst[row * dst_stride..row * dst_stride + 3 * w];
        for (x, px) in line.chunks_exact_mut(3).enumerate() {
            let at = |k: usize| row * strides[k] + x;
            px.copy_from_slice(&colour.ycbcr_to_rgb(y[at(0)], cb[at(1)], cr[at(2)]));
        }
    }
}

/// Planar Y'CbCr 4:4:4 of `colour` → BT.601 full range (JPEG), through RGB.
fn ycc_to_jpeg(ycc: &frame::Video, out: &mut frame::Video, colour: Colour) {
    let (w, h) = (out.width() as usize, out.height() as usize);
    let src = [ycc.stride(0), ycc.stride(1), ycc.stride(2)];
    let dst = [out.stride(0), out.stride(1), out.stride(2)];
    for row in 0..h {
        for x in 0..w {
            let at = |k: usize| row * src[k] + x;
            let [r, g, b] = colour.ycbcr_to_rgb(ycc.data(0)[at(0)], ycc.data(1)[at(1)], ycc.data(2)[at(2)]);
            let v = Colour::JPEG.rgb_to_ycbcr(r, g, b);
            for (k, value) in v.into_iter().enumerate() {
                out.data_mut(k)[row * dst[k] + x] = value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_follow_the_extension() {
        for (name, want) in [
            ("a.mp4", Some(Container::Mp4)),
            ("a.MOV", Some(Container::Mp4)),
            ("dir.v/a.webm", Some(Container::WebM)),
            ("a.png", Some(Container::Png)),
            ("a.JPEG", Some(Container::Jpeg)),
            ("a.mkv", None),
            ("noext", None),
        ] {
            assert_eq!(Container::from_path(Path::new(name)).ok(), want, "{name}");
        }
        assert!(Container::Jpeg.is_image() && !Container::WebM.is_image());
    }
}
