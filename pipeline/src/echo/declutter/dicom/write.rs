//! [`DicomWriter`]: filtered grey frames into a multi-frame DICOM file or pipe, one at a time.
//!
//! The header goes out first (so the frame count must be known), then each frame: native bytes
//! as they are, or one JPEG fragment encoded into a buffer reused from frame to frame.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::element::{
    Element, ITEM_TAG, PIXEL_DATA, SEQ_END_TAG, Tag, UNDEFINED, Value, elements_len, write_elements, write_header,
    write_item_header,
};
use super::{DicomHeader, EXPLICIT_LE, JPEG_BASELINE, US_MULTIFRAME, new_uid};

/// JPEG quality (libjpeg scale) of JPEG baseline outputs.
pub const JPEG_QUALITY: u8 = 95;
/// This implementation's class UID (a fixed UUID-derived UID) and version name.
const IMPLEMENTATION_UID: &str = "2.25.137162057963880131274823429244657796457";
const IMPLEMENTATION_VERSION: &str = "SLUICE_0_1";
/// What Derivation Description says.
pub const DERIVATION: &str = "Clutter filtered by Sluice (echo clutter filter, spatiotemporal U-Net); colour \
                              reduced to BT.601 grey";

/// How the output is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DicomCoding {
    /// Explicit VR little endian, native 8-bit pixels.
    Native,
    /// JPEG baseline, one fragment per frame.
    Jpeg,
}

/// A multi-frame grey DICOM being written.
pub struct DicomWriter {
    out: Box<dyn Write + Send>,
    coding: DicomCoding,
    size: (usize, usize),
    frames: u64,
    written: u64,
    jpeg: Vec<u8>,
    /// The new SOP Instance UID.
    pub sop_instance: String,
}

impl std::fmt::Debug for DicomWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicomWriter").field("coding", &self.coding).field("written", &self.written).finish()
    }
}

impl DicomWriter {
    /// Writes the header of a `frames`-frame `size` clip at `fps` into `out`, keeping what
    /// `source` (the input file, if DICOM) says about patient, study, timing and geometry.
    pub fn new(
        mut out: Box<dyn Write + Send>,
        source: Option<&DicomHeader>,
        size: (usize, usize),
        frames: u64,
        fps: f64,
        coding: DicomCoding,
    ) -> io::Result<Self> {
        let (w, h) = size;
        let (Ok(cols), Ok(rows)) = (u16::try_from(w), u16::try_from(h)) else {
            return Err(io::Error::other(format!("frame {w}×{h} is too large for DICOM")));
        };
        let native_len = (w * h) as u64 * frames;
        if coding == DicomCoding::Native && native_len >= u64::from(UNDEFINED - 1) {
            return Err(io::Error::other("the clip is too long for native DICOM pixel data (4 GiB)"));
        }
        let sop_instance = new_uid();
        let dataset = dataset(source, rows, cols, frames, fps, coding, &sop_instance);
        let ts = match coding {
            DicomCoding::Native => EXPLICIT_LE,
            DicomCoding::Jpeg => JPEG_BASELINE,
        };
        let meta = [
            Element::new(0x0002_0001, b"OB", [0u8, 1]),
            Element::text(0x0002_0002, b"UI", US_MULTIFRAME),
            Element::text(0x0002_0003, b"UI", &sop_instance),
            Element::text(0x0002_0010, b"UI", ts),
            Element::text(0x0002_0012, b"UI", IMPLEMENTATION_UID),
            Element::text(0x0002_0013, b"SH", IMPLEMENTATION_VERSION),
        ];
        out.write_all(&[0u8; 128])?;
        out.write_all(b"DICM")?;
        write_elements(&mut out, &[Element::new(0x0002_0000, b"UL", (elements_len(&meta) as u32).to_le_bytes())])?;
        write_elements(&mut out, &meta)?;
        write_elements(&mut out, &dataset)?;
        match coding {
            DicomCoding::Native => write_header(&mut out, PIXEL_DATA, b"OB", (native_len + (native_len & 1)) as u32)?,
            DicomCoding::Jpeg => {
                write_header(&mut out, PIXEL_DATA, b"OB", UNDEFINED)?;
                // An empty basic offset table: frames are written as they come.
                write_item_header(&mut out, ITEM_TAG, 0)?;
            }
        }
        Ok(Self { out, coding, size, frames, written: 0, jpeg: Vec::new(), sop_instance })
    }

    /// Writes the next `width × height` grey frame.
    pub fn frame(&mut self, grey: &[u8]) -> io::Result<()> {
        let (w, h) = self.size;
        if grey.len() != w * h || self.written == self.frames {
            return Err(io::Error::other(format!(
                "frame {} of {} does not fit the DICOM header",
                self.written, self.frames
            )));
        }
        match self.coding {
            DicomCoding::Native => self.out.write_all(grey)?,
            DicomCoding::Jpeg => {
                self.jpeg.clear();
                let encoder = jpeg_encoder::Encoder::new(&mut self.jpeg, JPEG_QUALITY);
                // Sizes were checked against u16 in `new`.
                encoder.encode(grey, w as u16, h as u16, jpeg_encoder::ColorType::Luma).map_err(io::Error::other)?;
                if self.jpeg.len() % 2 == 1 {
                    self.jpeg.push(0);
                }
                write_item_header(&mut self.out, ITEM_TAG, self.jpeg.len() as u32)?;
                self.out.write_all(&self.jpeg)?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Ends the pixel data and flushes; errors if fewer frames came than the header announced.
    pub fn finish(mut self) -> io::Result<()> {
        if self.written != self.frames {
            return Err(io::Error::other(format!("{} of {} frames written", self.written, self.frames)));
        }
        match self.coding {
            DicomCoding::Native if ((self.size.0 * self.size.1) as u64 * self.frames) % 2 == 1 => {
                self.out.write_all(&[0])?
            }
            DicomCoding::Native => {}
            DicomCoding::Jpeg => write_item_header(&mut self.out, SEQ_END_TAG, 0)?,
        }
        self.out.flush()
    }
}

/// The output data set (without pixel data), in tag order.
fn dataset(
    source: Option<&DicomHeader>,
    rows: u16,
    cols: u16,
    frames: u64,
    fps: f64,
    coding: DicomCoding,
    sop_instance: &str,
) -> Vec<Element> {
    let mut set: BTreeMap<Tag, Element> =
        source.map(|s| s.kept.iter().map(|e| (e.tag, e.clone())).collect()).unwrap_or_default();
    let mut put = |e: Element| {
        set.insert(e.tag, e);
    };
    put(Element::text(0x0008_0008, b"CS", "DERIVED\\SECONDARY"));
    put(Element::text(0x0008_0016, b"UI", US_MULTIFRAME));
    put(Element::text(0x0008_0018, b"UI", sop_instance));
    put(Element::text(0x0008_2111, b"ST", DERIVATION));
    if let Some((class, instance)) = source.and_then(|s| Some((s.sop_class.as_deref()?, s.sop_instance.as_deref()?))) {
        let item = vec![Element::text(0x0008_1150, b"UI", class), Element::text(0x0008_1155, b"UI", instance)];
        put(Element { tag: 0x0008_2112, vr: *b"SQ", value: Value::Items(vec![item]) });
    }
    put(Element::text(0x0020_000E, b"UI", &new_uid()));
    put(Element::us(0x0028_0002, 1));
    put(Element::text(0x0028_0004, b"CS", "MONOCHROME2"));
    put(Element::text(0x0028_0008, b"IS", &frames.to_string()));
    put(Element::us(0x0028_0010, rows));
    put(Element::us(0x0028_0011, cols));
    put(Element::us(0x0028_0100, 8));
    put(Element::us(0x0028_0101, 8));
    put(Element::us(0x0028_0102, 7));
    put(Element::us(0x0028_0103, 0));
    if coding == DicomCoding::Jpeg {
        put(Element::text(0x0028_2110, b"CS", "01"));
        put(Element::text(0x0028_2114, b"CS", "ISO_10918_1"));
    }
    // Identity the input did not give (type 1 made anew, type 2 present and empty).
    set.entry(0x0020_000D).or_insert_with(|| Element::text(0x0020_000D, b"UI", &new_uid()));
    set.entry(0x0008_0060).or_insert_with(|| Element::text(0x0008_0060, b"CS", "US"));
    for (tag, vr) in [
        (0x0008_0020, b"DA"),
        (0x0008_0030, b"TM"),
        (0x0008_0050, b"SH"),
        (0x0008_0070, b"LO"),
        (0x0008_0090, b"PN"),
        (0x0010_0010, b"PN"),
        (0x0010_0020, b"LO"),
        (0x0010_0030, b"DA"),
        (0x0010_0040, b"CS"),
        (0x0020_0010, b"SH"),
        (0x0020_0011, b"IS"),
        (0x0020_0013, b"IS"),
    ] {
        set.entry(tag).or_insert_with(|| Element::new(tag, vr, Vec::<u8>::new()));
    }
    // Timing: Frame Time unless the input gave it, and the pointer to it.
    set.entry(0x0018_1063).or_insert_with(|| Element::text(0x0018_1063, b"DS", &ds(1000.0 / fps)));
    set.entry(0x0028_0009).or_insert_with(|| Element::new(0x0028_0009, b"AT", [0x18, 0x00, 0x63, 0x10]));
    set.into_values().collect()
}

/// A decimal string of at most 16 characters.
fn ds(v: f64) -> String {
    for decimals in (0..=6).rev() {
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(ds(40.0), "40");
        assert_eq!(ds(1000.0 / 30.0), "33.333333");
        assert!(ds(1e14 / 3.0).len() <= 16);
    }
}
