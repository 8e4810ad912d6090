//! Errors from loading model files: every message names the file and the tensor, node or key.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::dfn3::ConfigError;
use crate::onnx::OnnxError;
use crate::safetensors::SafetensorsError;

/// Why model weights could not be loaded.
///
/// All of these are construction-time errors: nothing is recoverable by retrying with the
/// same files. The caller should point at another model file or directory.
#[derive(Debug, Error)]
pub enum WeightsError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The `.tar.gz` archive is not valid gzip/tar (corrupt or truncated).
    #[error("corrupt or truncated archive {archive}: {source}")]
    Archive {
        /// The archive (path, or "<bytes>" for in-memory data).
        archive: String,
        /// What the gzip or tar decoder reported.
        source: io::Error,
    },
    /// A file the model needs is not in the archive or directory.
    #[error("{archive} has no file named {file}")]
    MissingFile {
        /// The archive or directory searched.
        archive: String,
        /// The missing file name.
        file: &'static str,
    },
    /// Two archive entries have the same file name, so the choice would be arbitrary.
    #[error("{archive} holds more than one file named {file}")]
    DuplicateFile {
        /// The archive searched.
        archive: String,
        /// The repeated file name.
        file: &'static str,
    },
    /// A model file is larger than any plausible export (guards against decompression bombs).
    #[error("{file} in {archive} is larger than the limit of {limit} bytes")]
    FileTooLarge {
        /// The archive or directory.
        archive: String,
        /// The file name.
        file: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// An ONNX file could not be decoded.
    #[error("{file}: {source}")]
    Onnx {
        /// The ONNX file name.
        file: &'static str,
        /// What the decoder reported (boxed to keep the error small).
        source: Box<OnnxError>,
    },
    /// A node the weights are looked up through is not in the graph.
    #[error("{file}: no node named {node} (expected a {op}); is this a DeepFilterNet3 export?")]
    MissingNode {
        /// The ONNX file name.
        file: &'static str,
        /// The node name.
        node: String,
        /// The op type expected.
        op: &'static str,
    },
    /// An `Add` node has not exactly one stored operand, so its bias cannot be identified.
    #[error("{file}: node {node} should have exactly one stored (initializer or Constant) operand, found {found}")]
    AmbiguousOperand {
        /// The ONNX file name.
        file: &'static str,
        /// The node name.
        node: String,
        /// How many stored operands it has.
        found: usize,
    },
    /// A node has a different op type than the architecture has there.
    #[error("{file}: node {node} is a {found}, expected a {expected}")]
    WrongOp {
        /// The ONNX file name.
        file: &'static str,
        /// The node name.
        node: String,
        /// The op type expected.
        expected: &'static str,
        /// The op type found.
        found: String,
    },
    /// A weight input of a node is absent, or is not stored in the file (not an initializer
    /// or Constant output).
    #[error("{file}: input {index} of node {node} ({tensor:?}) is not a stored tensor (initializer or Constant)")]
    MissingTensor {
        /// The ONNX file name.
        file: &'static str,
        /// The consuming node.
        node: String,
        /// The input index.
        index: usize,
        /// The value name found at that input ("" when the input is absent).
        tensor: String,
    },
    /// A tensor has a different shape than the architecture and config imply.
    #[error("{file}: tensor {tensor} (input {index} of node {node}) has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The ONNX file name.
        file: &'static str,
        /// The tensor (value) name.
        tensor: String,
        /// The consuming node.
        node: String,
        /// The input index.
        index: usize,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape stored.
        found: Vec<usize>,
    },
    /// A tensor's data could not be converted (type, dims or length).
    #[error("{file}: tensor {tensor} (input {index} of node {node}): {source}")]
    TensorData {
        /// The ONNX file name.
        file: &'static str,
        /// The tensor (value) name.
        tensor: String,
        /// The consuming node.
        node: String,
        /// The input index.
        index: usize,
        /// What the decoder reported (boxed to keep the error small).
        source: Box<OnnxError>,
    },
    /// A node attribute differs from what the architecture needs (e.g. GRU `linear_before_reset`).
    #[error("{file}: node {node} has {attribute} = {found}, expected {expected}")]
    Attribute {
        /// The ONNX file name.
        file: &'static str,
        /// The node name.
        node: String,
        /// The attribute name.
        attribute: &'static str,
        /// The value required.
        expected: String,
        /// The value found ("absent" when missing).
        found: String,
    },
    /// `config.ini` is malformed or asks for something this implementation does not support.
    #[error("{file}: {source}")]
    Config {
        /// The config file name.
        file: &'static str,
        /// What is wrong, naming the key.
        source: ConfigError,
    },
    /// A safetensors file could not be decoded (truncated, bad header, unsupported dtype).
    #[error("{file}: {source}")]
    Safetensors {
        /// The file (path, or a description for in-memory bytes).
        file: String,
        /// What the reader reported.
        source: SafetensorsError,
    },
    /// A tensor the architecture needs is not in a safetensors file.
    #[error("{file}: no tensor named {tensor}")]
    NoTensor {
        /// The file.
        file: String,
        /// The missing tensor name.
        tensor: String,
    },
    /// A safetensors tensor has a different shape than the architecture needs.
    #[error("{file}: tensor {tensor} has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The file.
        file: String,
        /// The tensor name.
        tensor: String,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape stored.
        found: Vec<usize>,
    },
    /// A safetensors tensor's values are unusable (e.g. a NaN or infinite PReLU slope).
    #[error("{file}: tensor {tensor}: {reason}")]
    TensorValue {
        /// The file.
        file: String,
        /// The tensor name.
        tensor: String,
        /// What is wrong with the values.
        reason: String,
    },
    /// A safetensors file holds a tensor the architecture it states has no place for, which
    /// means the file and its metadata disagree (e.g. slopes in a `linear` clutter net).
    #[error("{file}: tensor {tensor} is not part of this network ({reason})")]
    StrayTensor {
        /// The file.
        file: String,
        /// The tensor name.
        tensor: String,
        /// Why it does not belong.
        reason: String,
    },
    /// A `__metadata__` entry is missing or holds a value this implementation does not support.
    #[error("{file}: metadata {key}: {reason}")]
    Metadata {
        /// The file.
        file: String,
        /// The metadata key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}
