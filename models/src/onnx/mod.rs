//! A small reader for ONNX model files, written for weight loading.
//!
//! It decodes only what loading weights needs from `ModelProto` → `GraphProto` →
//! `NodeProto` / `TensorProto` / `AttributeProto`: initializers, `Constant` nodes'
//! `value` tensors, node names, op types, inputs, outputs and scalar attributes. It does not
//! evaluate graphs. Decoded values borrow the file's bytes; float data is converted only
//! when a tensor is asked for ([`Tensor::to_f32`]).
//!
//! The protobuf reader is our own (`wire`): it is about 200 lines, needs no code generation
//! and bounds every length by the input, so corrupt files give an [`OnnxError`].

mod error;
mod graph;
mod proto;
mod wire;

pub use error::OnnxError;
pub use graph::GraphIndex;
pub use proto::{Attribute, AttributeValue, DataType, Graph, Model, Node, OpsetImport, Tensor};
