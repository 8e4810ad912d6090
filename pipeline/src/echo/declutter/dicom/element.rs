//! DICOM data elements, little endian only: reading a data set (explicit or implicit VR, nested
//! sequences of defined or undefined length) up to the pixel data, and writing elements in
//! explicit VR. Only what the clutter filter's DICOM path needs; the few VRs an implicit-VR file
//! leaves out come from [`vr_of`] (anything else reads as `UN`).

use std::io::{self, Read, Write};

/// A tag as `group << 16 | element`.
pub type Tag = u32;

/// Item, item delimiter and sequence delimiter tags (never carry a VR).
const ITEM: Tag = 0xFFFE_E000;
const ITEM_END: Tag = 0xFFFE_E00D;
const SEQ_END: Tag = 0xFFFE_E0DD;
/// Pixel Data.
pub const PIXEL_DATA: Tag = 0x7FE0_0010;
/// An undefined length.
pub const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Largest value kept outside the pixel data (a corrupt length must not allocate gigabytes).
const MAX_VALUE: u32 = 64 << 20;
/// Deepest sequence nesting read.
const MAX_DEPTH: usize = 16;

/// One element's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The bytes as stored (little endian, padding included).
    Bytes(Vec<u8>),
    /// A sequence: its items, each a list of elements.
    Items(Vec<Vec<Element>>),
}

/// One data element.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// Its tag.
    pub tag: Tag,
    /// Its value representation (two letters).
    pub vr: [u8; 2],
    /// Its value.
    pub value: Value,
}

impl Element {
    /// A byte-valued element, padded to even length as its VR wants (`UI` and binary VRs with
    /// NUL, text with a space).
    pub fn new(tag: Tag, vr: &[u8; 2], bytes: impl Into<Vec<u8>>) -> Self {
        let mut bytes = bytes.into();
        if bytes.len() % 2 == 1 {
            bytes.push(if matches!(vr, b"UI" | b"OB" | b"UN") { 0 } else { b' ' });
        }
        Self { tag, vr: *vr, value: Value::Bytes(bytes) }
    }

    /// A text-valued element.
    pub fn text(tag: Tag, vr: &[u8; 2], text: &str) -> Self {
        Self::new(tag, vr, text.as_bytes())
    }

    /// A `US` element.
    pub fn us(tag: Tag, v: u16) -> Self {
        Self::new(tag, b"US", v.to_le_bytes())
    }

    /// The value as text, trailing padding (spaces, NULs) removed; `None` for a sequence.
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Bytes(b) => std::str::from_utf8(b).ok().map(|s| s.trim_end_matches(['\0', ' ']).trim_start()),
            Value::Items(_) => None,
        }
    }

    /// The first value of a `US` element.
    pub fn u16(&self) -> Option<u16> {
        match &self.value {
            Value::Bytes(b) if b.len() >= 2 => Some(u16::from_le_bytes([b[0], b[1]])),
            _ => None,
        }
    }

    /// The numbers of an `IS`/`DS` element (backslash-separated).
    pub fn numbers(&self) -> Option<Vec<f64>> {
        let s = self.str()?;
        s.split('\\').map(|v| v.trim().parse::<f64>().ok()).collect()
    }
}

/// The VR of a tag the clutter filter reads or keeps, for implicit-VR files (`UN` otherwise).
pub fn vr_of(tag: Tag) -> [u8; 2] {
    let vr: &[u8; 2] = match tag {
        0x0002_0000 | 0x0018_6016 | 0x0018_6018 | 0x0018_601A | 0x0018_601C | 0x0018_601E | 0x0018_6030
        | 0x0018_6032 => b"UL",
        0x0002_0001 => b"OB",
        0x0002_0002 | 0x0002_0003 | 0x0002_0010 | 0x0002_0012 | 0x0008_0016 | 0x0008_0018 | 0x0008_1150
        | 0x0008_1155 | 0x0020_000D | 0x0020_000E | 0x0020_0052 => b"UI",
        0x0002_0013 | 0x0008_0050 | 0x0020_0010 => b"SH",
        0x0008_0005 | 0x0008_0008 | 0x0008_0060 | 0x0008_0064 | 0x0010_0040 | 0x0018_6031 | 0x0020_0060
        | 0x0028_0004 | 0x0028_2110 | 0x0028_2114 => b"CS",
        0x0008_0020 | 0x0008_0021 | 0x0008_0022 | 0x0008_0023 | 0x0010_0030 => b"DA",
        0x0008_0030..=0x0008_0033 => b"TM",
        0x0008_002A => b"DT",
        0x0008_0070 | 0x0008_0080 | 0x0008_1030 | 0x0008_103E | 0x0008_1090 | 0x0010_0020 | 0x0018_1030
        | 0x0018_5010 | 0x0018_5020 => b"LO",
        0x0008_0090 | 0x0010_0010 => b"PN",
        0x0008_2111 => b"ST",
        0x0008_1140 | 0x0008_2112 | 0x0018_6011 => b"SQ",
        0x0008_2142 | 0x0008_2143 | 0x0008_2144 | 0x0018_0040 | 0x0018_1088 | 0x0018_1242 | 0x0020_0011
        | 0x0020_0013 | 0x0028_0008 => b"IS",
        0x0018_0072 | 0x0018_1063 | 0x0018_1065 | 0x0018_1066 | 0x0028_0030 | 0x0028_2112 => b"DS",
        0x0018_6012 | 0x0018_6014 | 0x0018_6024 | 0x0018_6026 | 0x0028_0002 | 0x0028_0006 | 0x0028_0010
        | 0x0028_0011 | 0x0028_0100 | 0x0028_0101 | 0x0028_0102 | 0x0028_0103 => b"US",
        0x0018_6020 | 0x0018_6022 | 0x0018_6039 | 0x0018_603B => b"SL",
        0x0018_6028 | 0x0018_602A | 0x0018_602C | 0x0018_602E | 0x0018_6034 | 0x0018_6036 => b"FD",
        0x0028_0009 => b"AT",
        0x7FE0_0010 => b"OB",
        _ => b"UN",
    };
    *vr
}

/// VRs whose explicit-VR header has two reserved bytes and a 4-byte length.
fn long_header(vr: &[u8; 2]) -> bool {
    matches!(vr, b"OB" | b"OD" | b"OF" | b"OL" | b"OV" | b"OW" | b"SQ" | b"SV" | b"UC" | b"UN" | b"UR" | b"UT" | b"UV")
}

/// Why a data set could not be read: the file is short, or its structure is broken.
#[derive(Debug)]
pub enum ReadError {
    /// An I/O error (a file cut short reads as `UnexpectedEof`).
    Io(io::Error),
    /// The structure is wrong.
    Bad(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

fn bad<T>(msg: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Bad(msg.into()))
}

/// A position-counting little-endian element reader.
pub struct ElementReader<R> {
    inner: R,
    /// Bytes consumed so far.
    pub pos: u64,
    /// Whether VRs are explicit.
    pub explicit: bool,
}

/// An element header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// The tag.
    pub tag: Tag,
    /// The VR (from the file, or [`vr_of`] for implicit VR and item tags).
    pub vr: [u8; 2],
    /// The value length ([`UNDEFINED`] possible).
    pub len: u32,
}

impl<R: Read> ElementReader<R> {
    /// A reader at byte `pos` of `inner`.
    pub fn new(inner: R, pos: u64, explicit: bool) -> Self {
        Self { inner, pos, explicit }
    }

    /// The underlying reader, at [`Self::pos`].
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Reads exactly `buf.len()` bytes.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn u16(&mut self) -> io::Result<u16> {
        let mut b = [0; 2];
        self.read_exact(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self) -> io::Result<u32> {
        let mut b = [0; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a tag (group then element).
    pub fn tag(&mut self) -> io::Result<Tag> {
        let group = self.u16()?;
        let element = self.u16()?;
        Ok(u32::from(group) << 16 | u32::from(element))
    }

    /// Reads the rest of an element header after its `tag`.
    pub fn header_after(&mut self, tag: Tag) -> Result<Header, ReadError> {
        if tag >> 16 == 0xFFFE {
            return Ok(Header { tag, vr: *b"  ", len: self.u32()? });
        }
        if self.explicit || tag >> 16 == 0x0002 {
            let mut vr = [0; 2];
            self.read_exact(&mut vr)?;
            if !vr.iter().all(u8::is_ascii_uppercase) {
                return bad(format!("element {} has no valid VR (bytes {:02X} {:02X})", show(tag), vr[0], vr[1]));
            }
            let len = if long_header(&vr) {
                self.u16()?;
                self.u32()?
            } else {
                u32::from(self.u16()?)
            };
            Ok(Header { tag, vr, len })
        } else {
            Ok(Header { tag, vr: vr_of(tag), len: self.u32()? })
        }
    }

    /// Reads one element's value after its `header` (a sequence with its items).
    pub fn value(&mut self, h: Header, depth: usize) -> Result<Value, ReadError> {
        if h.vr == *b"SQ" || h.len == UNDEFINED {
            if depth >= MAX_DEPTH {
                return bad(format!("sequences nested more than {MAX_DEPTH} deep"));
            }
            return self.items(h.len, depth + 1).map(Value::Items);
        }
        if h.len > MAX_VALUE {
            return bad(format!("element {} claims {} bytes", show(h.tag), h.len));
        }
        let mut bytes = vec![0; h.len as usize];
        self.read_exact(&mut bytes)?;
        Ok(Value::Bytes(bytes))
    }

    /// The items of a sequence of `len` bytes (or up to its delimiter).
    fn items(&mut self, len: u32, depth: usize) -> Result<Vec<Vec<Element>>, ReadError> {
        let end = (len != UNDEFINED).then(|| self.pos + u64::from(len));
        let mut items = Vec::new();
        while end.is_none_or(|e| self.pos < e) {
            let tag = self.tag()?;
            let item_len = self.u32()?;
            match tag {
                SEQ_END if end.is_none() => return Ok(items),
                ITEM => items.push(self.elements(item_len, depth)?),
                other => return bad(format!("expected a sequence item, found {}", show(other))),
            }
        }
        if end.is_some_and(|e| self.pos != e) {
            return bad("a sequence overruns its length");
        }
        Ok(items)
    }

    /// The elements of an item of `len` bytes (or up to its delimiter).
    fn elements(&mut self, len: u32, depth: usize) -> Result<Vec<Element>, ReadError> {
        let end = (len != UNDEFINED).then(|| self.pos + u64::from(len));
        let mut elements = Vec::new();
        while end.is_none_or(|e| self.pos < e) {
            let tag = self.tag()?;
            let h = self.header_after(tag)?;
            if tag == ITEM_END && end.is_none() {
                return Ok(elements);
            }
            let value = self.value(h, depth)?;
            elements.push(Element { tag, vr: h.vr, value });
        }
        if end.is_some_and(|e| self.pos != e) {
            return bad("a sequence item overruns its length");
        }
        Ok(elements)
    }
}

/// `(gggg,eeee)`.
pub fn show(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag >> 16, tag & 0xFFFF)
}

/// Writes `elements` in explicit VR little endian (sequences with defined lengths).
pub fn write_elements(out: &mut impl Write, elements: &[Element]) -> io::Result<()> {
    for e in elements {
        write_element(out, e)?;
    }
    Ok(())
}

fn write_element(out: &mut impl Write, e: &Element) -> io::Result<()> {
    let len = value_len(&e.value);
    let len32 = u32::try_from(len).map_err(|_| io::Error::other("element too long"))?;
    write_header(out, e.tag, &e.vr, len32)?;
    match &e.value {
        Value::Bytes(b) => out.write_all(b),
        Value::Items(items) => {
            for item in items {
                out.write_all(&tag_bytes(ITEM))?;
                out.write_all(&(elements_len(item) as u32).to_le_bytes())?;
                write_elements(out, item)?;
            }
            Ok(())
        }
    }
}

/// Writes an explicit-VR element header.
pub fn write_header(out: &mut impl Write, tag: Tag, vr: &[u8; 2], len: u32) -> io::Result<()> {
    out.write_all(&tag_bytes(tag))?;
    out.write_all(vr)?;
    if long_header(vr) {
        out.write_all(&[0, 0])?;
        out.write_all(&len.to_le_bytes())
    } else {
        let len = u16::try_from(len).map_err(|_| io::Error::other("value too long for its VR"))?;
        out.write_all(&len.to_le_bytes())
    }
}

/// Writes an item-type header (item, delimiters): tag and 4-byte length, no VR.
pub fn write_item_header(out: &mut impl Write, tag: Tag, len: u32) -> io::Result<()> {
    out.write_all(&tag_bytes(tag))?;
    out.write_all(&len.to_le_bytes())
}

/// The item tags for callers writing encapsulated pixel data.
pub const ITEM_TAG: Tag = ITEM;
/// The sequence delimiter tag.
pub const SEQ_END_TAG: Tag = SEQ_END;

fn tag_bytes(tag: Tag) -> [u8; 4] {
    let [g1, g0, e1, e0] = tag.to_be_bytes();
    [g0, g1, e0, e1]
}

fn value_len(v: &Value) -> usize {
    match v {
        Value::Bytes(b) => b.len(),
        Value::Items(items) => items.iter().map(|i| 8 + elements_len(i)).sum(),
    }
}

/// Bytes of `elements` written in explicit VR.
pub fn elements_len(elements: &[Element]) -> usize {
    elements.iter().map(|e| if long_header(&e.vr) { 12 } else { 8 } + value_len(&e.value)).sum()
}

/// Whether a short-header VR can hold this element (an implicit-VR value may be too long for
/// the VR the dictionary gives it).
pub fn fits(e: &Element) -> bool {
    long_header(&e.vr) || value_len(&e.value) <= usize::from(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_elements_round_trip_with_nested_sequences() {
        let region = vec![Element::us(0x0018_6012, 1), Element::new(0x0018_602C, b"FD", 0.03f64.to_le_bytes())];
        let elements = vec![
            Element::text(0x0010_0010, b"PN", "Doe^Jane"),
            Element { tag: 0x0018_6011, vr: *b"SQ", value: Value::Items(vec![region.clone(), region]) },
            Element::text(0x0020_000D, b"UI", "1.2.3"),
        ];
        let mut bytes = Vec::new();
        write_elements(&mut bytes, &elements).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bytes.len(), elements_len(&elements));
        let mut r = ElementReader::new(&bytes[..], 0, true);
        let mut back = Vec::new();
        while (r.pos as usize) < bytes.len() {
            let tag = r.tag().unwrap_or_else(|e| panic!("{e}"));
            let h = r.header_after(tag).unwrap_or_else(|e| panic!("{e:?}"));
            back.push(Element { tag, vr: h.vr, value: r.value(h, 0).unwrap_or_else(|e| panic!("{e:?}")) });
        }
        assert_eq!(back, elements);
        assert_eq!(back[2].str(), Some("1.2.3"));
        assert_eq!(back[0].str(), Some("Doe^Jane"));
    }

    #[test]
    fn implicit_sequences_of_undefined_length_read_with_dictionary_vrs() {
        // (0018,6011) undefined length, one item of undefined length holding (0018,6012) US 1.
        let mut b = Vec::new();
        b.extend_from_slice(&[0x18, 0, 0x11, 0x60, 0xFF, 0xFF, 0xFF, 0xFF]);
        b.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        b.extend_from_slice(&[0x18, 0, 0x12, 0x60, 2, 0, 0, 0, 1, 0]);
        b.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let mut r = ElementReader::new(&b[..], 0, false);
        let tag = r.tag().unwrap_or_else(|e| panic!("{e}"));
        let h = r.header_after(tag).unwrap_or_else(|e| panic!("{e:?}"));
        let v = r.value(h, 0).unwrap_or_else(|e| panic!("{e:?}"));
        let Value::Items(items) = v else { panic!("not a sequence") };
        assert_eq!(items.len(), 1);
        assert_eq!((items[0][0].vr, items[0][0].u16()), (*b"US", Some(1)));
        // A truncated sequence is an error, not a panic.
        let mut r = ElementReader::new(&b[..20], 0, false);
        let tag = r.tag().unwrap_or_else(|e| panic!("{e}"));
        let h = r.header_after(tag).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(r.value(h, 0).is_err());
    }
}
