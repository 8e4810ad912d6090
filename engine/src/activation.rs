//! Activations fused into kernel stores.

/// Pointwise nonlinearity applied as a kernel writes its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Activation {
    /// y = x
    #[default]
    Identity,
    /// y = max(x, 0)
    Relu,
    /// y = tanh(x)
    Tanh,
    /// y = 1 / (1 + e^-x)
    Sigmoid,
}

impl Activation {
    /// Scalar reference of the activation.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => sigmoid(x),
        }
    }

    /// Applies the activation in place over a slice (scalar; used by the reference tier).
    pub fn apply_slice(self, xs: &mut [f32]) {
        if self != Activation::Identity {
            xs.iter_mut().for_each(|x| *x = self.apply(*x));
        }
    }
}

/// Logistic sigmoid, scalar reference.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
