//! Errors from decoding an ONNX file.

use thiserror::Error;

/// Why an ONNX file (or a tensor in it) could not be decoded.
///
/// These carry no file name; the loader that knows which file it was reading wraps them
/// (see `WeightsError::Onnx`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OnnxError {
    /// The bytes end inside a field of `message`: the file is truncated or corrupt.
    #[error("truncated or corrupt protobuf: {message} ends inside a field at byte {offset} of that message")]
    Truncated {
        /// Which protobuf message was being read.
        message: &'static str,
        /// Byte offset inside that message.
        offset: usize,
    },
    /// The bytes are not valid protobuf.
    #[error("malformed protobuf in {message}: {reason}")]
    Malformed {
        /// Which protobuf message was being read.
        message: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A known field has a wire type its declaration does not allow.
    #[error("malformed protobuf: field {message}.{field} has the wrong wire type")]
    WrongWireType {
        /// Which protobuf message was being read.
        message: &'static str,
        /// Which field.
        field: &'static str,
    },
    /// A required part of the model is absent.
    #[error("not a usable ONNX model: {what} is missing")]
    Missing {
        /// What is missing (e.g. "ModelProto.graph").
        what: &'static str,
    },
    /// A tensor uses an element type this reader does not convert.
    #[error("tensor {tensor:?} has data type {data_type} ({name}); only FLOAT (1) is supported for weights")]
    UnsupportedDataType {
        /// Tensor name ("" for an unnamed Constant value).
        tensor: String,
        /// ONNX `TensorProto.DataType` code.
        data_type: i32,
        /// Its ONNX name, or "unknown".
        name: &'static str,
    },
    /// A tensor keeps its data in an external file, which this loader does not follow.
    #[error("tensor {tensor:?} stores its data externally; only embedded data is supported")]
    ExternalData {
        /// Tensor name.
        tensor: String,
    },
    /// A tensor's dims are negative or their product overflows.
    #[error("tensor {tensor:?} has invalid dims {dims:?}")]
    BadDims {
        /// Tensor name.
        tensor: String,
        /// The dims as stored.
        dims: Vec<i64>,
    },
    /// The amount of data does not match the dims.
    #[error("tensor {tensor:?} has dims {dims:?} ({expected} elements) but holds {found} elements of data")]
    DataLength {
        /// Tensor name.
        tensor: String,
        /// The dims as stored.
        dims: Vec<usize>,
        /// Elements implied by the dims.
        expected: usize,
        /// Elements present (raw bytes / 4, or float_data length).
        found: usize,
    },
}
