//! In-memory JPEG pictures ↔ packed 4:2:0 full-range BT.601 Y'CbCr ([`Colour::JPEG`]), one
//! picture per call, through FFmpeg's MJPEG codec: the frames of a live stream, which arrive
//! as bytes, not files.
//!
//! [`JpegDecoder`] takes any baseline or progressive JPEG of the expected size: 4:2:0 is copied
//! as it is, grey gets neutral chroma, other subsamplings are converted by swscale (range kept).
//! [`JpegEncoder`] writes 4:2:0 at a fixed quantiser chosen from a 1–100 quality. Both keep
//! their FFmpeg contexts and frames for the stream's life (create them on the thread that uses
//! them: swscale contexts are not `Send`); a call allocates only FFmpeg's packet.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{Dictionary, Packet, Rational, codec, color, decoder, encoder, frame};

use super::VideoError;
use super::colour::Colour;
use super::error::FfmpegContext;
use super::stage::{FrameLayout, Plane};

/// The colour convention of every picture these read and write.
pub const JPEG_COLOUR: Colour = Colour::JPEG;

/// The 4:2:0 layout of a `width × height` picture.
fn layout(width: usize, height: usize) -> FrameLayout {
    FrameLayout::subsampled(width, height, 1, 1)
}

fn bad(reason: impl Into<String>) -> VideoError {
    VideoError::BadPicture { reason: reason.into() }
}

/// Decodes JPEG pictures of one size into packed 4:2:0.
pub struct JpegDecoder {
    decoder: decoder::Video,
    size: (usize, usize),
    raw: frame::Video,
    converted: frame::Video,
    /// swscale from (format) to 4:2:0, made for the first picture that needs it.
    scaler: Option<(Pixel, scaling::Context)>,
}

impl std::fmt::Debug for JpegDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpegDecoder").field("size", &self.size).finish_non_exhaustive()
    }
}

impl JpegDecoder {
    /// A decoder for `width × height` pictures.
    pub fn new(width: usize, height: usize) -> Result<Self, VideoError> {
        super::init()?;
        if width == 0 || height == 0 {
            return Err(VideoError::InvalidConfig(format!("a {width}×{height} picture is empty")));
        }
        let codec = decoder::find(codec::Id::MJPEG)
            .ok_or_else(|| VideoError::InvalidConfig("this FFmpeg build has no MJPEG decoder".into()))?;
        let decoder = codec::context::Context::new_with_codec(codec)
            .decoder()
            .video()
            .ff(|| "opening the MJPEG decoder".into())?;
        Ok(Self {
            decoder,
            size: (width, height),
            raw: frame::Video::empty(),
            converted: frame::Video::empty(),
            scaler: None,
        })
    }

    /// Bytes of the packed 4:2:0 frame [`JpegDecoder::decode`] writes.
    pub fn frame_len(&self) -> usize {
        layout(self.size.0, self.size.1).packed_len()
    }

    /// Decodes the one picture in `jpeg` into `dst` (packed 4:2:0, [`JpegDecoder::frame_len`]
    /// bytes). Not a JPEG, damaged, or another size: [`VideoError::BadPicture`].
    pub fn decode(&mut self, jpeg: &[u8], dst: &mut [u8]) -> Result<(), VideoError> {
        let (w, h) = self.size;
        let l = layout(w, h);
        let len = dst.len();
        let [y, cb, cr] =
            l.packed_mut(dst).ok_or_else(|| VideoError::InvalidConfig(format!("{len} bytes for a {w}×{h} frame")))?;
        if jpeg.len() < 4 || jpeg[..2] != [0xff, 0xd8] {
            return Err(bad("not a JPEG picture (no start-of-image marker)"));
        }
        let packet = Packet::copy(jpeg);
        let got = self.decoder.send_packet(&packet).and_then(|()| self.decoder.receive_frame(&mut self.raw));
        if let Err(e) = got {
            // A failed picture must not leave state behind for the next one.
            self.decoder.flush();
            return Err(bad(format!("the JPEG picture cannot be decoded: {e}")));
        }
        let (fw, fh) = (self.raw.width() as usize, self.raw.height() as usize);
        if (fw, fh) != (w, h) {
            return Err(bad(format!("the picture is {fw}×{fh}, the stream's frames are {w}×{h}")));
        }
        let format = self.raw.format();
        let src = match format {
            Pixel::YUV420P | Pixel::YUVJ420P => &self.raw,
            Pixel::GRAY8 => {
                copy_plane(&self.raw, 0, &mut y.data[..], y.width, y.height);
                cb.data.fill(128);
                cr.data.fill(128);
                return Ok(());
            }
            other => {
                // Keep the range: `yuvj` formats convert to `yuvj420p`, others to `yuv420p`.
                let full = matches!(other, Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P | Pixel::YUVJ411P);
                let target = if full { Pixel::YUVJ420P } else { Pixel::YUV420P };
                let scaler = match &mut self.scaler {
                    Some((f, s)) if *f == other => s,
                    slot => {
                        let s = scaling::Context::get(
                            other,
                            w as u32,
                            h as u32,
                            target,
                            w as u32,
                            h as u32,
                            scaling::Flags::BICUBIC,
                        )
                        .map_err(|e| bad(format!("cannot convert a {other:?} picture: {e}")))?;
                        &mut slot.insert((other, s)).1
                    }
                };
                scaler.run(&self.raw, &mut self.converted).ff(|| "converting a JPEG picture to 4:2:0".into())?;
                &self.converted
            }
        };
        copy_plane(src, 0, &mut y.data[..], y.width, y.height);
        copy_plane(src, 1, &mut cb.data[..], cb.width, cb.height);
        copy_plane(src, 2, &mut cr.data[..], cr.width, cr.height);
        Ok(())
    }
}

/// Copies plane `i` of `f` (its stride) into packed `width`-wide rows of `dst`.
fn copy_plane(f: &frame::Video, i: usize, dst: &mut [u8], width: usize, height: usize) {
    let (src, stride) = (f.data(i), f.stride(i));
    for (r, row) in dst.chunks_exact_mut(width).take(height).enumerate() {
        row.copy_from_slice(&src[r * stride..r * stride + width]);
    }
}

/// Encodes packed 4:2:0 frames of one size as JPEG pictures.
pub struct JpegEncoder {
    encoder: encoder::Video,
    size: (usize, usize),
    frame: frame::Video,
    packet: Packet,
    pts: i64,
}

impl std::fmt::Debug for JpegEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpegEncoder").field("size", &self.size).finish_non_exhaustive()
    }
}

/// The MJPEG quantiser for a quality of 1 (worst, 31) to 100 (best, 2).
pub fn quantiser(quality: u8) -> u32 {
    let q = u32::from(quality.clamp(1, 100));
    2 + ((100 - q) * 29 + 49) / 99
}

impl JpegEncoder {
    /// An encoder for `width × height` frames at `quality` (1–100, see [`quantiser`]).
    pub fn new(width: usize, height: usize, quality: u8) -> Result<Self, VideoError> {
        super::init()?;
        if width == 0 || height == 0 {
            return Err(VideoError::InvalidConfig(format!("a {width}×{height} picture is empty")));
        }
        let codec = encoder::find(codec::Id::MJPEG)
            .ok_or_else(|| VideoError::InvalidConfig("this FFmpeg build has no MJPEG encoder".into()))?;
        let mut enc = codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .ff(|| "creating the MJPEG encoder".into())?;
        enc.set_width(width as u32);
        enc.set_height(height as u32);
        enc.set_format(Pixel::YUVJ420P);
        enc.set_time_base(Rational::new(1, 25));
        enc.set_color_range(color::Range::JPEG);
        enc.set_colorspace(color::Space::BT470BG);
        // A fixed quantiser: qmin = qmax pins every block's scale (no rate control).
        enc.set_flags(codec::Flags::QSCALE);
        let q = quantiser(quality).to_string();
        let mut opts = Dictionary::new();
        opts.set("qmin", &q);
        opts.set("qmax", &q);
        let encoder = enc.open_with(opts).ff(|| format!("opening the MJPEG encoder for {width}×{height}"))?;
        Ok(Self {
            encoder,
            size: (width, height),
            frame: frame::Video::new(Pixel::YUVJ420P, width as u32, height as u32),
            packet: Packet::empty(),
            pts: 0,
        })
    }

    /// Encodes one frame (`planes`: Y, Cb, Cr of the encoder's size, 4:2:0) and appends the
    /// JPEG picture to `out`.
    pub fn encode(&mut self, planes: [Plane<'_>; 3], out: &mut Vec<u8>) -> Result<(), VideoError> {
        let l = layout(self.size.0, self.size.1);
        for (i, p) in planes.iter().enumerate() {
            let want = if i == 0 { l.luma } else { l.chroma };
            if (p.width, p.height) != want || p.stride < p.width || p.data.len() < p.stride * (p.height - 1) + p.width {
                return Err(VideoError::InvalidConfig(format!(
                    "plane {i} is {}×{} (stride {}), expected {}×{}",
                    p.width, p.height, p.stride, want.0, want.1
                )));
            }
            let stride = self.frame.stride(i);
            let dst = self.frame.data_mut(i);
            for r in 0..p.height {
                dst[r * stride..r * stride + p.width].copy_from_slice(&p.data[r * p.stride..r * p.stride + p.width]);
            }
        }
        self.frame.set_pts(Some(self.pts));
        self.pts += 1;
        self.encoder.send_frame(&self.frame).ff(|| "encoding a JPEG picture".into())?;
        self.encoder.receive_packet(&mut self.packet).ff(|| "encoding a JPEG picture".into())?;
        out.extend_from_slice(self.packet.data().unwrap_or_default());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth colour picture, packed 4:2:0.
    fn picture(w: usize, h: usize) -> Vec<u8> {
        let l = layout(w, h);
        let mut buf = vec![0u8; l.packed_len()];
        let luma = w * h;
        for (i, v) in buf.iter_mut().enumerate() {
            *v = if i < luma {
                (40 + (i % w) * 150 / w + (i / w) * 40 / h) as u8
            } else {
                (100 + (i - luma) % 37) as u8
            };
        }
        buf
    }

    #[test]
    fn a_picture_survives_the_round_trip_and_quality_sets_the_size() {
        let (w, h) = (64, 48);
        let src = picture(w, h);
        let planes = layout(w, h).packed(&src).unwrap_or_else(|| panic!("layout"));
        let mut sizes = Vec::new();
        for quality in [10, 95] {
            let mut enc = JpegEncoder::new(w, h, quality).unwrap_or_else(|e| panic!("{e}"));
            let mut jpeg = Vec::new();
            enc.encode(planes, &mut jpeg).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(jpeg[..2], [0xff, 0xd8]);
            let mut dec = JpegDecoder::new(w, h).unwrap_or_else(|e| panic!("{e}"));
            let mut back = vec![0u8; dec.frame_len()];
            dec.decode(&jpeg, &mut back).unwrap_or_else(|e| panic!("{e}"));
            let mad = src[..w * h].iter().zip(&back).map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs()).sum::<i32>()
                as f64
                / (w * h) as f64;
            assert!(mad < if quality > 50 { 1.5 } else { 6.0 }, "quality {quality}: mean |Δluma| {mad}");
            sizes.push(jpeg.len());
        }
        assert!(sizes[0] < sizes[1], "quality 10 should be smaller than 95: {sizes:?}");
        assert_eq!((quantiser(100), quantiser(1), quantiser(0)), (2, 31, 31));
    }

    /// A 64×48 `testsrc2` picture written by the ffmpeg CLI as a JPEG in `pix_fmt`, and
    /// ffmpeg's own decode of it to 8-bit grey (full-range luma).
    fn ffmpeg_jpeg(dir: &std::path::Path, pix_fmt: &str) -> (Vec<u8>, Vec<u8>) {
        let path = dir.join(format!("{pix_fmt}.jpg"));
        let path = path.to_str().unwrap_or_else(|| panic!("path"));
        let run = |args: &[&str]| {
            let out = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-nostdin", "-y"])
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("running ffmpeg: {e}"));
            assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        };
        let src = ["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1"];
        run(&[&src[..], &["-pix_fmt", pix_fmt, "-q:v", "2", path]].concat());
        let grey = run(&["-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"]);
        (std::fs::read(path).unwrap_or_else(|e| panic!("{e}")), grey)
    }

    #[test]
    fn other_subsamplings_decode_to_the_same_luma_as_ffmpeg() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut dec = JpegDecoder::new(64, 48).unwrap_or_else(|e| panic!("{e}"));
        let mut out = vec![0u8; dec.frame_len()];
        // (FFmpeg's MJPEG encoder writes no grey JPEGs, so the grey path is not covered here.)
        for pix_fmt in ["yuvj420p", "yuvj422p", "yuvj444p"] {
            let (jpeg, grey) = ffmpeg_jpeg(dir.path(), pix_fmt);
            dec.decode(&jpeg, &mut out).unwrap_or_else(|e| panic!("{pix_fmt}: {e}"));
            assert_eq!(grey.len(), 64 * 48, "{pix_fmt}");
            let worst = out[..64 * 48].iter().zip(&grey).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
            assert!(worst <= 2, "{pix_fmt}: luma differs from ffmpeg's by up to {worst}");
            let chroma = &out[64 * 48..];
            assert!(chroma.iter().any(|c| c.abs_diff(128) > 20), "{pix_fmt}: testsrc2's colours are lost");
        }
    }

    /// A grey (one-component) JPEG: FFmpeg's encoder cannot write one, Pillow (Debian's
    /// python3-pil, as the DICOM tests use) can. Its decode is the luma, chroma neutral.
    #[test]
    fn grey_jpegs_decode_to_their_luma_with_neutral_chroma() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (jpg, raw) = (dir.path().join("grey.jpg"), dir.path().join("grey.raw"));
        let code = "import sys\nfrom PIL import Image\n\
                    im = Image.new('L', (64, 48))\n\
                    im.putdata([(x * 4 + y * 3 + (x * y) % 17) % 256 for y in range(48) for x in range(64)])\n\
                    im.save(sys.argv[1], quality=95)\n\
                    open(sys.argv[2], 'wb').write(Image.open(sys.argv[1]).tobytes())\n";
        let out = std::process::Command::new("/usr/bin/python3")
            .args(["-c", code])
            .args([&jpg, &raw])
            .output()
            .unwrap_or_else(|e| panic!("running python3: {e}"));
        assert!(out.status.success(), "Pillow: {}", String::from_utf8_lossy(&out.stderr));
        let jpeg = std::fs::read(&jpg).unwrap_or_else(|e| panic!("{e}"));
        let pillow = std::fs::read(&raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pillow.len(), 64 * 48, "Pillow should have written one grey plane");
        let mut dec = JpegDecoder::new(64, 48).unwrap_or_else(|e| panic!("{e}"));
        let mut got = vec![0u8; dec.frame_len()];
        dec.decode(&jpeg, &mut got).unwrap_or_else(|e| panic!("grey JPEG: {e}"));
        let worst = got[..64 * 48].iter().zip(&pillow).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
        assert!(worst <= 2, "luma differs from Pillow's decode by up to {worst}");
        assert!(got[64 * 48..].iter().all(|&c| c == 128), "chroma of a grey picture should be neutral");
    }

    #[test]
    fn bad_pictures_are_typed_errors_and_the_decoder_recovers() {
        let (w, h) = (32, 16);
        let mut enc = JpegEncoder::new(w, h, 90).unwrap_or_else(|e| panic!("{e}"));
        let src = picture(w, h);
        let mut good = Vec::new();
        enc.encode(layout(w, h).packed(&src).unwrap_or_else(|| panic!()), &mut good).unwrap_or_else(|e| panic!("{e}"));
        let mut other = JpegEncoder::new(16, 16, 90).unwrap_or_else(|e| panic!("{e}"));
        let small = picture(16, 16);
        let mut wrong_size = Vec::new();
        other
            .encode(layout(16, 16).packed(&small).unwrap_or_else(|| panic!()), &mut wrong_size)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut dec = JpegDecoder::new(w, h).unwrap_or_else(|e| panic!("{e}"));
        let mut out = vec![0u8; dec.frame_len()];
        let garbage: Vec<u8> = (0..500u32).map(|i| (i * 7919 % 251) as u8).collect();
        let mut corrupt = vec![0xff, 0xd8];
        corrupt.extend_from_slice(&garbage);
        for (what, bytes) in [("garbage", &garbage), ("corrupt", &corrupt), ("wrong size", &wrong_size)] {
            let e = dec.decode(bytes, &mut out).err();
            assert!(matches!(e, Some(VideoError::BadPicture { .. })), "{what}: {e:?}");
            dec.decode(&good, &mut out).unwrap_or_else(|e| panic!("after {what}: {e}"));
        }
    }
}
