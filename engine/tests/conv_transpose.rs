//! Transposed conv (polyphase) against the naive scatter definition, every tier.

mod common;

use common::*;
use rand::Rng;
use sluice_engine::{Activation, ConvTranspose, ConvTransposeSpec, Isa, Threads};

/// Naive f64 transposed conv by scattering every input × tap (the ONNX definition).
fn convt_ref(spec: &ConvTransposeSpec, in_dims: &[usize], x: &[f32], w: &[f32], b: &[f32]) -> (Vec<f64>, Vec<usize>) {
    let rank = spec.kernel.len();
    let n3 = |v: &[usize], f: usize| {
        let mut a = [f; 3];
        a[3 - rank..].copy_from_slice(v);
        a
    };
    let (k, s, d) = (n3(&spec.kernel, 1), n3(&spec.stride, 1), n3(&spec.dilation, 1));
    let (pb, pe, op, id) = (n3(&spec.pad_begin, 0), n3(&spec.pad_end, 0), n3(&spec.output_padding, 0), n3(in_dims, 1));
    let od: Vec<usize> = (0..3).map(|a| (id[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 + op[a] - pb[a] - pe[a]).collect();
    let (cin, cout, g) = (spec.in_channels, spec.out_channels, spec.groups);
    let (cig, cog) = (cin / g, cout / g);
    let mut out = vec![0.0f64; od.iter().product::<usize>() * cout];
    for p in 0..od.iter().product::<usize>() {
        for c in 0..cout {
            out[p * cout + c] = b[c] as f64;
        }
    }
    for z in 0..id[0] {
        for y in 0..id[1] {
            for xx in 0..id[2] {
                for ci in 0..cin {
                    let grp = ci / cig;
                    let xv = x[((z * id[1] + y) * id[2] + xx) * cin + ci] as f64;
                    for col in 0..cog {
                        for kd in 0..k[0] {
                            for kh in 0..k[1] {
                                for kw in 0..k[2] {
                                    let o = [
                                        (z * s[0] + kd * d[0]) as isize - pb[0] as isize,
                                        (y * s[1] + kh * d[1]) as isize - pb[1] as isize,
                                        (xx * s[2] + kw * d[2]) as isize - pb[2] as isize,
                                    ];
                                    if (0..3).any(|a| o[a] < 0 || o[a] >= od[a] as isize) {
                                        continue;
                                    }
                                    let oi = ((o[0] as usize * od[1] + o[1] as usize) * od[2] + o[2] as usize) * cout
                                        + grp * cog
                                        + col;
                                    let wi = (((ci * cog + col) * k[0] + kd) * k[1] + kh) * k[2] + kw;
                                    out[oi] += xv * w[wi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    for v in &mut out {
        *v = act64(spec.activation, *v);
    }
    (out, od[3 - rank..].to_vec())
}

fn check(isa: Isa, spec: &ConvTransposeSpec, dims: &[usize], seed: u64, threads: &Threads) {
    let mut r = rng(seed);
    let in_len = dims.iter().product::<usize>() * spec.in_channels;
    let x = rand_vec(&mut r, in_len * 2);
    let w = rand_vec(&mut r, spec.weight_len());
    let b = rand_vec(&mut r, spec.out_channels);
    let plan = ConvTranspose::with_isa(isa, spec, dims, &w, Some(&b)).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    let mut out = vec![f32::NAN; plan.output_len() * 2];
    let mut scratch = vec![0.0; plan.scratch_len(threads)];
    plan.run(&x, &mut out, &mut scratch, threads).unwrap_or_else(|e| panic!("{e}"));
    for img in 0..2 {
        let (want, od) = convt_ref(spec, dims, &x[img * in_len..(img + 1) * in_len], &w, &b);
        assert_eq!(plan.output_dims(), od.as_slice());
        let got = &out[img * plan.output_len()..(img + 1) * plan.output_len()];
        assert_close(&format!("{isa} {spec:?} {dims:?}"), got, &want, 1e-5, 1e-5);
    }
}

#[test]
fn dfn3_decoder_shape() {
    // DeepFilterNet3 convt2/convt1: depthwise ConvTranspose (1×3), F-stride 2, pad 1, output_padding 1.
    let spec = ConvTransposeSpec::new(64, 64, &[1, 3])
        .stride(&[1, 2])
        .padding(&[0, 1], &[0, 1])
        .output_padding(&[0, 1])
        .groups(64);
    for isa in tiers() {
        check(isa, &spec, &[1, 8], 1, &Threads::single());
        check(isa, &spec, &[3, 16], 2, &Threads::single());
    }
}

#[test]
fn random_shapes_every_tier() {
    let mut r = rng(5);
    let t = Threads::single();
    for isa in tiers() {
        let mut done = 0;
        while done < 40 {
            let rank = r.random_range(1..=3);
            let g = [1, 1, 2, 3][r.random_range(0..4)];
            let cin = g * r.random_range(1..=6);
            let cout = g * r.random_range(1..=11);
            let k: Vec<usize> = (0..rank).map(|_| r.random_range(1..=5)).collect();
            let s: Vec<usize> = (0..rank).map(|_| r.random_range(1..=3)).collect();
            let d: Vec<usize> = (0..rank).map(|_| r.random_range(1..=2)).collect();
            let pb: Vec<usize> = (0..rank).map(|a| r.random_range(0..=d[a] * (k[a] - 1))).collect();
            let pe: Vec<usize> = (0..rank).map(|a| r.random_range(0..=d[a] * (k[a] - 1))).collect();
            let op: Vec<usize> = (0..rank).map(|a| r.random_range(0..s[a].max(d[a]))).collect();
            let dims: Vec<usize> = (0..rank).map(|a| r.random_range(1..=[3, 6, 11][a + 3 - rank])).collect();
            let act = [Activation::Identity, Activation::Relu, Activation::Tanh, prelu(-0.5), prelu(1.3)]
                [r.random_range(0..5)];
            let spec = ConvTransposeSpec::new(cin, cout, &k)
                .stride(&s)
                .dilation(&d)
                .padding(&pb, &pe)
                .output_padding(&op)
                .groups(g)
                .activation(act);
            // Croppings that remove the whole output are refused with a typed error; draw again.
            if ConvTranspose::with_isa(isa, &spec, &dims, &vec![0.0; spec.weight_len()], None).is_err() {
                continue;
            }
            check(isa, &spec, &dims, 100 + done, &t);
            done += 1;
        }
    }
}

#[test]
fn threaded_equals_single() {
    let spec =
        ConvTransposeSpec::new(32, 16, &[4, 4]).stride(&[2, 2]).padding(&[1, 1], &[1, 1]).activation(Activation::Relu);
    let t2 = Threads::new(2).unwrap_or_else(|e| panic!("{e}"));
    for isa in tiers() {
        check(isa, &spec, &[40, 48], 3, &t2);
    }
}

#[test]
fn bad_shapes_are_typed_errors() {
    let spec = ConvTransposeSpec::new(4, 4, &[3]).stride(&[2]);
    assert!(ConvTranspose::new(&spec, &[5], &[0.0; 3], None).is_err());
    assert!(ConvTranspose::new(&spec.clone().output_padding(&[2]), &[5], &[0.0; 48], None).is_err());
    assert!(ConvTranspose::new(&spec.clone().groups(3), &[5], &[0.0; 48], None).is_err());
    let plan = ConvTranspose::new(&spec, &[5], &[0.0; 48], None).unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![0.0; plan.output_len() + 1];
    assert!(plan.run(&[0.0; 20], &mut out, &mut [], &Threads::single()).is_err());
}
