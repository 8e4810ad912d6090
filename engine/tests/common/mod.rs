//! Shared helpers for the conformance suites: seeded random data and naive f64 references.
#![allow(dead_code)] // each test binary uses a different subset

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_engine::{Activation, ConvSpec, Isa, Slope};

/// A seeded RNG so failures reproduce.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` uniform values in [-1, 1).
pub fn rand_vec(r: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| r.random_range(-1.0f32..1.0)).collect()
}

/// Every ISA tier this machine supports. A tier that is skipped is asserted missing.
pub fn tiers() -> Vec<Isa> {
    let tiers = Isa::available();
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        assert_eq!(tiers.contains(&Isa::Avx2), avx2, "AVX2 tier skipped although the CPU has it");
        let avx512 = avx2
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl");
        assert_eq!(tiers.contains(&Isa::Avx512), avx512, "AVX-512 tier skipped although the CPU has it");
    }
    tiers
}

/// PReLU with slope `s` (a finite constant).
pub fn prelu(s: f32) -> Activation {
    Activation::Prelu(Slope::new(s).unwrap_or_else(|e| panic!("{e}")))
}

/// Every activation kind, PReLU with slopes below 0, between 0 and 1, and above 1.
pub fn acts() -> [Activation; 7] {
    [
        Activation::Identity,
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        prelu(0.25),
        prelu(-0.5),
        prelu(1.3),
    ]
}

/// f64 activation.
pub fn act64(a: Activation, x: f64) -> f64 {
    match a {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Prelu(s) => {
            if x < 0.0 {
                f64::from(s.get()) * x
            } else {
                x
            }
        }
    }
}

/// Naive f64 convolution straight from the ONNX definition (channels-last data,
/// `[Cout][Cin/g][k..]` weights), including pixel shuffle. Returns (output, out dims).
pub fn conv_ref(spec: &ConvSpec, in_dims: &[usize], x: &[f32], w: &[f32], b: Option<&[f32]>) -> (Vec<f64>, Vec<usize>) {
    let rank = spec.rank();
    let n3 = |v: &[usize], f: usize| {
        let mut a = [f; 3];
        a[3 - rank..].copy_from_slice(v);
        a
    };
    let (k, s, d, p, pe, id) = (
        n3(&spec.kernel, 1),
        n3(&spec.stride, 1),
        n3(&spec.dilation, 1),
        n3(&spec.pad_begin, 0),
        n3(&spec.pad_end, 0),
        n3(in_dims, 1),
    );
    let od: Vec<usize> = (0..3).map(|a| (id[a] + p[a] + pe[a] - d[a] * (k[a] - 1) - 1) / s[a] + 1).collect();
    let (cin, cout, g) = (spec.in_channels, spec.out_channels, spec.groups);
    let (cig, cog) = (cin / g, cout / g);
    let mut out = vec![0.0f64; od[0] * od[1] * od[2] * cout];
    for z in 0..od[0] {
        for y in 0..od[1] {
            for xx in 0..od[2] {
                for co in 0..cout {
                    let grp = co / cog;
                    let mut acc = b.map_or(0.0, |b| b[co] as f64);
                    for ci in 0..cig {
                        for kd in 0..k[0] {
                            for kh in 0..k[1] {
                                for kw in 0..k[2] {
                                    let iz = (z * s[0] + kd * d[0]) as isize - p[0] as isize;
                                    let iy = (y * s[1] + kh * d[1]) as isize - p[1] as isize;
                                    let ix = (xx * s[2] + kw * d[2]) as isize - p[2] as isize;
                                    if iz < 0
                                        || iy < 0
                                        || ix < 0
                                        || iz >= id[0] as isize
                                        || iy >= id[1] as isize
                                        || ix >= id[2] as isize
                                    {
                                        continue;
                                    }
                                    let xi = (((iz as usize * id[1] + iy as usize) * id[2] + ix as usize) * cin)
                                        + grp * cig
                                        + ci;
                                    let wi = (((co * cig + ci) * k[0] + kd) * k[1] + kh) * k[2] + kw;
                                    acc += x[xi] as f64 * w[wi] as f64;
                                }
                            }
                        }
                    }
                    out[((z * od[1] + y) * od[2] + xx) * cout + co] = act64(spec.activation, acc);
                }
            }
        }
    }
    let r = spec.pixel_shuffle;
    if r == 1 {
        return (out, od[3 - rank..].to_vec());
    }
    let c2 = cout / (r * r);
    let mut sh = vec![0.0f64; out.len()];
    let (oh, ow) = (od[1] * r, od[2] * r);
    for z in 0..od[0] {
        for y in 0..od[1] {
            for xx in 0..od[2] {
                for c in 0..cout {
                    let (cp, sub) = (c / (r * r), c % (r * r));
                    let (i, j) = (sub / r, sub % r);
                    sh[((z * oh + y * r + i) * ow + xx * r + j) * c2 + cp] =
                        out[((z * od[1] + y) * od[2] + xx) * cout + c];
                }
            }
        }
    }
    let mut dims = vec![od[0], oh, ow];
    dims.drain(..3 - rank);
    (sh, dims)
}

/// Asserts `got` ≈ `want` within `atol + rtol·|want|` element-wise, naming the first mismatch.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (*g as f64 - w).abs();
        assert!(err <= atol + rtol * w.abs(), "{what}: element {i}: got {g}, want {w} (err {err:e})");
    }
}
