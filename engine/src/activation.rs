//! Activations fused into kernel stores.

use std::hash::{Hash, Hasher};
use thiserror::Error;

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
    /// PReLU / leaky ReLU with one slope for the whole layer: y = x for x ≥ 0 (and NaN),
    /// slope·x for x < 0. Exact on every tier (one multiply, no approximation).
    Prelu(Slope),
}

/// The negative-side slope of [`Activation::Prelu`]: any finite f32 (0 is a ReLU, 1 the
/// identity, > 1 and negative slopes are allowed). Compared and hashed by its bits, so
/// `Activation` stays `Eq + Hash` (plans are keyed by their spec).
#[derive(Debug, Clone, Copy)]
pub struct Slope(f32);

/// A PReLU slope that is NaN or infinite.
#[derive(Debug, Error, Clone, Copy, PartialEq)]
#[error("PReLU slope must be finite, got {0}")]
pub struct NonFiniteSlope(pub f32);

impl Slope {
    /// A slope, refusing NaN and ±∞ (they would make every negative output NaN or infinite).
    pub fn new(slope: f32) -> Result<Self, NonFiniteSlope> {
        if slope.is_finite() { Ok(Self(slope)) } else { Err(NonFiniteSlope(slope)) }
    }

    /// The slope's value.
    #[inline]
    pub fn get(self) -> f32 {
        self.0
    }
}

impl TryFrom<f32> for Slope {
    type Error = NonFiniteSlope;

    fn try_from(slope: f32) -> Result<Self, NonFiniteSlope> {
        Self::new(slope)
    }
}

impl PartialEq for Slope {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Slope {}

impl Hash for Slope {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
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
            Activation::Prelu(s) => prelu(x, s.get()),
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

/// PReLU, scalar reference: the vector tiers select between x and slope·x on the same
/// `x < 0` test, so they agree bit for bit (−0 and NaN pass through unchanged).
#[inline]
pub fn prelu(x: f32, slope: f32) -> f32 {
    if x < 0.0 { slope * x } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slope_rejects_non_finite() {
        assert_eq!(Slope::new(0.25).map(Slope::get), Ok(0.25));
        assert_eq!(Slope::new(-3.0).map(Slope::get), Ok(-3.0));
        assert!(matches!(Slope::new(f32::NAN), Err(NonFiniteSlope(s)) if s.is_nan()));
        assert_eq!(Slope::try_from(f32::INFINITY), Err(NonFiniteSlope(f32::INFINITY)));
        assert_eq!(Slope::new(f32::NEG_INFINITY), Err(NonFiniteSlope(f32::NEG_INFINITY)));
    }

    #[test]
    fn prelu_is_eq_and_hash_by_bits() {
        let s = |v: f32| Activation::Prelu(Slope::new(v).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(s(0.5), s(0.5));
        assert_ne!(s(0.5), s(0.25));
        assert_ne!(s(0.0), s(-0.0));
        assert_ne!(s(0.0), Activation::Relu);
        let set: HashSet<Activation> = [s(0.5), s(0.5), s(1.3), Activation::Relu].into_iter().collect();
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn prelu_scalar() {
        let a = Activation::Prelu(Slope::new(-0.5).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(a.apply(2.0), 2.0);
        assert_eq!(a.apply(-2.0), 1.0);
        assert_eq!(a.apply(0.0), 0.0);
        assert!(a.apply(f32::NAN).is_nan());
        let b = Activation::Prelu(Slope::new(1.3).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(b.apply(-1.0), -1.3);
        assert_eq!(b.apply(f32::NEG_INFINITY), f32::NEG_INFINITY);
    }
}
