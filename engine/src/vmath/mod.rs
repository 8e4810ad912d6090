//! Vectorised transcendental helpers (tanh, sigmoid) and activation application per ISA.
//!
//! tanh uses a 13/6 rational minimax approximation on [-9, 9] (max error a few ulp),
//! sigmoid is derived from it as 0.5 + 0.5·tanh(x/2). The scalar tier uses `f32::tanh`;
//! the two agree to ~1e-6 absolute, which the conformance tests allow for.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;

/// Clamp bound beyond which tanh(x) rounds to ±1 in f32.
pub(crate) const TANH_CLAMP: f32 = 7.905_311;
/// Numerator coefficients (odd powers 1..13).
pub(crate) const TANH_ALPHA: [f32; 7] =
    [4.893_524_6e-3, 6.372_619_3e-4, 1.485_722_4e-5, 5.122_297e-8, -8.604_672e-11, 2.000_188e-13, -2.760_768_5e-16];
/// Denominator coefficients (even powers 0..6).
pub(crate) const TANH_BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];

/// The same rational tanh in scalar form: the accuracy test runs on it.
#[cfg(test)]
fn tanh_rational(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let mut p = TANH_ALPHA[6];
    for &a in TANH_ALPHA[..6].iter().rev() {
        p = p.mul_add(x2, a);
    }
    p *= x;
    let mut q = TANH_BETA[3];
    for &b in TANH_BETA[..3].iter().rev() {
        q = q.mul_add(x2, b);
    }
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rational_tanh_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -12.0f32;
        while x < 12.0 {
            let e = (tanh_rational(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(e);
            x += 0.001;
        }
        assert!(worst < 5e-7, "worst abs error {worst}");
    }
}
