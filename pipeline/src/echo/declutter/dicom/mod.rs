//! Multi-frame DICOM for the clutter filter: a small reader and writer of the subset echo clips
//! use, little endian only.
//!
//! * Read ([`DicomSource`]): Part 10 files (128-byte preamble + `DICM`), uncompressed explicit
//!   or implicit VR little endian, or JPEG baseline (1.2.840.10008.1.2.4.50, one or more
//!   fragments per frame); 8 bits allocated, unsigned; MONOCHROME2, MONOCHROME1 (inverted),
//!   RGB, YBR_FULL, YBR_FULL_422. Colour becomes BT.601 luma like the video path ([`super::grey`]).
//!   Everything else is refused with a typed error, never guessed.
//! * Write ([`DicomWriter`]): an Ultrasound Multi-frame Image, 8-bit MONOCHROME2, explicit VR
//!   little endian or JPEG baseline (grey, quality [`write::JPEG_QUALITY`]), streamed frame by
//!   frame (the frame count is written first, so it must be known). The input's identity,
//!   timing and geometry tags ([`KEEP`]) are copied; the output is marked derived (Image Type
//!   `DERIVED\SECONDARY`, Derivation Description, Source Image Sequence) with a new SOP Instance
//!   and Series Instance UID, each a UUID-derived `2.25.` UID (PS3.5 B.2), so no UID root of
//!   our own is needed.

mod element;
pub mod read;
pub mod write;

pub use read::DicomSource;
pub use write::DicomWriter;

use element::{Element, Tag};

/// JPEG baseline (process 1).
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
/// Explicit VR little endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
/// Ultrasound Multi-frame Image Storage.
pub const US_MULTIFRAME: &str = "1.2.840.10008.5.1.4.1.1.3.1";

/// Top-level tags copied from the input: SOP common (character set), patient, study, series
/// and equipment identity, dates and times, frame timing (Frame Time, Frame Time Vector, Cine
/// Rate, Recommended Display Frame Rate, Frame Increment Pointer, …) and geometry (Pixel
/// Spacing, Sequence of Ultrasound Regions). Pixel description tags are written anew.
pub const KEEP: &[Tag] = &[
    0x0008_0005, // Specific Character Set
    0x0008_0020, // Study Date
    0x0008_0021, // Series Date
    0x0008_0022, // Acquisition Date
    0x0008_0023, // Content Date
    0x0008_002A, // Acquisition DateTime
    0x0008_0030, // Study Time
    0x0008_0031, // Series Time
    0x0008_0032, // Acquisition Time
    0x0008_0033, // Content Time
    0x0008_0050, // Accession Number
    0x0008_0060, // Modality
    0x0008_0070, // Manufacturer
    0x0008_0080, // Institution Name
    0x0008_0090, // Referring Physician's Name
    0x0008_1030, // Study Description
    0x0008_103E, // Series Description
    0x0008_1090, // Manufacturer's Model Name
    0x0008_2142, // Start Trim
    0x0008_2143, // Stop Trim
    0x0008_2144, // Recommended Display Frame Rate
    0x0010_0010, // Patient's Name
    0x0010_0020, // Patient ID
    0x0010_0030, // Patient's Birth Date
    0x0010_0040, // Patient's Sex
    0x0018_0040, // Cine Rate
    0x0018_0072, // Effective Duration
    0x0018_1030, // Protocol Name
    0x0018_1063, // Frame Time
    0x0018_1065, // Frame Time Vector
    0x0018_1066, // Frame Delay
    0x0018_1088, // Heart Rate
    0x0018_1242, // Actual Frame Duration
    0x0018_5010, // Transducer Data
    0x0018_6011, // Sequence of Ultrasound Regions
    0x0020_000D, // Study Instance UID
    0x0020_0010, // Study ID
    0x0020_0011, // Series Number
    0x0020_0013, // Instance Number
    0x0020_0052, // Frame of Reference UID
    0x0020_0060, // Laterality
    0x0028_0009, // Frame Increment Pointer
    0x0028_0030, // Pixel Spacing
];

/// What the output keeps of an input DICOM file.
#[derive(Debug, Clone, Default)]
pub struct DicomHeader {
    kept: Vec<Element>,
    sop_class: Option<String>,
    sop_instance: Option<String>,
    fps: Option<f64>,
}

impl DicomHeader {
    /// The [`KEEP`] elements of a data set, its SOP identity and frame rate.
    fn from_elements(elements: Vec<Element>) -> Self {
        let text = |tag: Tag| elements.iter().find(|e| e.tag == tag).and_then(Element::str).map(str::to_owned);
        let number = |tag: Tag| elements.iter().find(|e| e.tag == tag).and_then(Element::numbers);
        let ok = |fps: f64| (fps.is_finite() && (0.01..=1000.0).contains(&fps)).then_some(fps);
        // Frame Time (ms), Cine Rate, Recommended Display Frame Rate, then the mean of the
        // Frame Time Vector's increments (its first entry is 0).
        let fps = number(0x0018_1063)
            .and_then(|v| v.first().map(|ms| 1000.0 / ms))
            .and_then(ok)
            .or_else(|| number(0x0018_0040).and_then(|v| v.first().copied()).and_then(ok))
            .or_else(|| number(0x0008_2144).and_then(|v| v.first().copied()).and_then(ok))
            .or_else(|| {
                let v = number(0x0018_1065)?;
                let rest = v.get(1..).filter(|r| !r.is_empty())?;
                ok(1000.0 * rest.len() as f64 / rest.iter().sum::<f64>())
            });
        let (sop_class, sop_instance) = (text(0x0008_0016), text(0x0008_0018));
        let kept = elements.into_iter().filter(|e| KEEP.contains(&e.tag) && element::fits(e)).collect();
        Self { kept, sop_class, sop_instance, fps }
    }

    /// Frames per second from the timing tags, if they give one in 0.01–1000.
    pub fn fps(&self) -> Option<f64> {
        self.fps
    }

    /// The input's SOP Instance UID.
    pub fn sop_instance(&self) -> Option<&str> {
        self.sop_instance.as_deref()
    }
}

/// A new UID: `2.25.` and a random (version 4) UUID as a decimal integer (PS3.5 B.2).
pub fn new_uid() -> String {
    let mut v: u128 = rand::random();
    v = (v & !(0xF << 76)) | (0x4 << 76);
    v = (v & !(0x3 << 62)) | (0x2 << 62);
    format!("2.25.{v}")
}

/// A readable name for a transfer syntax UID, for error messages.
pub fn transfer_syntax_name(uid: &str) -> &'static str {
    match uid {
        "1.2.840.10008.1.2.2" => "explicit VR big endian",
        "1.2.840.10008.1.2.1.99" => "deflated explicit VR little endian",
        "1.2.840.10008.1.2.5" => "RLE lossless",
        "1.2.840.10008.1.2.4.51" => "JPEG extended (12-bit)",
        "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => "JPEG lossless",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "JPEG-LS",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.100"
        | "1.2.840.10008.1.2.4.101"
        | "1.2.840.10008.1.2.4.102"
        | "1.2.840.10008.1.2.4.103" => "MPEG-2/MPEG-4 video",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => "HTJ2K",
        _ => "unknown",
    }
}

/// Whether the first bytes of a file are a DICOM Part 10 preamble and `DICM`.
pub fn is_dicom(head: &[u8]) -> bool {
    head.get(128..132) == Some(b"DICM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_uuid_derived_and_fps_comes_from_the_timing_tags() {
        let (a, b) = (new_uid(), new_uid());
        assert!(a.starts_with("2.25.") && a.len() <= 64 && a != b, "{a} {b}");
        assert!(a[5..].bytes().all(|c| c.is_ascii_digit()) && !a[5..].starts_with('0'));
        let fps = |elements: Vec<Element>| DicomHeader::from_elements(elements).fps();
        assert_eq!(fps(vec![Element::text(0x0018_1063, b"DS", "40")]), Some(25.0));
        assert_eq!(fps(vec![Element::text(0x0018_0040, b"IS", "50")]), Some(50.0));
        assert_eq!(fps(vec![Element::text(0x0018_1065, b"DS", "0\\20\\20\\20")]), Some(50.0));
        assert_eq!(fps(vec![Element::text(0x0018_1063, b"DS", "0")]), None);
        let h = DicomHeader::from_elements(vec![
            Element::text(0x0010_0010, b"PN", "Doe^Jane"),
            Element::text(0x0028_0004, b"CS", "RGB"),
            Element::text(0x0008_0018, b"UI", "1.2.3.4"),
        ]);
        assert_eq!(h.kept.len(), 1);
        assert_eq!(h.sop_instance(), Some("1.2.3.4"));
    }
}
