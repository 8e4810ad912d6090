//! [`DicomSource`]: the frames of a multi-frame DICOM file as 8-bit grey, one at a time.
//!
//! The header (everything before the pixel data) is read whole; the pixel data is indexed
//! (frame offsets, or JPEG fragment positions) and each frame is read from the file when asked
//! for, so memory holds one frame whatever the clip's length. Native frames reuse one buffer;
//! a JPEG frame's decoded pixels are allocated by `jpeg-decoder` per frame (like the frame
//! folder path, decoding dominates; the filter stage itself allocates nothing).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::element::{Element, ElementReader, PIXEL_DATA, ReadError, Tag, UNDEFINED, Value, show};
use super::{DicomHeader, JPEG_BASELINE, transfer_syntax_name};
use crate::echo::declutter::DeclutterError;
use crate::echo::declutter::grey::rgb_to_grey;

/// How a frame's pixels are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One sample; MONOCHROME1 is inverted (0 is white).
    Mono { invert: bool },
    /// R, G, B (interleaved, or one plane each).
    Rgb { planar: bool },
    /// Full-range BT.601 Y, Cb, Cr: grey is Y.
    YbrFull { planar: bool },
    /// Y1 Y2 Cb Cr for each pair of pixels: grey is Y.
    Ybr422,
}

/// Where the frames lie in the file.
#[derive(Debug)]
enum Frames {
    /// Native pixels from `offset`, `frame_bytes` each.
    Native { offset: u64, frame_bytes: usize },
    /// JPEG frames, each one or more (offset, length) fragments.
    Jpeg(Vec<Vec<(u64, u32)>>),
}

/// An opened multi-frame DICOM file.
#[derive(Debug)]
pub struct DicomSource {
    path: PathBuf,
    file: BufReader<File>,
    layout: Layout,
    frames: Frames,
    count: u64,
    size: (usize, usize),
    /// Frames per second from the timing tags.
    pub fps: Option<f64>,
    /// The header elements and identity the output keeps.
    pub header: DicomHeader,
    /// Whether the pixel data is JPEG baseline.
    pub jpeg: bool,
    buf: Vec<u8>,
}

impl DicomSource {
    /// Opens `path`, reads its header and indexes its frames. Errors: a file that is not DICOM
    /// or is damaged ([`DeclutterError::BadDicom`]), or one this reader does not take
    /// ([`DeclutterError::UnsupportedDicom`]).
    pub fn open(path: &Path) -> Result<Self, DeclutterError> {
        let io = |source| DeclutterError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut r = ElementReader::new(BufReader::new(file), 0, true);
        let bad = |reason: String| DeclutterError::BadDicom { path: path.to_path_buf(), reason };
        let unsupported = |reason: String| DeclutterError::UnsupportedDicom { path: path.to_path_buf(), reason };
        let read_err = |e: ReadError| match e {
            ReadError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => bad("the file is cut short".into()),
            ReadError::Io(e) => DeclutterError::Io { path: path.to_path_buf(), source: e },
            ReadError::Bad(reason) => bad(reason),
        };

        let mut preamble = [0u8; 132];
        if r.read_exact(&mut preamble).is_err() || &preamble[128..] != b"DICM" {
            return Err(bad("no 'DICM' marker at byte 128: not a DICOM (Part 10) file".into()));
        }
        // File meta information: explicit VR, its length given by (0002,0000).
        let meta = read_meta(&mut r).map_err(read_err)?;
        let ts = meta.iter().find(|e| e.tag == 0x0002_0010).and_then(Element::str).unwrap_or("").to_owned();
        let jpeg = match ts.as_str() {
            "1.2.840.10008.1.2" => {
                r.explicit = false;
                false
            }
            "1.2.840.10008.1.2.1" => false,
            JPEG_BASELINE => true,
            "" => return Err(bad("the file meta information names no transfer syntax".into())),
            other => {
                return Err(unsupported(format!(
                    "transfer syntax {other} ({}) is not supported; this reader takes uncompressed little \
                     endian (explicit or implicit VR) and JPEG baseline (1.2.840.10008.1.2.4.50)",
                    transfer_syntax_name(other)
                )));
            }
        };

        // The data set up to the pixel data.
        let mut elements = Vec::new();
        let pixel = loop {
            let tag = match r.tag() {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(bad("no pixel data (7FE0,0010)".into()));
                }
                Err(e) => return Err(io(e)),
            };
            let h = r.header_after(tag).map_err(read_err)?;
            if tag == PIXEL_DATA {
                break h;
            }
            if matches!(tag, 0x7FE0_0008 | 0x7FE0_0009) {
                return Err(unsupported("float pixel data is not supported".into()));
            }
            let value = r.value(h, 0).map_err(read_err)?;
            elements.push(Element { tag, vr: h.vr, value });
        };
        let find = |tag: Tag| elements.iter().find(|e| e.tag == tag);
        let us = |tag: Tag, name: &str| {
            find(tag).and_then(Element::u16).ok_or_else(|| bad(format!("{name} {} is missing", show(tag))))
        };
        let (rows, cols) = (us(0x0028_0010, "Rows")?, us(0x0028_0011, "Columns")?);
        let spp = us(0x0028_0002, "Samples per Pixel")?;
        let bits = us(0x0028_0100, "Bits Allocated")?;
        if bits != 8 {
            return Err(unsupported(format!("{bits} bits allocated: only 8-bit pixels are supported")));
        }
        if find(0x0028_0101).and_then(Element::u16).is_some_and(|b| b > 8) {
            return Err(bad("Bits Stored exceeds Bits Allocated (8)".into()));
        }
        if find(0x0028_0103).and_then(Element::u16).unwrap_or(0) != 0 {
            return Err(unsupported("signed pixels (Pixel Representation 1) are not supported".into()));
        }
        let photometric = find(0x0028_0004).and_then(Element::str).unwrap_or("").to_owned();
        let planar = find(0x0028_0006).and_then(Element::u16).unwrap_or(0) == 1;
        let layout = match (photometric.as_str(), spp) {
            ("MONOCHROME2", 1) => Layout::Mono { invert: false },
            ("MONOCHROME1", 1) => Layout::Mono { invert: true },
            ("RGB", 3) => Layout::Rgb { planar },
            ("YBR_FULL", 3) => Layout::YbrFull { planar },
            ("YBR_FULL_422", 3) => Layout::Ybr422,
            (p @ ("MONOCHROME2" | "MONOCHROME1" | "RGB" | "YBR_FULL" | "YBR_FULL_422"), n) => {
                return Err(bad(format!("{p} with {n} samples per pixel")));
            }
            (p, _) => {
                return Err(unsupported(format!(
                    "photometric interpretation '{p}' is not supported (MONOCHROME2, MONOCHROME1, RGB, YBR_FULL, \
                     YBR_FULL_422 are)"
                )));
            }
        };
        let count = match find(0x0028_0008) {
            None => 1,
            Some(e) => match e.numbers().as_deref() {
                Some([n]) if *n >= 1.0 && n.fract() == 0.0 && *n <= f64::from(u32::MAX) => *n as u64,
                _ => return Err(bad(format!("Number of Frames '{}' is not a positive count", e.str().unwrap_or("")))),
            },
        };
        let (w, h) = (usize::from(cols), usize::from(rows));
        if w == 0 || h == 0 {
            return Err(bad(format!("frame {w}×{h} is empty")));
        }
        if layout == Layout::Ybr422 && !jpeg && w % 2 == 1 {
            return Err(bad("YBR_FULL_422 with an odd number of columns".into()));
        }

        let frames = if jpeg {
            if pixel.len != UNDEFINED {
                return Err(bad("JPEG pixel data is not encapsulated (it has a defined length)".into()));
            }
            Frames::Jpeg(index_fragments(&mut r, count).map_err(read_err)?)
        } else {
            let frame_bytes = match layout {
                Layout::Mono { .. } => w * h,
                Layout::Ybr422 => w * h * 2,
                _ => w * h * 3,
            };
            let want = (frame_bytes as u64).saturating_mul(count);
            if pixel.len == UNDEFINED {
                return Err(bad("native pixel data has an undefined length".into()));
            }
            let have = u64::from(pixel.len);
            // An odd length should be padded to even; a file that does not is taken too.
            let padded = want.saturating_add(want & 1);
            if (have != want && have != padded) || r.pos.saturating_add(want) > file_len {
                let have = have.min(file_len.saturating_sub(r.pos));
                return Err(bad(format!(
                    "frame count mismatch: {count} frame(s) of {w}×{h} need {want} bytes of pixel data, the file \
                     has {have}"
                )));
            }
            Frames::Native { offset: r.pos, frame_bytes }
        };

        let header = DicomHeader::from_elements(elements);
        let fps = header.fps();
        let file = r.into_inner();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            layout,
            frames,
            count,
            size: (w, h),
            fps,
            header,
            jpeg,
            buf: Vec::new(),
        })
    }

    /// Frame (width, height).
    pub fn size(&self) -> (usize, usize) {
        self.size
    }

    /// Number of frames.
    pub fn frames(&self) -> u64 {
        self.count
    }

    /// Reads frame `i` as 8-bit grey (BT.601 luma for colour) into `grey` (`width × height`).
    pub fn read_frame(&mut self, i: u64, grey: &mut [u8]) -> Result<(), DeclutterError> {
        let (w, h) = self.size;
        let path = self.path.clone();
        let io = |source| DeclutterError::Io { path: path.clone(), source };
        let bad = |reason: String| DeclutterError::BadDicom { path: path.clone(), reason };
        if grey.len() != w * h || i >= self.count {
            return Err(DeclutterError::BufferSize {
                what: "DICOM frame",
                reason: format!("frame {i}, {} bytes", grey.len()),
            });
        }
        match &self.frames {
            Frames::Native { offset, frame_bytes } => {
                self.buf.resize(*frame_bytes, 0);
                self.file.seek(SeekFrom::Start(offset + i * *frame_bytes as u64)).map_err(io)?;
                self.file.read_exact(&mut self.buf).map_err(io)?;
                native_to_grey(self.layout, &self.buf, grey);
            }
            Frames::Jpeg(index) => {
                self.buf.clear();
                for &(at, len) in &index[i as usize] {
                    self.file.seek(SeekFrom::Start(at)).map_err(io)?;
                    let start = self.buf.len();
                    self.buf.resize(start + len as usize, 0);
                    self.file.read_exact(&mut self.buf[start..]).map_err(io)?;
                }
                let mut decoder = jpeg_decoder::Decoder::new(&self.buf[..]);
                // The size first: a damaged header must not make the decoder allocate for it.
                decoder.read_info().map_err(|e| bad(format!("frame {i}: JPEG: {e}")))?;
                let Some(info) = decoder.info() else { return Err(bad(format!("frame {i}: JPEG without a header"))) };
                if (usize::from(info.width), usize::from(info.height)) != (w, h) {
                    return Err(bad(format!(
                        "frame {i}: JPEG is {}×{}, the header says {w}×{h}",
                        info.width, info.height
                    )));
                }
                let pixels = decoder.decode().map_err(|e| bad(format!("frame {i}: JPEG: {e}")))?;
                match info.pixel_format {
                    jpeg_decoder::PixelFormat::L8 if pixels.len() >= w * h => grey.copy_from_slice(&pixels[..w * h]),
                    jpeg_decoder::PixelFormat::RGB24 if pixels.len() >= 3 * w * h => {
                        for (g, p) in grey.iter_mut().zip(pixels.chunks_exact(3)) {
                            *g = to_u8(rgb_to_grey(p[0], p[1], p[2]));
                        }
                    }
                    other => {
                        return Err(DeclutterError::UnsupportedDicom {
                            path: self.path.clone(),
                            reason: format!("frame {i}: JPEG of {other:?} pixels (8-bit grey or colour are supported)"),
                        });
                    }
                }
                if self.layout == (Layout::Mono { invert: true }) {
                    grey.iter_mut().for_each(|v| *v = 255 - *v);
                }
            }
        }
        Ok(())
    }
}

/// [0, 1] → 0–255, rounded.
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// Native pixels of one frame → grey.
fn native_to_grey(layout: Layout, src: &[u8], grey: &mut [u8]) {
    let n = grey.len();
    match layout {
        Layout::Mono { invert: false } => grey.copy_from_slice(&src[..n]),
        Layout::Mono { invert: true } => grey.iter_mut().zip(src).for_each(|(g, v)| *g = 255 - v),
        Layout::Rgb { planar: false } => {
            for (g, p) in grey.iter_mut().zip(src.chunks_exact(3)) {
                *g = to_u8(rgb_to_grey(p[0], p[1], p[2]));
            }
        }
        Layout::Rgb { planar: true } => {
            let (r, rest) = src.split_at(n);
            let (gp, b) = rest.split_at(n);
            for (k, g) in grey.iter_mut().enumerate() {
                *g = to_u8(rgb_to_grey(r[k], gp[k], b[k]));
            }
        }
        Layout::YbrFull { planar: false } => grey.iter_mut().zip(src.chunks_exact(3)).for_each(|(g, p)| *g = p[0]),
        Layout::YbrFull { planar: true } => grey.copy_from_slice(&src[..n]),
        Layout::Ybr422 => {
            for (g, p) in grey.chunks_exact_mut(2).zip(src.chunks_exact(4)) {
                g.copy_from_slice(&p[..2]);
            }
        }
    }
}

/// The file meta group: (0002,0000) first, then as many bytes as it says.
fn read_meta<R: Read>(r: &mut ElementReader<R>) -> Result<Vec<Element>, ReadError> {
    let tag = r.tag()?;
    let h = r.header_after(tag)?;
    let len = match r.value(h, 0)? {
        Value::Bytes(b) if tag == 0x0002_0000 && b.len() == 4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        _ => return Err(ReadError::Bad("the file meta information has no group length (0002,0000)".into())),
    };
    let end = r.pos + u64::from(len);
    let mut meta = Vec::new();
    while r.pos < end {
        let tag = r.tag()?;
        if tag >> 16 != 0x0002 {
            return Err(ReadError::Bad(format!("element {} inside the file meta information", show(tag))));
        }
        let h = r.header_after(tag)?;
        meta.push(Element { tag, vr: h.vr, value: r.value(h, 0)? });
    }
    if r.pos != end {
        return Err(ReadError::Bad("the file meta information overruns its group length".into()));
    }
    Ok(meta)
}

/// Indexes encapsulated JPEG pixel data: the basic offset table, then each fragment's position,
/// grouped into `count` frames (by the offset table; else one fragment per frame when the counts
/// agree; else a new frame at each fragment that starts with a JPEG start-of-image marker).
fn index_fragments<R: Read + Seek>(r: &mut ElementReader<R>, count: u64) -> Result<Vec<Vec<(u64, u32)>>, ReadError> {
    let item = |r: &mut ElementReader<R>| -> Result<(Tag, u32), ReadError> {
        let tag = r.tag()?;
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        Ok((tag, u32::from_le_bytes(len)))
    };
    let (tag, bot_len) = item(r)?;
    if tag != 0xFFFE_E000 || bot_len % 4 != 0 || bot_len > 1 << 26 {
        return Err(ReadError::Bad("encapsulated pixel data without a valid basic offset table".into()));
    }
    let mut bot = vec![0u8; bot_len as usize];
    r.read_exact(&mut bot)?;
    let offsets: Vec<u64> =
        bot.chunks_exact(4).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect();
    let first = r.pos;
    // (item start relative to the first fragment item, data position, length, starts with SOI)
    let mut fragments = Vec::new();
    loop {
        let at = r.pos;
        let (tag, len) = item(r)?;
        match tag {
            0xFFFE_E0DD => break,
            0xFFFE_E000 if len != UNDEFINED => {
                let data = r.pos;
                let mut soi = [0u8; 2];
                let head = len.min(2) as usize;
                r.read_exact(&mut soi[..head])?;
                let skip = i64::from(len) - head as i64;
                r.get_mut().seek_relative(skip)?;
                r.pos += skip as u64;
                fragments.push((at - first, data, len, soi == [0xFF, 0xD8]));
            }
            other => return Err(ReadError::Bad(format!("expected a pixel data fragment, found {}", show(other)))),
        }
    }
    let mut frames: Vec<Vec<(u64, u32)>> = Vec::new();
    if !offsets.is_empty() {
        for (k, &start) in offsets.iter().enumerate() {
            let end = offsets.get(k + 1).copied().unwrap_or(u64::MAX);
            frames.push(fragments.iter().filter(|f| (start..end).contains(&f.0)).map(|f| (f.1, f.2)).collect());
        }
    } else if fragments.len() as u64 == count {
        frames = fragments.iter().map(|f| vec![(f.1, f.2)]).collect();
    } else {
        for f in &fragments {
            match frames.last_mut() {
                Some(last) if !f.3 => last.push((f.1, f.2)),
                _ => frames.push(vec![(f.1, f.2)]),
            }
        }
    }
    if frames.len() as u64 != count || frames.iter().any(Vec::is_empty) {
        return Err(ReadError::Bad(format!(
            "frame count mismatch: Number of Frames is {count}, the pixel data holds {} JPEG frame(s) in {} \
             fragment(s)",
            frames.iter().filter(|f| !f.is_empty()).count(),
            fragments.len()
        )));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::super::write::{DicomCoding, DicomWriter};
    use super::*;

    /// What [`DicomWriter`] writes, [`DicomSource`] reads back: the frames (exactly, or within
    /// JPEG loss), the rate, the kept identity.
    #[test]
    fn written_clips_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = DicomHeader::from_elements(vec![
            Element::text(0x0010_0010, b"PN", "Doe^Jane"),
            Element::text(0x0018_1063, b"DS", "20"),
            Element::text(0x0008_0018, b"UI", "1.2.3.4"),
        ]);
        let (w, h, n) = (10usize, 6usize, 3u64);
        let frame = |t: u64| -> Vec<u8> { (0..w * h).map(|k| (k * 4 + t as usize * 30) as u8).collect() };
        for coding in [DicomCoding::Native, DicomCoding::Jpeg] {
            let path = dir.path().join(format!("{coding:?}.dcm"));
            let file = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
            let mut writer = DicomWriter::new(Box::new(file), Some(&source), (w, h), n, 50.0, coding)
                .unwrap_or_else(|e| panic!("{e}"));
            for t in 0..n {
                writer.frame(&frame(t)).unwrap_or_else(|e| panic!("{e}"));
            }
            assert!(writer.frame(&frame(0)).is_err(), "a frame beyond the header's count");
            writer.finish().unwrap_or_else(|e| panic!("{e}"));

            let mut back = DicomSource::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (back.size(), back.frames(), back.fps, back.jpeg),
                ((w, h), n, Some(50.0), coding == DicomCoding::Jpeg)
            );
            assert_eq!(back.header.sop_instance().map(|s| s.starts_with("2.25.")), Some(true));
            assert!(back.header.kept.iter().any(|e| e.tag == 0x0010_0010 && e.str() == Some("Doe^Jane")));
            let mut grey = vec![0u8; w * h];
            for t in 0..n {
                back.read_frame(t, &mut grey).unwrap_or_else(|e| panic!("{e}"));
                let max = grey.iter().zip(frame(t)).map(|(a, b)| a.abs_diff(b)).max().unwrap_or(0);
                assert!(max <= if coding == DicomCoding::Native { 0 } else { 12 }, "{coding:?} frame {t}: {max}");
            }
        }
    }

    /// Cut or damaged files give errors, never a panic, whatever byte is hit.
    #[test]
    fn damaged_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = DicomHeader::from_elements(vec![Element::text(0x0008_0018, b"UI", "1.2.3.4")]);
        for coding in [DicomCoding::Native, DicomCoding::Jpeg] {
            let mut bytes = Vec::new();
            let path = dir.path().join("good.dcm");
            let file = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
            let mut writer = DicomWriter::new(Box::new(file), Some(&source), (8, 8), 2, 25.0, coding)
                .unwrap_or_else(|e| panic!("{e}"));
            for t in 0..2u8 {
                writer.frame(&[t * 50 + 20; 64]).unwrap_or_else(|e| panic!("{e}"));
            }
            writer.finish().unwrap_or_else(|e| panic!("{e}"));
            bytes.extend(std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")));
            let bad = dir.path().join("bad.dcm");
            let try_read = |data: &[u8]| {
                std::fs::write(&bad, data).unwrap_or_else(|e| panic!("{e}"));
                if let Ok(mut d) = DicomSource::open(&bad) {
                    let mut grey = vec![0u8; 64];
                    for t in 0..d.frames().min(4) {
                        let _ = d.read_frame(t, &mut grey);
                    }
                }
            };
            for cut in (0..bytes.len()).step_by(5) {
                try_read(&bytes[..cut]);
            }
            for at in (128..bytes.len()).step_by(3) {
                for v in [0x00, 0xFF] {
                    let mut damaged = bytes.clone();
                    damaged[at] = v;
                    try_read(&damaged);
                }
            }
        }
    }

    #[test]
    fn native_layouts_become_bt601_grey() {
        let mut grey = [0u8; 2];
        native_to_grey(Layout::Mono { invert: true }, &[0, 200], &mut grey);
        assert_eq!(grey, [255, 55]);
        native_to_grey(Layout::Rgb { planar: false }, &[255, 0, 0, 0, 255, 0], &mut grey);
        assert_eq!(grey, [76, 150]);
        native_to_grey(Layout::Rgb { planar: true }, &[255, 0, 0, 255, 0, 0], &mut grey);
        assert_eq!(grey, [76, 150]);
        native_to_grey(Layout::YbrFull { planar: false }, &[10, 128, 128, 20, 0, 0], &mut grey);
        assert_eq!(grey, [10, 20]);
        native_to_grey(Layout::Ybr422, &[30, 40, 128, 128], &mut grey);
        assert_eq!(grey, [30, 40]);
    }
}
