//! Vectorised transcendental helpers (tanh, sigmoid) and activation application per ISA.
//!
//! tanh is x·P(x²)/Q(x²) with P of degree 4 and Q of degree 3 in x² (a 9/6 rational, fitted
//! near-minimax on [0, 8]) after clamping |x| to 7.55, where it meets ±1 to f32 precision:
//! max absolute error 4.3e-7 over all of f32, 9 multiply-adds and one divide. The former 13/6
//! fit had the same accuracy class (3.5e-7) for 11; on Zen 4 every zmm op costs about a cycle
//! whichever pipe it uses, and ESPCN evaluates 22 M tanh per frame (l1: 14.7 M, a quarter of
//! that layer's time). tanh(±∞) = ±1; a NaN input stays NaN except on AVX-512, whose one-op
//! clamp turns it into +1 (an input already corrupt either way). Sigmoid is derived
//! as 0.5 + 0.5·tanh(x/2). The scalar tier uses `f32::tanh`; the two agree to ~5e-7
//! absolute, which the conformance tests allow for.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;

/// |x| bound of the rational: there it equals 1 − 4e-7 and tanh(x) is within its error of ±1.
pub(crate) const TANH_CLAMP: f32 = 7.55;
/// Numerator coefficients: tanh(x) ≈ x·(P[0] + P[1]·x² + … + P[4]·x⁸) / Q(x²).
pub(crate) const TANH_P: [f32; 5] = [0.999_999_05, 0.126_997_8, 2.684_493e-3, 7.083_432e-6, -6.019_958e-9];
/// Denominator coefficients (powers x⁰, x², x⁴, x⁶).
pub(crate) const TANH_Q: [f32; 4] = [1.0, 0.460_327_7, 2.279_738_2e-2, 1.952_988e-4];

/// The same rational tanh in scalar form: the accuracy test runs on it.
#[cfg(test)]
fn tanh_rational(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let mut p = TANH_P[4];
    for &a in TANH_P[..4].iter().rev() {
        p = p.mul_add(x2, a);
    }
    p *= x;
    let mut q = TANH_Q[3];
    for &b in TANH_Q[..3].iter().rev() {
        q = q.mul_add(x2, b);
    }
    p / q
}

/// Largest |tanh error| any tier may have against f64 (the fit's 4.3e-7 plus margin).
#[cfg(test)]
pub(crate) const TANH_MAX_ERR: f64 = 5e-7;

/// Inputs the tanh tests sweep, a multiple of 16 long: a 1e-4 grid over [-12, 12] (across the
/// clamp at ±7.55), ±2^k for every exponent up to f32::MAX, ±∞, ±0 and subnormals, then a
/// NaN as the last element.
#[cfg(test)]
pub(crate) fn tanh_test_inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = (-120_000..=120_000).map(|i| i as f32 * 1e-4).collect();
    for e in -149..=127 {
        let v = 2f32.powi(e);
        xs.extend([v, -v, v * 1.5, -v * 1.5]);
    }
    xs.extend([f32::MAX, f32::MIN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-40, -1e-40]);
    xs.extend([TANH_CLAMP, -TANH_CLAMP, TANH_CLAMP.next_up(), TANH_CLAMP.next_down()]);
    while xs.len() % 16 != 15 {
        xs.push(1.0);
    }
    xs.push(f32::NAN);
    xs
}

/// Checks a tier's `ys = tanh(xs)` for [`tanh_test_inputs`]: within [`TANH_MAX_ERR`] of the f64
/// tanh, never NaN for a number (not even ±∞ or f32::MAX), odd, and NaN or ±1 for NaN.
#[cfg(test)]
pub(crate) fn check_tanh(tier: &str, xs: &[f32], ys: &[f32]) {
    assert_eq!(xs.len(), ys.len());
    let mut worst = (0.0f64, 0.0f32);
    for (&x, &y) in xs.iter().zip(ys) {
        if x.is_nan() {
            assert!(y.is_nan() || y.abs() <= 1.0, "{tier}: tanh(NaN) = {y}");
            continue;
        }
        assert!(!y.is_nan() && y.abs() <= 1.0, "{tier}: tanh({x}) = {y}");
        let e = (f64::from(y) - f64::from(x).tanh()).abs();
        if e > worst.0 {
            worst = (e, x);
        }
    }
    assert!(worst.0 <= TANH_MAX_ERR, "{tier}: worst abs error {:e} at x = {}", worst.0, worst.1);
    for (pair, ys) in xs.chunks_exact(2).zip(ys.chunks_exact(2)) {
        if pair[0] == -pair[1] && !pair[0].is_nan() {
            assert_eq!(ys[0], -ys[1], "{tier}: tanh is not odd at {}", pair[0]);
        }
    }
}

/// Activations the vector tiers are tested on: the fixed ones and PReLU slopes below 0,
/// between 0 and 1 and above 1.
#[cfg(test)]
pub(crate) fn test_activations() -> Vec<crate::Activation> {
    use crate::activation::{Activation, Slope};
    let mut acts = vec![Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Sigmoid];
    for s in [0.25, -0.5, 1.3, 0.0, -0.0] {
        acts.push(Activation::Prelu(Slope::new(s).unwrap_or_else(|e| panic!("{e}"))));
    }
    acts
}

/// Activation test inputs, a multiple of `lanes` long: a 0.031 grid over ±15.5, then ±0,
/// subnormals, ±f32::MAX, ±∞ and a NaN.
#[cfg(test)]
pub(crate) fn activation_test_inputs(lanes: usize) -> Vec<f32> {
    let mut xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.031).collect();
    xs.extend([0.0, -0.0, 1e-40, -1e-40, f32::MAX, f32::MIN, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
    while !xs.len().is_multiple_of(lanes) {
        xs.push(-1.5);
    }
    xs
}

/// Checks a tier's `ys = act(xs)` against the scalar reference: PReLU bit for bit (NaN,
/// −0 and ∞ included), the others to 2e-6 on numbers (tiers differ on NaN for those).
#[cfg(test)]
pub(crate) fn check_activation(act: crate::Activation, xs: &[f32], ys: &[f32]) {
    assert_eq!(xs.len(), ys.len());
    for (&x, &y) in xs.iter().zip(ys) {
        let want = act.apply(x);
        if let crate::Activation::Prelu(_) = act {
            assert!(want.to_bits() == y.to_bits() || (want.is_nan() && y.is_nan()), "{act:?}({x}) = {y}, not {want}");
        } else if !x.is_nan() && want != y {
            assert!((want - y).abs() < 2e-6, "{act:?}({x}) = {y}, not {want}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rational_tanh_is_accurate() {
        let xs = tanh_test_inputs();
        let ys: Vec<f32> = xs.iter().map(|&x| tanh_rational(x)).collect();
        check_tanh("scalar twin", &xs, &ys);
    }
}
