//! Conformance of the pooling plans, every ISA tier and evaluation method, against the naive
//! f64 definition (ONNX MaxPool / AveragePool semantics, channels-last).

mod common;

use common::*;
use rand::Rng;
use sluice_engine::{EngineError, Isa, Pool, PoolKind, PoolSpec, Threads, WindowMethod};

/// Naive f64 pooling: every window element visited; padding is skipped (max) or counted as
/// zero when `count_include_pad` (avg). Returns (output, out dims).
fn pool_ref(spec: &PoolSpec, in_dims: &[usize], x: &[f32]) -> (Vec<f64>, Vec<usize>) {
    let rank = spec.rank();
    let n3 = |v: &[usize], f: usize| {
        let mut a = [f; 3];
        a[3 - rank..].copy_from_slice(v);
        a
    };
    let (k, s, p, pe, id) =
        (n3(&spec.kernel, 1), n3(&spec.stride, 1), n3(&spec.pad_begin, 0), n3(&spec.pad_end, 0), n3(in_dims, 1));
    let od: Vec<usize> = (0..3).map(|a| (id[a] + p[a] + pe[a] - k[a]) / s[a] + 1).collect();
    let c = spec.channels;
    let mut out = vec![0.0f64; od[0] * od[1] * od[2] * c];
    for z in 0..od[0] {
        for y in 0..od[1] {
            for xx in 0..od[2] {
                for ch in 0..c {
                    let mut best = f64::NEG_INFINITY;
                    let (mut sum, mut valid) = (0.0f64, 0usize);
                    for kd in 0..k[0] {
                        for kh in 0..k[1] {
                            for kw in 0..k[2] {
                                let iz = (z * s[0] + kd) as isize - p[0] as isize;
                                let iy = (y * s[1] + kh) as isize - p[1] as isize;
                                let ix = (xx * s[2] + kw) as isize - p[2] as isize;
                                if iz < 0
                                    || iy < 0
                                    || ix < 0
                                    || iz >= id[0] as isize
                                    || iy >= id[1] as isize
                                    || ix >= id[2] as isize
                                {
                                    continue;
                                }
                                let v = x[((iz as usize * id[1] + iy as usize) * id[2] + ix as usize) * c + ch] as f64;
                                best = best.max(v);
                                sum += v;
                                valid += 1;
                            }
                        }
                    }
                    let taps = k[0] * k[1] * k[2];
                    out[((z * od[1] + y) * od[2] + xx) * c + ch] = match spec.kind {
                        PoolKind::Max => best,
                        PoolKind::Avg if spec.count_include_pad => sum / taps as f64,
                        PoolKind::Avg if valid == 0 => 0.0,
                        PoolKind::Avg => sum / valid as f64,
                    };
                }
            }
        }
    }
    (out, od[3 - rank..].to_vec())
}

fn check(isa: Isa, spec: &PoolSpec, in_dims: &[usize], threads: &Threads, seed: u64) {
    let mut r = rng(seed);
    let in_len: usize = in_dims.iter().product::<usize>() * spec.channels;
    let x = rand_vec(&mut r, in_len * 2);
    let plan = Pool::with_isa(isa, spec, in_dims).unwrap_or_else(|e| panic!("plan {spec:?} {in_dims:?}: {e}"));
    let mut out = vec![f32::NAN; plan.output_len() * 2];
    let mut scratch = vec![f32::NAN; plan.scratch_len(threads)];
    plan.run(&x, &mut out, &mut scratch, threads).unwrap_or_else(|e| panic!("run {spec:?}: {e}"));
    let taps: usize = spec.kernel.iter().product();
    let atol = 2e-6 * (taps as f64).sqrt() + 1e-7;
    for img in 0..2 {
        let (want, dims) = pool_ref(spec, in_dims, &x[img * in_len..(img + 1) * in_len]);
        assert_eq!(plan.output_dims(), dims, "{spec:?}");
        let got = &out[img * plan.output_len()..(img + 1) * plan.output_len()];
        let what = format!("{isa} methods {:?} {spec:?} {in_dims:?} img {img}", plan.methods());
        if spec.kind == PoolKind::Max {
            // Max is exact (an input element or −∞ for an all-padding window).
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(*g as f64 == *w, "{what}: element {i}: got {g}, want {w}");
            }
        } else {
            assert_close(&what, got, &want, atol, 1e-5);
        }
    }
}

const METHODS: [WindowMethod; 3] = [WindowMethod::Auto, WindowMethod::Direct, WindowMethod::PrefixSuffix];

fn both_kinds(channels: usize, kernel: &[usize]) -> [PoolSpec; 3] {
    [
        PoolSpec::max(channels, kernel),
        PoolSpec::avg(channels, kernel),
        PoolSpec::avg(channels, kernel).count_include_pad(true),
    ]
}

/// (C, kernel, stride, pad_begin, pad_end, input dims)
type Case = (usize, Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>);

/// Fixed edge cases: window 1, window ≥ input, width 1, lanes±1, C = 1/3/lanes±1, stride > window,
/// big padding, 3-D.
fn edge_cases() -> Vec<(PoolSpec, Vec<usize>)> {
    let mut v = Vec::new();
    let shapes: Vec<Case> = vec![
        // (C, kernel, stride, pad_begin, pad_end, input dims)
        (64, vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1], vec![9, 37]),
        (1, vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1], vec![7, 33]),
        (3, vec![5, 5], vec![1, 1], vec![2, 2], vec![2, 2], vec![11, 17]),
        (15, vec![1, 1], vec![1, 1], vec![0, 0], vec![0, 0], vec![3, 5]),
        (17, vec![4, 6], vec![1, 1], vec![0, 0], vec![0, 0], vec![4, 6]),
        (9, vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1], vec![5, 1]),
        (7, vec![2, 2], vec![3, 3], vec![0, 0], vec![0, 0], vec![8, 11]),
        (16, vec![3, 3], vec![4, 5], vec![2, 2], vec![2, 2], vec![9, 13]),
        (8, vec![3, 3], vec![1, 1], vec![2, 2], vec![2, 2], vec![6, 15]),
        (5, vec![3, 4], vec![1, 1], vec![2, 3], vec![2, 3], vec![4, 9]),
        (16, vec![2, 2, 1], vec![2, 2, 1], vec![0, 0, 0], vec![0, 0, 0], vec![8, 8, 5]),
        (4, vec![3, 3, 3], vec![1, 1, 1], vec![1, 1, 1], vec![1, 1, 1], vec![4, 5, 6]),
        (17, vec![2, 5, 3], vec![2, 1, 2], vec![1, 2, 1], vec![0, 2, 1], vec![5, 7, 9]),
        (1, vec![7], vec![1], vec![3], vec![3], vec![33]),
        (31, vec![9], vec![2], vec![0], vec![4], vec![15]),
        (33, vec![5], vec![1], vec![4], vec![4], vec![1]),
        (2, vec![6, 5], vec![2, 3], vec![5, 4], vec![5, 4], vec![3, 4]),
        (1, vec![10, 20], vec![1, 1], vec![0, 0], vec![0, 0], vec![12, 40]),
        (24, vec![5, 7], vec![1, 1], vec![2, 3], vec![2, 3], vec![13, 300]),
        // Long pixels-in-lanes rows (the AVX-512 register-shift loop needs ≥ 48 floats).
        (1, vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1], vec![5, 300]),
        (5, vec![2, 2], vec![1, 1], vec![0, 0], vec![1, 1], vec![4, 130]),
        (3, vec![1, 3], vec![1, 2], vec![0, 1], vec![0, 1], vec![3, 200]),
        (15, vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1], vec![3, 70]),
        (7, vec![1, 2], vec![1, 1], vec![0, 0], vec![0, 0], vec![2, 99]),
    ];
    for (c, k, s, pb, pe, dims) in shapes {
        for base in both_kinds(c, &k) {
            for m in METHODS {
                v.push((base.clone().stride(&s).padding(&pb, &pe).method(m), dims.clone()));
            }
        }
    }
    v
}

#[test]
fn edge_shapes_every_tier() {
    let single = Threads::single();
    for isa in tiers() {
        for (i, (spec, dims)) in edge_cases().iter().enumerate() {
            check(isa, spec, dims, &single, i as u64);
        }
    }
}

#[test]
fn lane_edges_every_tier() {
    let single = Threads::single();
    for isa in tiers() {
        let l = isa.lanes();
        for c in [1, 3, l.saturating_sub(1).max(1), l, l + 1, 2 * l + 3] {
            for w in [1, l.saturating_sub(1).max(1), l + 1] {
                for (k, s) in [(3, 1), (2, 2), (5, 2), (4, 1)] {
                    for spec in both_kinds(c, &[k, k]) {
                        for m in METHODS {
                            let spec = spec.clone().stride(&[s, s]).same_padding().method(m);
                            check(isa, &spec, &[3 + k, w + k], &single, (c * 100 + w) as u64);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn random_shapes_every_tier() {
    let mut r = rng(4242);
    let single = Threads::single();
    for isa in tiers() {
        for case in 0..150 {
            let rank = r.random_range(1..=3);
            let c = [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33, 64][r.random_range(0..12)];
            let kernel: Vec<usize> = (0..rank).map(|_| r.random_range(1..=7)).collect();
            let stride: Vec<usize> = (0..rank).map(|_| r.random_range(1..=4)).collect();
            let pb: Vec<usize> = kernel.iter().map(|k| r.random_range(0..=*k)).collect();
            let pe: Vec<usize> = kernel.iter().map(|k| r.random_range(0..=*k)).collect();
            let dims: Vec<usize> = (0..rank)
                .map(|a| {
                    (r.random_range(1..=[5, 12, 40][a + 3 - rank]) + kernel[a]).saturating_sub(pb[a] + pe[a]).max(1)
                })
                .collect();
            let spec = match r.random_range(0..3) {
                0 => PoolSpec::max(c, &kernel),
                1 => PoolSpec::avg(c, &kernel),
                _ => PoolSpec::avg(c, &kernel).count_include_pad(true),
            };
            let spec = spec.stride(&stride).padding(&pb, &pe).method(METHODS[r.random_range(0..3)]);
            check(isa, &spec, &dims, &single, 5000 + case);
        }
    }
}

#[test]
fn threaded_bands_equal_definition() {
    let t2 = Threads::new(2).unwrap_or_else(|e| panic!("{e}"));
    for isa in tiers() {
        for m in METHODS {
            check(isa, &PoolSpec::max(64, &[3, 3]).same_padding().method(m), &[40, 150], &t2, 1);
            check(isa, &PoolSpec::avg(1, &[5, 5]).same_padding().method(m), &[90, 300], &t2, 2);
            check(isa, &PoolSpec::max(16, &[2, 2, 1]).stride(&[2, 2, 1]).method(m), &[16, 32, 20], &t2, 3);
        }
    }
}

/// Rows too wide for whole-row prefix/suffix state ((kh + 1)·W·C > 2¹⁹ floats): the H stream
/// then runs strip by strip down the rows.
#[test]
fn prefix_suffix_in_strips_every_tier() {
    let single = Threads::single();
    for isa in tiers() {
        for spec in both_kinds(16, &[2, 3]) {
            let spec = spec.stride(&[1, 2]).padding(&[1, 1], &[0, 1]).method(WindowMethod::PrefixSuffix);
            check(isa, &spec, &[4, 11000], &single, 77);
        }
        let spec = PoolSpec::max(3, &[7, 2]).padding(&[3, 0], &[3, 0]).method(WindowMethod::PrefixSuffix);
        check(isa, &spec, &[9, 30000], &single, 78);
    }
}

#[test]
fn bad_shapes_are_typed_errors() {
    let invalid = |r: Result<Pool, EngineError>| matches!(r, Err(EngineError::InvalidSpec { op: "pool", .. }));
    assert!(invalid(Pool::new(&PoolSpec::max(0, &[3, 3]), &[5, 5])));
    assert!(invalid(Pool::new(&PoolSpec::max(4, &[0, 3]), &[5, 5])));
    assert!(invalid(Pool::new(&PoolSpec::max(4, &[3, 3]).stride(&[0, 1]), &[5, 5])));
    assert!(invalid(Pool::new(&PoolSpec::max(4, &[3, 3]), &[5])));
    assert!(invalid(Pool::new(&PoolSpec::max(4, &[3, 3]), &[2, 5])));
    assert!(invalid(Pool::new(&PoolSpec::max(4, &[3, 3]), &[0, 5])));
    assert!(invalid(Pool::new(&PoolSpec::max(4, &[3, 3]).padding(&[1], &[1]), &[5, 5])));
    assert!(invalid(Pool::new(&PoolSpec::max(4, &[1, 1, 1, 1]), &[2, 2, 2, 2])));
    let plan = Pool::new(&PoolSpec::avg(4, &[3, 3]).same_padding(), &[5, 5]).unwrap_or_else(|e| panic!("{e}"));
    let t = Threads::single();
    let mut scratch = vec![0.0; plan.scratch_len(&t)];
    let mut out = vec![0.0; plan.output_len()];
    assert!(matches!(
        plan.run(&vec![0.0; plan.input_len() - 1], &mut out, &mut scratch, &t),
        Err(EngineError::BufferLength { buffer: "input", .. })
    ));
    assert!(matches!(
        plan.run(&[], &mut out, &mut scratch, &t),
        Err(EngineError::BufferLength { buffer: "input", .. })
    ));
    let mut short = vec![0.0; plan.output_len() - 1];
    assert!(matches!(
        plan.run(&vec![0.0; plan.input_len()], &mut short, &mut scratch, &t),
        Err(EngineError::BufferLength { buffer: "output", .. })
    ));
    if plan.scratch_len(&t) > 0 {
        assert!(matches!(
            plan.run(&vec![0.0; plan.input_len()], &mut out, &mut scratch[1..], &t),
            Err(EngineError::BufferLength { buffer: "scratch", .. })
        ));
    }
    for isa in [Isa::Avx2, Isa::Avx512, Isa::Neon] {
        if !isa.is_supported() {
            assert!(matches!(
                Pool::with_isa(isa, &PoolSpec::max(4, &[2]), &[4]),
                Err(EngineError::MissingCpuFeature { .. })
            ));
        }
    }
}
