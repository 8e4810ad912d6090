//! ONNX protobuf messages, decoded from the wire format (field numbers from `onnx.proto`).
//!
//! Unknown fields are skipped, as protobuf requires; fields we keep are checked for the
//! wire type their declaration allows.

use super::OnnxError;
use super::wire::{self, Reader, Value};

/// `TensorProto.DataType`, the element types ONNX defines (only `Float` is converted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// 32-bit IEEE float (code 1).
    Float,
    /// Any other code, kept as stored.
    Other(i32),
}

impl DataType {
    fn from_code(code: i32) -> Self {
        if code == 1 { DataType::Float } else { DataType::Other(code) }
    }

    /// The ONNX code.
    pub fn code(self) -> i32 {
        match self {
            DataType::Float => 1,
            DataType::Other(c) => c,
        }
    }

    /// The ONNX name of the type, for messages.
    pub fn name(self) -> &'static str {
        match self.code() {
            0 => "UNDEFINED",
            1 => "FLOAT",
            2 => "UINT8",
            3 => "INT8",
            4 => "UINT16",
            5 => "INT16",
            6 => "INT32",
            7 => "INT64",
            8 => "STRING",
            9 => "BOOL",
            10 => "FLOAT16",
            11 => "DOUBLE",
            12 => "UINT32",
            13 => "UINT64",
            14 => "COMPLEX64",
            15 => "COMPLEX128",
            16 => "BFLOAT16",
            _ => "unknown",
        }
    }
}

/// A decoded `TensorProto` (borrowing the file's bytes).
#[derive(Debug, Clone)]
pub struct Tensor<'a> {
    /// Tensor name ("" for a Constant node's value).
    pub name: &'a str,
    /// Dimensions as stored (validated when data is read).
    pub dims: Vec<i64>,
    /// Element type.
    pub data_type: DataType,
    raw_data: Option<&'a [u8]>,
    float_data: Vec<f32>,
    external: bool,
}

impl<'a> Tensor<'a> {
    /// The dims as sizes; an error for negative dims or an element count that overflows.
    pub fn shape(&self) -> Result<Vec<usize>, OnnxError> {
        let bad = || OnnxError::BadDims { tensor: self.name.to_owned(), dims: self.dims.clone() };
        let shape: Vec<usize> =
            self.dims.iter().map(|&d| usize::try_from(d).map_err(|_| bad())).collect::<Result<_, _>>()?;
        shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(bad)?;
        Ok(shape)
    }

    /// Number of elements implied by the dims.
    pub fn numel(&self) -> Result<usize, OnnxError> {
        Ok(self.shape()?.iter().product())
    }

    /// The elements as `f32`, from `raw_data` (little-endian) or `float_data`.
    ///
    /// Errors for non-FLOAT tensors, external data, and data whose length disagrees with the dims.
    pub fn to_f32(&self) -> Result<Vec<f32>, OnnxError> {
        if self.external {
            return Err(OnnxError::ExternalData { tensor: self.name.to_owned() });
        }
        if self.data_type != DataType::Float {
            return Err(OnnxError::UnsupportedDataType {
                tensor: self.name.to_owned(),
                data_type: self.data_type.code(),
                name: self.data_type.name(),
            });
        }
        let shape = self.shape()?;
        let expected: usize = shape.iter().product();
        let length_error =
            |found| OnnxError::DataLength { tensor: self.name.to_owned(), dims: shape.clone(), expected, found };
        match self.raw_data {
            Some(raw) => {
                if raw.len() % 4 != 0 || raw.len() / 4 != expected {
                    return Err(length_error(raw.len() / 4));
                }
                Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
            None => {
                if self.float_data.len() != expected {
                    return Err(length_error(self.float_data.len()));
                }
                Ok(self.float_data.clone())
            }
        }
    }

    fn decode(buf: &'a [u8]) -> Result<Self, OnnxError> {
        const M: &str = "TensorProto";
        let mut t = Tensor {
            name: "",
            dims: Vec::new(),
            data_type: DataType::Other(0),
            raw_data: None,
            float_data: Vec::new(),
            external: false,
        };
        let mut r = Reader::new(buf, M);
        while let Some((field, value)) = r.next_field()? {
            match field {
                1 => wire::push_int64s(M, "dims", value, &mut t.dims)?,
                2 => t.data_type = DataType::from_code(wire::int64(M, "data_type", value)? as i32),
                4 => wire::push_f32s(M, "float_data", value, &mut t.float_data)?,
                8 => t.name = wire::string(M, "name", value)?,
                9 => t.raw_data = Some(wire::bytes(M, "raw_data", value)?),
                13 => {
                    wire::bytes(M, "external_data", value)?;
                    t.external = true;
                }
                14 => t.external |= wire::int64(M, "data_location", value)? == 1,
                _ => {}
            }
        }
        Ok(t)
    }
}

/// The value of a node attribute (the kinds weight loading looks at).
#[derive(Debug, Clone)]
pub enum AttributeValue<'a> {
    /// `f`.
    Float(f32),
    /// `i`.
    Int(i64),
    /// `s` (raw bytes; usually UTF-8).
    Bytes(&'a [u8]),
    /// `t`.
    Tensor(Box<Tensor<'a>>),
    /// `floats`.
    Floats(Vec<f32>),
    /// `ints`.
    Ints(Vec<i64>),
    /// A kind not decoded here (graphs, sparse tensors, type protos, string lists).
    Other,
}

/// A decoded `AttributeProto`.
#[derive(Debug, Clone)]
pub struct Attribute<'a> {
    /// Attribute name.
    pub name: &'a str,
    /// Its value.
    pub value: AttributeValue<'a>,
}

impl<'a> Attribute<'a> {
    fn decode(buf: &'a [u8]) -> Result<Self, OnnxError> {
        const M: &str = "AttributeProto";
        let mut name = "";
        let mut value = AttributeValue::Other;
        let mut floats = Vec::new();
        let mut ints = Vec::new();
        let mut r = Reader::new(buf, M);
        while let Some((field, v)) = r.next_field()? {
            match field {
                1 => name = wire::string(M, "name", v)?,
                2 => match v {
                    Value::Fixed32(bits) => value = AttributeValue::Float(f32::from_bits(bits)),
                    _ => return Err(OnnxError::WrongWireType { message: M, field: "f" }),
                },
                3 => value = AttributeValue::Int(wire::int64(M, "i", v)?),
                4 => value = AttributeValue::Bytes(wire::bytes(M, "s", v)?),
                5 => value = AttributeValue::Tensor(Box::new(Tensor::decode(wire::bytes(M, "t", v)?)?)),
                7 => wire::push_f32s(M, "floats", v, &mut floats)?,
                8 => wire::push_int64s(M, "ints", v, &mut ints)?,
                _ => {}
            }
        }
        if !floats.is_empty() {
            value = AttributeValue::Floats(floats);
        } else if !ints.is_empty() {
            value = AttributeValue::Ints(ints);
        }
        Ok(Attribute { name, value })
    }
}

/// A decoded `NodeProto`.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// Node name (e.g. `/erb_conv0/1/Conv`).
    pub name: &'a str,
    /// Operator type (e.g. `Conv`).
    pub op_type: &'a str,
    /// Input value names, in order ("" for an omitted optional input).
    pub inputs: Vec<&'a str>,
    /// Output value names, in order.
    pub outputs: Vec<&'a str>,
    /// Attributes.
    pub attributes: Vec<Attribute<'a>>,
}

impl<'a> Node<'a> {
    /// The attribute called `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&AttributeValue<'a>> {
        self.attributes.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    fn decode(buf: &'a [u8]) -> Result<Self, OnnxError> {
        const M: &str = "NodeProto";
        let mut n = Node { name: "", op_type: "", inputs: Vec::new(), outputs: Vec::new(), attributes: Vec::new() };
        let mut r = Reader::new(buf, M);
        while let Some((field, v)) = r.next_field()? {
            match field {
                1 => n.inputs.push(wire::string(M, "input", v)?),
                2 => n.outputs.push(wire::string(M, "output", v)?),
                3 => n.name = wire::string(M, "name", v)?,
                4 => n.op_type = wire::string(M, "op_type", v)?,
                5 => n.attributes.push(Attribute::decode(wire::bytes(M, "attribute", v)?)?),
                _ => {}
            }
        }
        Ok(n)
    }
}

/// A decoded `GraphProto` (nodes and initializers; value infos are skipped).
#[derive(Debug, Clone)]
pub struct Graph<'a> {
    /// Graph name.
    pub name: &'a str,
    /// Nodes in file order (ONNX requires topological order).
    pub nodes: Vec<Node<'a>>,
    /// Initializers (named stored tensors).
    pub initializers: Vec<Tensor<'a>>,
}

impl<'a> Graph<'a> {
    fn decode(buf: &'a [u8]) -> Result<Self, OnnxError> {
        const M: &str = "GraphProto";
        let mut g = Graph { name: "", nodes: Vec::new(), initializers: Vec::new() };
        let mut r = Reader::new(buf, M);
        while let Some((field, v)) = r.next_field()? {
            match field {
                1 => g.nodes.push(Node::decode(wire::bytes(M, "node", v)?)?),
                2 => g.name = wire::string(M, "name", v)?,
                5 => g.initializers.push(Tensor::decode(wire::bytes(M, "initializer", v)?)?),
                _ => {}
            }
        }
        Ok(g)
    }
}

/// One `OperatorSetIdProto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsetImport<'a> {
    /// Domain ("" is the default ONNX domain).
    pub domain: &'a str,
    /// Opset version.
    pub version: i64,
}

/// A decoded `ModelProto`.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    /// `ir_version`.
    pub ir_version: i64,
    /// `producer_name` (e.g. "pytorch").
    pub producer_name: &'a str,
    /// `producer_version`.
    pub producer_version: &'a str,
    /// Operator sets the graph uses.
    pub opset_import: Vec<OpsetImport<'a>>,
    /// The main graph.
    pub graph: Graph<'a>,
}

impl<'a> Model<'a> {
    /// Decodes a whole `.onnx` file.
    ///
    /// Requires a graph and an import of the default ONNX opset: a file cut short at a
    /// field boundary would otherwise decode as a smaller, valid-looking model.
    pub fn decode(buf: &'a [u8]) -> Result<Self, OnnxError> {
        const M: &str = "ModelProto";
        let mut ir_version = 0;
        let mut producer_name = "";
        let mut producer_version = "";
        let mut opset_import = Vec::new();
        let mut graph = None;
        let mut r = Reader::new(buf, M);
        while let Some((field, v)) = r.next_field()? {
            match field {
                1 => ir_version = wire::int64(M, "ir_version", v)?,
                2 => producer_name = wire::string(M, "producer_name", v)?,
                3 => producer_version = wire::string(M, "producer_version", v)?,
                7 => graph = Some(Graph::decode(wire::bytes(M, "graph", v)?)?),
                8 => opset_import.push(decode_opset(wire::bytes(M, "opset_import", v)?)?),
                _ => {}
            }
        }
        let graph = graph.ok_or(OnnxError::Missing { what: "ModelProto.graph" })?;
        if !opset_import.iter().any(|o| o.domain.is_empty() || o.domain == "ai.onnx") {
            return Err(OnnxError::Missing { what: "ModelProto.opset_import for the default ONNX domain" });
        }
        Ok(Model { ir_version, producer_name, producer_version, opset_import, graph })
    }
}

fn decode_opset(buf: &[u8]) -> Result<OpsetImport<'_>, OnnxError> {
    const M: &str = "OperatorSetIdProto";
    let mut o = OpsetImport { domain: "", version: 0 };
    let mut r = Reader::new(buf, M);
    while let Some((field, v)) = r.next_field()? {
        match field {
            1 => o.domain = wire::string(M, "domain", v)?,
            2 => o.version = wire::int64(M, "version", v)?,
            _ => {}
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field_varint(num: u32, v: u64, out: &mut Vec<u8>) {
        varint(u64::from(num) << 3, out);
        varint(v, out);
    }

    fn field_bytes(num: u32, b: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(num) << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn floats(xs: &[f32]) -> Vec<u8> {
        xs.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn ok<T>(r: Result<T, OnnxError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn float_data_packed_and_unpacked_and_raw_data_decode_alike() {
        let want = [1.0f32, -2.5, 3.25, 0.0, 7.0, -0.125];
        let mut packed = Vec::new();
        field_varint(1, 2, &mut packed);
        field_varint(1, 3, &mut packed);
        field_varint(2, 1, &mut packed);
        field_bytes(4, &floats(&want), &mut packed);
        let t = ok(Tensor::decode(&packed));
        assert_eq!(ok(t.shape()), vec![2, 3]);
        assert_eq!(ok(t.to_f32()), want);

        let mut unpacked = Vec::new();
        field_bytes(1, &[2, 3], &mut unpacked); // packed dims
        field_varint(2, 1, &mut unpacked);
        for x in want {
            varint(4 << 3 | 5, &mut unpacked);
            unpacked.extend_from_slice(&x.to_le_bytes());
        }
        assert_eq!(ok(ok(Tensor::decode(&unpacked)).to_f32()), want);

        let mut raw = Vec::new();
        field_bytes(1, &[6], &mut raw);
        field_varint(2, 1, &mut raw);
        field_bytes(9, &floats(&want), &mut raw);
        field_bytes(8, b"w", &mut raw);
        let t = ok(Tensor::decode(&raw));
        assert_eq!(t.name, "w");
        assert_eq!(ok(t.to_f32()), want);
    }

    #[test]
    fn unsupported_tensors_are_errors() {
        // INT64 data.
        let mut int64 = Vec::new();
        field_varint(1, 1, &mut int64);
        field_varint(2, 7, &mut int64);
        field_bytes(9, &[0; 8], &mut int64);
        assert!(matches!(
            ok(Tensor::decode(&int64)).to_f32(),
            Err(OnnxError::UnsupportedDataType { data_type: 7, name: "INT64", .. })
        ));
        // Negative dim.
        let mut neg = Vec::new();
        field_varint(1, (-1i64) as u64, &mut neg);
        field_varint(2, 1, &mut neg);
        assert!(matches!(ok(Tensor::decode(&neg)).to_f32(), Err(OnnxError::BadDims { .. })));
        // Dims whose product overflows.
        let mut huge = Vec::new();
        for _ in 0..3 {
            field_varint(1, 1 << 40, &mut huge);
        }
        field_varint(2, 1, &mut huge);
        assert!(matches!(ok(Tensor::decode(&huge)).shape(), Err(OnnxError::BadDims { .. })));
        // External data.
        let mut ext = Vec::new();
        field_varint(1, 1, &mut ext);
        field_varint(2, 1, &mut ext);
        field_varint(14, 1, &mut ext);
        assert!(matches!(ok(Tensor::decode(&ext)).to_f32(), Err(OnnxError::ExternalData { .. })));
        // Element count mismatch.
        let mut short = Vec::new();
        field_varint(1, 3, &mut short);
        field_varint(2, 1, &mut short);
        field_bytes(9, &floats(&[1.0, 2.0]), &mut short);
        assert!(matches!(
            ok(Tensor::decode(&short)).to_f32(),
            Err(OnnxError::DataLength { expected: 3, found: 2, .. })
        ));
    }

    #[test]
    fn model_needs_a_graph_and_the_default_opset() {
        let mut opset = Vec::new();
        field_varint(2, 12, &mut opset);
        let mut node = Vec::new();
        field_bytes(1, b"x", &mut node);
        field_bytes(1, b"", &mut node);
        field_bytes(2, b"y", &mut node);
        field_bytes(3, b"/n", &mut node);
        field_bytes(4, b"Relu", &mut node);
        let mut attr = Vec::new();
        field_bytes(1, b"alpha", &mut attr);
        varint(2 << 3 | 5, &mut attr);
        attr.extend_from_slice(&0.5f32.to_le_bytes());
        field_bytes(5, &attr, &mut node);
        let mut graph = Vec::new();
        field_bytes(1, &node, &mut graph);
        field_bytes(2, b"g", &mut graph);

        let mut model = Vec::new();
        field_varint(1, 7, &mut model);
        field_bytes(7, &graph, &mut model);
        assert!(matches!(Model::decode(&model), Err(OnnxError::Missing { .. })), "no opset");
        field_bytes(8, &opset, &mut model);
        let m = ok(Model::decode(&model));
        assert_eq!((m.ir_version, m.graph.name), (7, "g"));
        assert_eq!(m.opset_import, vec![OpsetImport { domain: "", version: 12 }]);
        let n = &m.graph.nodes[0];
        assert_eq!(
            (n.name, n.op_type, n.inputs.as_slice(), n.outputs.as_slice()),
            ("/n", "Relu", &["x", ""][..], &["y"][..])
        );
        assert!(matches!(n.attribute("alpha"), Some(AttributeValue::Float(a)) if *a == 0.5));

        let mut no_graph = Vec::new();
        field_bytes(8, &opset, &mut no_graph);
        assert!(matches!(Model::decode(&no_graph), Err(OnnxError::Missing { what: "ModelProto.graph" })));
        // A string field with the wrong wire type.
        let mut bad = Vec::new();
        field_varint(2, 5, &mut bad);
        assert!(matches!(Model::decode(&bad), Err(OnnxError::WrongWireType { field: "producer_name", .. })));
    }
}
