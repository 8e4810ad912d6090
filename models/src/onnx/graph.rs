//! Name lookups over a decoded graph: nodes by name, stored tensors by value name.

use std::collections::HashMap;

use super::{AttributeValue, Graph, Node, Tensor};

/// Indexes one graph so weights can be found by the node that consumes them.
///
/// A "stored tensor" is a value whose data is in the file: an initializer, or the `value`
/// tensor of a `Constant` node (the PyTorch exporter turns some parameters, e.g. the GRU
/// weights of DeepFilterNet's encoder, into Constant nodes instead of initializers).
#[derive(Debug)]
pub struct GraphIndex<'g, 'a> {
    graph: &'g Graph<'a>,
    nodes: HashMap<&'a str, &'g Node<'a>>,
    stored: HashMap<&'a str, &'g Tensor<'a>>,
}

impl<'g, 'a> GraphIndex<'g, 'a> {
    /// Builds the index. Later duplicates of a name are ignored (ONNX forbids them).
    pub fn new(graph: &'g Graph<'a>) -> Self {
        let mut nodes = HashMap::new();
        let mut stored = HashMap::new();
        for init in &graph.initializers {
            stored.entry(init.name).or_insert(init);
        }
        for node in &graph.nodes {
            if !node.name.is_empty() {
                nodes.entry(node.name).or_insert(node);
            }
            if node.op_type == "Constant"
                && let (Some(out), Some(AttributeValue::Tensor(t))) = (node.outputs.first(), node.attribute("value"))
            {
                stored.entry(*out).or_insert(t.as_ref());
            }
        }
        Self { graph, nodes, stored }
    }

    /// The graph this indexes.
    pub fn graph(&self) -> &'g Graph<'a> {
        self.graph
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&'g Node<'a>> {
        self.nodes.get(name).copied()
    }

    /// The tensor stored for value `name` (initializer or Constant output).
    pub fn stored(&self, name: &str) -> Option<&'g Tensor<'a>> {
        self.stored.get(name).copied()
    }
}
