//! [`VideoDecoder`]: a video stream's packets → planar 8-bit Y'CbCr frames of one fixed layout.
//!
//! Planar 4:2:0 / 4:2:2 / 4:4:4 8-bit frames (`yuv*p`, `yuvj*p`) are used in place. Other
//! Y'CbCr formats (NV12, 10-bit, …) are converted by swscale to 8-bit planar of the same
//! subsampling family without touching the range. RGB, grey and palette images go through
//! swscale to RGB24 and then our own BT.601 full-range (JPEG) conversion to 4:4:4. A frame whose
//! size or format changes mid-stream is converted back to the stream's first layout.

use std::path::Path;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, color, decoder, frame};

use super::VideoError;
use super::colour::{Colour, Matrix, Range};
use super::error::FfmpegContext;
use super::stage::{FrameLayout, Plane};

/// How decoded frames reach the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Already planar 8-bit Y'CbCr in `Pixel`.
    Direct(Pixel),
    /// swscale to this planar 8-bit Y'CbCr format.
    Convert(Pixel),
    /// swscale to RGB24, then RGB → Y'CbCr 4:4:4 (BT.601 full).
    Rgb,
}

fn is_direct(p: Pixel) -> bool {
    use Pixel::*;
    matches!(p, YUV420P | YUVJ420P | YUV422P | YUVJ422P | YUV444P | YUVJ444P)
}

fn is_full_range_format(p: Pixel) -> bool {
    matches!(p, Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P)
}

fn route_for(p: Pixel) -> Route {
    if is_direct(p) {
        return Route::Direct(p);
    }
    let Some(d) = p.descriptor() else { return Route::Convert(Pixel::YUV420P) };
    let name = d.name();
    let yuv = name.starts_with("yuv") || name.starts_with("nv") || name.starts_with("p01") || name.starts_with("p21");
    if !yuv || d.nb_components() < 3 {
        return Route::Rgb;
    }
    match (d.log2_chroma_w(), d.log2_chroma_h()) {
        (0, 0) => Route::Convert(Pixel::YUV444P),
        (1, 0) => Route::Convert(Pixel::YUV422P),
        _ => Route::Convert(Pixel::YUV420P),
    }
}

/// The colour convention a stream declares (unspecified matrix → by height; unspecified
/// range → limited, except for the JPEG `yuvj` formats).
fn declared_colour(format: Pixel, space: color::Space, range: color::Range, height: usize) -> Colour {
    let matrix = match space {
        color::Space::BT709 => Matrix::Bt709,
        color::Space::BT470BG | color::Space::SMPTE170M | color::Space::FCC => Matrix::Bt601,
        _ => Matrix::default_for_height(height),
    };
    let range = if range == color::Range::JPEG || is_full_range_format(format) { Range::Full } else { Range::Limited };
    Colour { matrix, range }
}

/// A decoded frame ready for the stage.
#[derive(Debug)]
pub struct DecodedFrame<'a> {
    /// Y, Cb, Cr.
    pub planes: [Plane<'a>; 3],
    /// Presentation timestamp in the stream's time base (best effort).
    pub pts: Option<i64>,
    /// How long the frame is shown, in the same time base, if the demuxer said.
    pub duration: Option<i64>,
}

/// Decodes one video stream into frames of one layout.
pub struct VideoDecoder {
    decoder: decoder::Video,
    route: Route,
    width: u32,
    height: u32,
    layout: FrameLayout,
    colour: Colour,
    raw: frame::Video,
    converted: frame::Video,
    /// RGB-route output (4:4:4 full-range Y'CbCr).
    ycc: frame::Video,
    scaler: Option<scaling::Context>,
    corrupt: u64,
    last_error: Option<String>,
}

impl VideoDecoder {
    /// A decoder for `stream` of the file at `path` (named in errors).
    pub fn new(stream: &ffmpeg_next::format::stream::Stream<'_>, path: &Path) -> Result<Self, VideoError> {
        let params = stream.parameters();
        let id = params.id();
        let mut ctx =
            codec::context::Context::from_parameters(params).ff(|| "reading the video codec parameters".into())?;
        ctx.set_threading(codec::threading::Config { kind: codec::threading::Type::Frame, ..Default::default() });
        let mut dec = ctx.decoder();
        dec.set_packet_time_base(stream.time_base());
        let decoder = dec.video().map_err(|e| match e {
            ffmpeg_next::Error::DecoderNotFound => {
                VideoError::UnsupportedCodec { path: path.to_path_buf(), codec: id.name().to_string() }
            }
            source => VideoError::Ffmpeg { context: format!("opening the {} decoder", id.name()), source },
        })?;
        let (width, height) = (decoder.width(), decoder.height());
        let format = decoder.format();
        if width == 0 || height == 0 || format == Pixel::None {
            return Err(VideoError::NotMedia {
                path: path.to_path_buf(),
                reason: format!("the {} stream declares no frame size or pixel format", id.name()),
            });
        }
        let route = route_for(format);
        let (w, h) = (width as usize, height as usize);
        let (layout, colour) = match route {
            Route::Direct(p) | Route::Convert(p) => {
                let d = p.descriptor();
                let (lw, lh) = d.map_or((1, 1), |d| (u32::from(d.log2_chroma_w()), u32::from(d.log2_chroma_h())));
                (
                    FrameLayout::subsampled(w, h, lw, lh),
                    declared_colour(format, decoder.color_space(), decoder.color_range(), h),
                )
            }
            Route::Rgb => (FrameLayout::subsampled(w, h, 0, 0), Colour::JPEG),
        };
        Ok(Self {
            decoder,
            route,
            width,
            height,
            layout,
            colour,
            raw: frame::Video::empty(),
            converted: frame::Video::empty(),
            ycc: frame::Video::empty(),
            scaler: None,
            corrupt: 0,
            last_error: None,
        })
    }

    /// Plane sizes of every frame [`VideoDecoder::receive`] returns.
    pub fn layout(&self) -> FrameLayout {
        self.layout
    }

    /// The colour convention of those frames.
    pub fn colour(&self) -> Colour {
        self.colour
    }

    /// The codec's name.
    pub fn codec_name(&self) -> &'static str {
        self.decoder.id().name()
    }

    /// Feeds one packet. A packet the decoder rejects is skipped and counted (players conceal
    /// such damage too); a stream where nothing decodes fails later as zero frames.
    pub fn send(&mut self, packet: &ffmpeg_next::Packet) {
        if let Err(e) = self.decoder.send_packet(packet) {
            self.corrupt += 1;
            self.last_error = Some(e.to_string());
        }
    }

    /// Packets or frames the decoder rejected so far, and its last message.
    pub fn damage(&self) -> (u64, Option<&str>) {
        (self.corrupt, self.last_error.as_deref())
    }

    /// Signals the end of the stream, so the decoder releases the frames it holds.
    pub fn send_eof(&mut self) -> Result<(), VideoError> {
        self.decoder.send_eof().ff(|| "flushing the video decoder".into())
    }

    /// The next decoded frame, or `None` when the decoder needs more input (or is drained).
    pub fn receive(&mut self) -> Result<Option<DecodedFrame<'_>>, VideoError> {
        // A decoder stuck on an error must not spin us: give up on this call after a few.
        let mut errors = 0;
        loop {
            match self.decoder.receive_frame(&mut self.raw) {
                Ok(()) => break,
                Err(_) if errors >= 8 => return Ok(None),
                Err(ffmpeg_next::Error::Eof) => return Ok(None),
                Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::util::error::EAGAIN => {
                    return Ok(None);
                }
                // A damaged frame: skip it and ask for the next one.
                Err(e) => {
                    errors += 1;
                    self.corrupt += 1;
                    self.last_error = Some(e.to_string());
                }
            }
        }
        let pts = self.raw.timestamp();
        let duration = Some(self.raw.packet().duration).filter(|d| *d > 0);
        let same_size = self.raw.width() == self.width && self.raw.height() == self.height;
        let frame = match self.route {
            Route::Direct(p) if same_size && self.raw.format() == p => &self.raw,
            Route::Direct(p) | Route::Convert(p) => {
                self.convert(p)?;
                &self.converted
            }
            Route::Rgb => {
                self.convert(Pixel::RGB24)?;
                rgb_to_ycc(&self.converted, &mut self.ycc, self.colour);
                &self.ycc
            }
        };
        let (l, c) = (self.layout.luma, self.layout.chroma);
        let plane = |i: usize, (width, height): (usize, usize)| Plane {
            data: frame.data(i),
            stride: frame.stride(i),
            width,
            height,
        };
        Ok(Some(DecodedFrame { planes: [plane(0, l), plane(1, c), plane(2, c)], pts, duration }))
    }

    /// swscale `raw` into `converted` (`format`, the stream's first size).
    fn convert(&mut self, format: Pixel) -> Result<(), VideoError> {
        let (src_fmt, sw, sh) = (self.raw.format(), self.raw.width(), self.raw.height());
        let stale = self.scaler.as_ref().is_none_or(|s| {
            let i = s.input();
            (i.format, i.width, i.height) != (src_fmt, sw, sh)
        });
        if stale {
            self.scaler = Some(
                scaling::Context::get(src_fmt, sw, sh, format, self.width, self.height, scaling::Flags::BICUBIC)
                    .ff(|| format!("converting {sw}×{sh} {src_fmt:?} to {format:?}"))?,
            );
        }
        if let Some(s) = &mut self.scaler {
            s.run(&self.raw, &mut self.converted).ff(|| "converting a video frame".into())?;
        }
        Ok(())
    }
}

/// RGB24 → planar Y'CbCr 4:4:4 of `colour` (allocating `ycc` on first use).
fn rgb_to_ycc(rgb: &frame::Video, ycc: &mut frame::Video, colour: Colour) {
    let (w, h) = (rgb.width(), rgb.height());
    if ycc.width() != w || ycc.height() != h || ycc.format() != Pixel::YUV444P {
        *ycc = frame::Video::new(Pixel::YUV444P, w, h);
    }
    let (w, h) = (w as usize, h as usize);
    let src_stride = rgb.stride(0);
    let strides = [ycc.stride(0), ycc.stride(1), ycc.stride(2)];
    let src = rgb.data(0);
    for row in 0..h {
        let line = &src[row * src_stride..row * src_stride + 3 * w];
        for (x, px) in line.chunks_exact(3).enumerate() {
            let v = colour.rgb_to_ycbcr(px[0], px[1], px[2]);
            for (k, value) in v.into_iter().enumerate() {
                ycc.data_mut(k)[row * strides[k] + x] = value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_routed_by_family() {
        assert_eq!(route_for(Pixel::YUVJ420P), Route::Direct(Pixel::YUVJ420P));
        assert_eq!(route_for(Pixel::NV12), Route::Convert(Pixel::YUV420P));
        assert_eq!(route_for(Pixel::YUV420P10LE), Route::Convert(Pixel::YUV420P));
        assert_eq!(route_for(Pixel::YUV444P10LE), Route::Convert(Pixel::YUV444P));
        for p in [Pixel::RGB24, Pixel::RGBA, Pixel::GRAY8, Pixel::PAL8, Pixel::BGR24] {
            assert_eq!(route_for(p), Route::Rgb, "{p:?}");
        }
    }

    #[test]
    fn declared_colour_falls_back_by_height() {
        let c = declared_colour(Pixel::YUV420P, color::Space::Unspecified, color::Range::Unspecified, 480);
        assert_eq!(c, Colour { matrix: Matrix::Bt601, range: Range::Limited });
        let c = declared_colour(Pixel::YUV420P, color::Space::Unspecified, color::Range::JPEG, 1080);
        assert_eq!(c, Colour { matrix: Matrix::Bt709, range: Range::Full });
        let c = declared_colour(Pixel::YUVJ420P, color::Space::BT470BG, color::Range::Unspecified, 1080);
        assert_eq!(c, Colour::JPEG);
    }
}
