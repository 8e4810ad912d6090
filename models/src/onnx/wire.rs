//! Protocol-buffers wire format: the few primitives the ONNX decoder needs.
//!
//! A message is a sequence of `(tag, value)` records; the tag is a varint holding
//! `field_number << 3 | wire_type`. Every length read from the input is checked against
//! the bytes that remain, so a corrupt or truncated file gives an error and never a panic
//! or an allocation larger than the input.

use super::OnnxError;

/// One decoded field: its number and where its value lies.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// A varint value (unsigned, two's complement for negative int64).
    Varint(u64),
    /// A fixed 64-bit value (no field we decode has this type, so only its presence is kept).
    Fixed64,
    /// A fixed 32-bit value.
    Fixed32(u32),
    /// A length-delimited payload.
    Bytes(&'a [u8]),
}

/// A cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Which message is being read, for error messages.
    message: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads the message `message` stored in `buf`.
    pub(crate) fn new(buf: &'a [u8], message: &'static str) -> Self {
        Self { buf, pos: 0, message }
    }

    fn truncated(&self) -> OnnxError {
        OnnxError::Truncated { message: self.message, offset: self.pos }
    }

    /// Reads one varint (at most 10 bytes).
    pub(crate) fn varint(&mut self) -> Result<u64, OnnxError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.truncated());
            };
            self.pos += 1;
            // The 10th byte may only carry the top bit of a 64-bit value.
            if i == 9 && byte > 1 {
                return Err(OnnxError::Malformed { message: self.message, reason: "varint longer than 64 bits" });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(OnnxError::Malformed { message: self.message, reason: "varint longer than 10 bytes" })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], OnnxError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len()).ok_or_else(|| self.truncated())?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// Reads the next field, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, OnnxError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = u32::try_from(tag >> 3)
            .ok()
            .filter(|&f| f != 0)
            .ok_or(OnnxError::Malformed { message: self.message, reason: "invalid field number" })?;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| self.truncated())?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Fixed32(u32::from_le_bytes(a))
            }
            _ => {
                return Err(OnnxError::Malformed {
                    message: self.message,
                    reason: "unsupported wire type (group or invalid)",
                });
            }
        };
        Ok(Some((field, value)))
    }
}

/// The payload of a length-delimited field.
pub(crate) fn bytes<'a>(message: &'static str, field: &'static str, value: Value<'a>) -> Result<&'a [u8], OnnxError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(OnnxError::WrongWireType { message, field }),
    }
}

/// A UTF-8 string field.
pub(crate) fn string<'a>(message: &'static str, field: &'static str, value: Value<'a>) -> Result<&'a str, OnnxError> {
    std::str::from_utf8(bytes(message, field, value)?)
        .map_err(|_| OnnxError::Malformed { message, reason: "string field is not UTF-8" })
}

/// A varint field read as a signed 64-bit integer (protobuf `int64`/`int32`/enum).
pub(crate) fn int64(message: &'static str, field: &'static str, value: Value<'_>) -> Result<i64, OnnxError> {
    match value {
        // Two's complement reinterpretation is how protobuf encodes negative int64.
        Value::Varint(v) => Ok(v as i64),
        _ => Err(OnnxError::WrongWireType { message, field }),
    }
}

/// Appends the elements of a repeated varint field, packed (one `Len` record) or not.
pub(crate) fn push_int64s(
    message: &'static str,
    field: &'static str,
    value: Value<'_>,
    out: &mut Vec<i64>,
) -> Result<(), OnnxError> {
    match value {
        Value::Varint(v) => out.push(v as i64),
        Value::Bytes(b) => {
            let mut r = Reader::new(b, message);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
        }
        _ => return Err(OnnxError::WrongWireType { message, field }),
    }
    Ok(())
}

/// Appends the elements of a repeated `float` field, packed or not.
pub(crate) fn push_f32s(
    message: &'static str,
    field: &'static str,
    value: Value<'_>,
    out: &mut Vec<f32>,
) -> Result<(), OnnxError> {
    match value {
        Value::Fixed32(v) => out.push(f32::from_bits(v)),
        Value::Bytes(b) => {
            if b.len() % 4 != 0 {
                return Err(OnnxError::Malformed {
                    message,
                    reason: "packed float field length is not a multiple of 4",
                });
            }
            out.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        _ => return Err(OnnxError::WrongWireType { message, field }),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }

    #[test]
    fn varints_round_trip_including_negative_int64() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX, (-1i64) as u64] {
            let mut buf = Vec::new();
            encode_varint(v, &mut buf);
            let mut r = Reader::new(&buf, "test");
            assert_eq!(r.varint().unwrap_or_else(|e| panic!("{e}")), v);
            assert_eq!(r.pos, buf.len());
        }
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        let overlong = [0xffu8; 11];
        assert!(matches!(Reader::new(&overlong, "t").varint(), Err(OnnxError::Malformed { .. })));
        let truncated = [0x80u8, 0x80];
        assert!(matches!(Reader::new(&truncated, "t").varint(), Err(OnnxError::Truncated { .. })));
    }

    #[test]
    fn length_beyond_the_buffer_is_truncation() {
        // field 1, wire type 2, length 5, only 2 bytes follow.
        let buf = [0x0a, 0x05, 1, 2];
        assert!(matches!(Reader::new(&buf, "t").next_field(), Err(OnnxError::Truncated { .. })));
    }

    #[test]
    fn groups_and_field_zero_are_rejected() {
        assert!(matches!(Reader::new(&[0x0b], "t").next_field(), Err(OnnxError::Malformed { .. })));
        assert!(matches!(Reader::new(&[0x00, 0x00], "t").next_field(), Err(OnnxError::Malformed { .. })));
    }

    #[test]
    fn packed_and_unpacked_repeated_fields_decode_alike() {
        let mut packed = Vec::new();
        let mut payload = Vec::new();
        for v in [3u64, 300, 7] {
            encode_varint(v, &mut payload);
        }
        packed.push(0x0a);
        encode_varint(payload.len() as u64, &mut packed);
        packed.extend_from_slice(&payload);
        let mut out = Vec::new();
        let mut r = Reader::new(&packed, "t");
        while let Some((_, v)) = r.next_field().unwrap_or_else(|e| panic!("{e}")) {
            push_int64s("t", "f", v, &mut out).unwrap_or_else(|e| panic!("{e}"));
        }
        push_int64s("t", "f", Value::Varint(9), &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, vec![3, 300, 7, 9]);

        let mut floats = Vec::new();
        push_f32s("t", "f", Value::Bytes(&1.5f32.to_le_bytes()), &mut floats).unwrap_or_else(|e| panic!("{e}"));
        push_f32s("t", "f", Value::Fixed32((-2.0f32).to_bits()), &mut floats).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(floats, vec![1.5, -2.0]);
        assert!(push_f32s("t", "f", Value::Bytes(&[1, 2, 3]), &mut floats).is_err());
    }
}
