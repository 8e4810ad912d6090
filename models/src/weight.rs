//! An owned float32 weight tensor with its shape.

/// A loaded weight tensor: row-major `f32` data with its shape, as stored in the model file.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Weight {
    /// Wraps `data` of `shape`; `None` when the element counts differ.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Option<Self> {
        (shape.iter().product::<usize>() == data.len()).then_some(Self { shape, data })
    }

    /// The dimensions, outermost first (ONNX/PyTorch order).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
