//! A reader for the safetensors format (8-byte little-endian header length, a JSON header
//! mapping tensor names to dtype, shape and byte offsets, then the raw little-endian data).
//!
//! Only `F32` tensors are decoded; the models here store nothing else. Every failure names
//! the tensor and what is wrong, so a truncated or hand-edited file is diagnosable.

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

use crate::Weight;

/// Largest header accepted (the format's own reference limit is 100 MB).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Why bytes are not a valid safetensors file.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SafetensorsError {
    /// Fewer than the 8 bytes of the header length.
    #[error("file is {len} bytes, too short for the 8-byte header length")]
    TooShort {
        /// File length.
        len: usize,
    },
    /// The header length points past the end of the file or over the limit.
    #[error("header length {header} does not fit the file of {len} bytes (limit {MAX_HEADER_BYTES})")]
    HeaderLength {
        /// Declared header length.
        header: u64,
        /// File length.
        len: usize,
    },
    /// The header is not a JSON object.
    #[error("header is not a JSON object: {reason}")]
    HeaderJson {
        /// What the JSON parser reported.
        reason: String,
    },
    /// A tensor entry lacks a field or has one of the wrong type.
    #[error("tensor {tensor}: {reason}")]
    Entry {
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor has a dtype other than `F32`.
    #[error("tensor {tensor} has dtype {dtype}, only F32 is supported")]
    Dtype {
        /// The tensor name.
        tensor: String,
        /// The dtype found.
        dtype: String,
    },
    /// A tensor's byte range is not inside the data section (truncated file) or does not
    /// match its shape.
    #[error("tensor {tensor}: bytes {begin}..{end} with shape {shape:?} do not fit a data section of {data_len} bytes")]
    Offsets {
        /// The tensor name.
        tensor: String,
        /// Start offset in the data section.
        begin: u64,
        /// End offset in the data section.
        end: u64,
        /// The declared shape.
        shape: Vec<usize>,
        /// Bytes of data present after the header.
        data_len: usize,
    },
}

/// The decoded tensors and `__metadata__` strings of one safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct SafeTensors {
    tensors: BTreeMap<String, Weight>,
    metadata: BTreeMap<String, String>,
}

impl SafeTensors {
    /// Parses and decodes a whole file.
    pub fn parse(bytes: &[u8]) -> Result<Self, SafetensorsError> {
        let (len_bytes, rest) =
            bytes.split_first_chunk::<8>().ok_or(SafetensorsError::TooShort { len: bytes.len() })?;
        let header_len = u64::from_le_bytes(*len_bytes);
        let header_end = usize::try_from(header_len)
            .ok()
            .filter(|&n| header_len <= MAX_HEADER_BYTES && n <= rest.len())
            .ok_or(SafetensorsError::HeaderLength { header: header_len, len: bytes.len() })?;
        let (header, data) = rest.split_at(header_end);
        let header: serde_json::Map<String, Value> =
            serde_json::from_slice(header).map_err(|e| SafetensorsError::HeaderJson { reason: e.to_string() })?;
        let mut tensors = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (name, entry) in header {
            if name == "__metadata__" {
                metadata = parse_metadata(&entry)?;
                continue;
            }
            let weight = decode_entry(&name, &entry, data)?;
            tensors.insert(name, weight);
        }
        Ok(Self { tensors, metadata })
    }

    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&Weight> {
        self.tensors.get(name)
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The `__metadata__` value for `key`, if present.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }
}

fn parse_metadata(v: &Value) -> Result<BTreeMap<String, String>, SafetensorsError> {
    let bad = |reason: &str| SafetensorsError::Entry { tensor: "__metadata__".into(), reason: reason.into() };
    let map = v.as_object().ok_or_else(|| bad("is not an object"))?;
    map.iter()
        .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())).ok_or_else(|| bad("values must be strings")))
        .collect()
}

fn decode_entry(name: &str, entry: &Value, data: &[u8]) -> Result<Weight, SafetensorsError> {
    let bad = |reason: &str| SafetensorsError::Entry { tensor: name.to_owned(), reason: reason.to_owned() };
    let dtype = entry.get("dtype").and_then(Value::as_str).ok_or_else(|| bad("no string field `dtype`"))?;
    if dtype != "F32" {
        return Err(SafetensorsError::Dtype { tensor: name.to_owned(), dtype: dtype.to_owned() });
    }
    let shape = entry
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no array field `shape`"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| bad("`shape` must hold non-negative integers"))?;
    let offsets = entry
        .get("data_offsets")
        .and_then(Value::as_array)
        .and_then(|a| match a.as_slice() {
            [b, e] => Some((b.as_u64()?, e.as_u64()?)),
            _ => None,
        })
        .ok_or_else(|| bad("`data_offsets` must be two non-negative integers"))?;
    let (begin, end) = offsets;
    let elements = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let fits = elements
        .and_then(|n| n.checked_mul(4))
        .is_some_and(|bytes| begin <= end && end <= data.len() as u64 && (end - begin) == bytes as u64);
    if !fits {
        return Err(SafetensorsError::Offsets { tensor: name.to_owned(), begin, end, shape, data_len: data.len() });
    }
    // `fits` proved begin <= end <= data.len(), so these conversions and the slice are in range.
    let raw = &data[begin as usize..end as usize];
    let values = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Weight::new(shape, values).ok_or_else(|| bad("element count does not match the shape"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with the given header JSON and data bytes.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    fn floats(xs: &[f32]) -> Vec<u8> {
        xs.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn decodes_tensors_and_metadata() {
        let h = r#"{"__metadata__":{"scale":"3"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                   "w":{"dtype":"F32","shape":[1,2],"data_offsets":[8,16]}}"#;
        let st = SafeTensors::parse(&file(h, &floats(&[1.0, -2.0, 0.5, 3.25]))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(st.metadata("scale"), Some("3"));
        assert_eq!(st.names().collect::<Vec<_>>(), ["b", "w"]);
        let w = st.tensor("w").unwrap_or_else(|| panic!("no w"));
        assert_eq!((w.shape(), w.data()), (&[1, 2][..], &[0.5, 3.25][..]));
        assert_eq!(st.tensor("b").map(Weight::data), Some(&[1.0, -2.0][..]));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let h = r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#;
        let whole = file(h, &floats(&[1.0, 2.0, 3.0]));
        assert!(SafeTensors::parse(&whole).is_ok());
        for n in 0..whole.len() {
            let err = SafeTensors::parse(&whole[..n]).err().unwrap_or_else(|| panic!("{n} bytes parsed"));
            let expected = match n {
                0..8 => matches!(err, SafetensorsError::TooShort { .. }),
                _ if n < 8 + h.len() => matches!(err, SafetensorsError::HeaderLength { .. }),
                _ => matches!(err, SafetensorsError::Offsets { ref tensor, .. } if tensor == "w"),
            };
            assert!(expected, "{n} bytes: {err}");
        }
    }

    #[test]
    fn rejects_bad_entries() {
        let cases = [
            (r#"[1,2]"#, "not a JSON object"),
            (r#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, "dtype F16"),
            (r#"{"w":{"shape":[2],"data_offsets":[0,8]}}"#, "dtype"),
            (r#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, "shape"),
            (r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, "do not fit"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, "do not fit"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, "data_offsets"),
            (r#"{"__metadata__":{"a":1}}"#, "strings"),
        ];
        for (h, needle) in cases {
            let err = SafeTensors::parse(&file(h, &floats(&[1.0, 2.0]))).err().unwrap_or_else(|| panic!("{h} parsed"));
            assert!(err.to_string().contains(needle), "{h}: {err}");
        }
        let huge = u64::MAX.to_le_bytes();
        assert!(matches!(SafeTensors::parse(&huge), Err(SafetensorsError::HeaderLength { .. })));
    }
}
