//! Conformance of every conv kernel and ISA tier against the naive f64 definition.

mod common;

use common::*;
use rand::Rng;
use sluice_engine::{Activation, Conv, ConvSpec, Isa, Threads};

/// Runs `spec` on two random images and compares with the f64 definition; returns the kernel name.
fn check(isa: Isa, spec: &ConvSpec, in_dims: &[usize], threads: &Threads, seed: u64) -> &'static str {
    let mut r = rng(seed);
    let in_len: usize = in_dims.iter().product::<usize>() * spec.in_channels;
    let x = rand_vec(&mut r, in_len * 2);
    let w = rand_vec(&mut r, spec.weight_len());
    let b = rand_vec(&mut r, spec.out_channels);
    let plan = Conv::with_isa(isa, spec, in_dims, &w, Some(&b)).unwrap_or_else(|e| panic!("plan {spec:?}: {e}"));
    let mut out = vec![f32::NAN; plan.output_len() * 2];
    let mut scratch = vec![0.0; plan.scratch_len(threads)];
    plan.run(&x, &mut out, &mut scratch, threads).unwrap_or_else(|e| panic!("run {spec:?}: {e}"));
    let taps: usize = spec.kernel.iter().product::<usize>() * spec.in_channels / spec.groups;
    let atol = 2e-6 * (taps as f64).sqrt().max(1.0) + 2e-6;
    for img in 0..2 {
        let (want, dims) = conv_ref(spec, in_dims, &x[img * in_len..(img + 1) * in_len], &w, Some(&b));
        assert_eq!(plan.output_dims(), dims, "{spec:?}");
        let got = &out[img * plan.output_len()..(img + 1) * plan.output_len()];
        assert_close(&format!("{isa} {} {spec:?} {in_dims:?} img {img}", plan.kernel_name()), got, &want, atol, 1e-5);
    }
    plan.kernel_name()
}

/// Fixed edge cases: width 1, lanes±1, channels off the lane grid, strides, dilation, big padding, groups.
fn edge_specs() -> Vec<(ConvSpec, Vec<usize>)> {
    let acts = acts();
    let mut v = vec![
        (ConvSpec::new(1, 64, &[5, 5]).same_padding().activation(Activation::Tanh), vec![9, 37]),
        (ConvSpec::new(64, 32, &[3, 3]).same_padding().activation(Activation::Tanh), vec![5, 19]),
        (ConvSpec::new(32, 9, &[3, 3]).same_padding().pixel_shuffle(3), vec![4, 17]),
        (ConvSpec::new(16, 16, &[3, 3, 3]).same_padding(), vec![3, 6, 9]),
        (ConvSpec::new(3, 5, &[1]), vec![1]),
        (ConvSpec::new(7, 9, &[3]).padding(&[4], &[5]), vec![2]),
        (ConvSpec::new(8, 8, &[3, 3]).stride(&[2, 2]).padding(&[1, 1], &[1, 1]), vec![7, 15]),
        (ConvSpec::new(5, 17, &[3, 5]).dilation(&[2, 3]).padding(&[2, 6], &[2, 6]), vec![6, 16]),
        (ConvSpec::new(64, 64, &[1, 3]).stride(&[1, 2]).groups(64), vec![1, 32]),
        (ConvSpec::new(64, 64, &[1, 3]).padding(&[0, 1], &[0, 1]).groups(64).activation(Activation::Relu), vec![3, 8]),
        (ConvSpec::new(64, 64, &[3, 3]).same_padding().groups(64).activation(prelu(-0.5)), vec![4, 21]),
        (ConvSpec::new(32, 32, &[3, 3, 3]).padding(&[2, 1, 1], &[0, 1, 1]).activation(prelu(1.3)), vec![3, 6, 9]),
        (ConvSpec::new(1, 4, &[3, 3, 3]).padding(&[2, 1, 1], &[0, 1, 1]).activation(prelu(-0.5)), vec![3, 8, 37]),
        (ConvSpec::new(12, 8, &[3, 3, 3]).padding(&[2, 1, 1], &[0, 1, 1]).activation(prelu(1.3)), vec![3, 4, 19]),
        (ConvSpec::new(2, 64, &[3, 3]).padding(&[2, 1], &[0, 1]).groups(2), vec![4, 96]),
        (ConvSpec::new(64, 10, &[5, 1]).causal_time().groups(2), vec![6, 12]),
        (ConvSpec::new(12, 24, &[3, 3]).groups(3).same_padding(), vec![5, 9]),
        (ConvSpec::new(4, 16, &[2, 2, 2]).stride(&[1, 2, 2]).padding(&[0, 0, 0], &[1, 1, 1]), vec![3, 5, 7]),
        (ConvSpec::new(1, 1, &[7]).padding(&[6], &[0]), vec![33]),
    ];
    for (i, a) in acts.iter().enumerate() {
        v.push((ConvSpec::new(9 + i, 7 + 8 * i, &[3, 3]).same_padding().activation(*a), vec![3 + i, 15 + i]));
    }
    v
}

/// Channels-in-lanes and depthwise edges: Cout 16/32/64 (one, two and four vectors, remainder
/// blocks) at widths 1, lanes±1 and register-tile tails, 3-D, strided/dilated depthwise, channel
/// counts off the lane grid, channel multipliers and the pixel-shuffle channel table.
fn lanes_specs() -> Vec<(ConvSpec, Vec<usize>)> {
    let mut v = Vec::new();
    for cout in [16, 32, 48, 64, 80] {
        for w in [1, 7, 9, 15, 17, 13, 21, 26, 34, 40] {
            let spec = ConvSpec::new(5 + cout % 7, cout, &[3, 3]).same_padding().activation(Activation::Tanh);
            v.push((spec, vec![3, w]));
        }
    }
    v.extend([
        (ConvSpec::new(16, 16, &[3, 3, 3]).same_padding(), vec![4, 5, 19]),
        (ConvSpec::new(8, 24, &[3, 1, 5]).padding(&[1, 0, 2], &[1, 0, 2]).dilation(&[2, 1, 1]), vec![5, 3, 23]),
        (ConvSpec::new(16, 32, &[1, 1]), vec![3, 21]),
        (ConvSpec::new(16, 32, &[1, 5]).stride(&[1, 3]).padding(&[0, 4], &[0, 4]), vec![2, 40]),
        (ConvSpec::new(6, 40, &[2, 7]).dilation(&[1, 2]).padding(&[1, 7], &[0, 7]), vec![3, 30]),
        (ConvSpec::new(40, 40, &[2, 2]).groups(2).stride(&[2, 2]), vec![6, 37]),
        (ConvSpec::new(16, 48, &[3, 3]).groups(16).same_padding(), vec![4, 19]),
        (ConvSpec::new(64, 64, &[1, 3]).stride(&[1, 2]).padding(&[0, 1], &[0, 1]).groups(64), vec![2, 33]),
        (ConvSpec::new(64, 64, &[1, 1]).groups(64).activation(Activation::Sigmoid), vec![3, 17]),
        (ConvSpec::new(20, 20, &[3, 3]).groups(20).dilation(&[2, 2]).same_padding(), vec![5, 18]),
        (ConvSpec::new(36, 36, &[3, 5]).groups(36).padding(&[2, 4], &[2, 4]), vec![3, 11]),
        (ConvSpec::new(18, 18, &[3, 3]).groups(18).same_padding().pixel_shuffle(3), vec![4, 10]),
        (ConvSpec::new(8, 36, &[3, 3]).same_padding().pixel_shuffle(3).activation(Activation::Relu), vec![3, 21]),
        (ConvSpec::new(24, 16, &[3, 3, 3]).stride(&[2, 2, 2]).padding(&[1, 1, 1], &[1, 1, 1]), vec![5, 6, 17]),
        (ConvSpec::new(16, 16, &[3, 3, 3]).same_padding().activation(prelu(0.25)), vec![4, 5, 19]),
        (ConvSpec::new(16, 48, &[3, 3]).groups(16).same_padding().activation(prelu(-0.5)), vec![4, 19]),
        (ConvSpec::new(8, 36, &[3, 3]).same_padding().pixel_shuffle(3).activation(prelu(1.3)), vec![3, 21]),
    ]);
    v
}

#[test]
fn edge_shapes_every_tier() {
    let single = Threads::single();
    for isa in tiers() {
        for (i, (spec, dims)) in edge_specs().iter().chain(&lanes_specs()).enumerate() {
            let kernel = check(isa, spec, dims, &single, i as u64);
            if isa != Isa::Scalar {
                assert_ne!(kernel, "reference", "{isa}: {spec:?} fell back to the scalar kernel");
            }
        }
    }
}

/// On this CPU's vector tiers the wide layers run channels-in-lanes (ESPCN l2 Winograd on
/// AVX-512 and AVX2) and depthwise layers run the depthwise kernel.
#[test]
fn wide_layers_choose_lanes() {
    let w = |s: &ConvSpec| vec![0.1; s.weight_len()];
    let cases = [
        (ConvSpec::new(64, 32, &[3, 3]).same_padding().activation(Activation::Tanh), vec![360, 640], "winograd"),
        (ConvSpec::new(16, 16, &[3, 3, 3]).same_padding(), vec![16, 128, 128], "lanes"),
        (ConvSpec::new(64, 64, &[1, 3]).padding(&[0, 1], &[0, 1]).groups(64), vec![1, 96], "depthwise"),
        (ConvSpec::new(64, 64, &[1, 3]).stride(&[1, 2]).groups(64), vec![1, 96], "depthwise"),
    ];
    for isa in tiers() {
        for (spec, dims, want) in &cases {
            let plan = Conv::with_isa(isa, spec, dims, &w(spec), None).unwrap_or_else(|e| panic!("{e}"));
            let want = match (isa, *want) {
                (Isa::Scalar, _) => "reference",
                (Isa::Avx512 | Isa::Avx2, w) => w,
                (_, "winograd") => "lanes",
                (_, w) => w,
            };
            assert_eq!(plan.kernel_name(), want, "{isa} {spec:?}");
        }
    }
}

/// Winograd through the public API: odd and even sizes (F(2,3) and F(4,3) plans), paddings,
/// channel counts of one, two and three vectors, several images, and 2 threads whose bands
/// split tile rows. F(4,3) rounds about 4 bits worse than a direct sum, so the absolute bound
/// is 5× the direct kernels' (both scale with √taps, the size of a sum of ±1 products).
#[test]
fn winograd_layers_match_definition() {
    let acts = acts();
    let (one, two) = (Threads::single(), Threads::new(2).unwrap_or_else(|e| panic!("{e}")));
    let mut r = rng(2024);
    let vector_tiers = tiers().into_iter().filter(|i| matches!(i, Isa::Avx512 | Isa::Avx2));
    for (case, isa) in (0..12).flat_map(|c| vector_tiers.clone().map(move |i| (c, i))) {
        let cin = 16 * r.random_range(2..=5);
        let cout = 16 * r.random_range(1..=3);
        let pad = [r.random_range(0..=2), r.random_range(0..=2)];
        let dims = [r.random_range(5..=13), r.random_range(18..=70)];
        let spec = ConvSpec::new(cin, cout, &[3, 3]).padding(&pad, &pad).activation(acts[case % acts.len()]);
        let threads = if case % 2 == 0 { &two } else { &one };
        let in_len = dims[0] * dims[1] * cin;
        let (x, w, b) = (rand_vec(&mut r, 2 * in_len), rand_vec(&mut r, spec.weight_len()), rand_vec(&mut r, cout));
        let plan = Conv::with_isa(isa, &spec, &dims, &w, Some(&b)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.kernel_name(), "winograd", "{isa} {spec:?} {dims:?}");
        let mut out = vec![f32::NAN; 2 * plan.output_len()];
        let mut scratch = vec![0.0; plan.scratch_len(threads)];
        plan.run(&x, &mut out, &mut scratch, threads).unwrap_or_else(|e| panic!("{e}"));
        for img in 0..2 {
            let (want, _) = conv_ref(&spec, &dims, &x[img * in_len..][..in_len], &w, Some(&b));
            let got = &out[img * plan.output_len()..][..plan.output_len()];
            let atol = 1e-5 * ((cin * 9) as f64).sqrt();
            assert_close(&format!("{isa} {spec:?} {dims:?} img {img}"), got, &want, atol, 1e-5);
        }
    }
}

#[test]
fn random_shapes_every_tier() {
    let mut r = rng(99);
    let single = Threads::single();
    for isa in tiers() {
        for case in 0..60 {
            let rank = r.random_range(1..=3);
            let groups = [1, 1, 1, 2, 3, 4][r.random_range(0..6)];
            let cin = groups * r.random_range(1..=9);
            let cout = groups * r.random_range(1..=20);
            let kernel: Vec<usize> = (0..rank).map(|_| [1, 2, 3, 5, 4][r.random_range(0..5)]).collect();
            let stride: Vec<usize> = (0..rank).map(|_| r.random_range(1..=2)).collect();
            let dilation: Vec<usize> = (0..rank).map(|_| r.random_range(1..=2)).collect();
            let pb: Vec<usize> = kernel.iter().map(|k| r.random_range(0..=*k)).collect();
            let pe: Vec<usize> = kernel.iter().map(|k| r.random_range(0..=*k)).collect();
            let dims: Vec<usize> =
                (0..rank).map(|a| r.random_range(1..=[4, 9, 21][a + 3 - rank]) + kernel[a] * dilation[a]).collect();
            let act = acts()[r.random_range(0..7)];
            let spec = ConvSpec::new(cin, cout, &kernel)
                .stride(&stride)
                .dilation(&dilation)
                .padding(&pb, &pe)
                .groups(groups)
                .activation(act);
            check(isa, &spec, &dims, &single, 1000 + case);
        }
    }
}

#[test]
fn threaded_bands_equal_single() {
    let t2 = Threads::new(2).unwrap_or_else(|e| panic!("{e}"));
    for isa in tiers() {
        check(isa, &ConvSpec::new(16, 32, &[3, 3]).same_padding().activation(Activation::Tanh), &[64, 96], &t2, 7);
        check(isa, &ConvSpec::new(32, 9, &[3, 3]).same_padding().pixel_shuffle(3), &[40, 70], &t2, 8);
        check(isa, &ConvSpec::new(16, 16, &[3, 3, 3]).same_padding(), &[4, 32, 40], &t2, 9);
        check(isa, &ConvSpec::new(64, 64, &[1, 3]).same_padding().groups(64), &[40, 48], &t2, 10);
        check(isa, &ConvSpec::new(8, 72, &[3, 3]).padding(&[2, 0], &[0, 2]), &[30, 33], &t2, 11);
    }
}

#[test]
fn bad_shapes_are_typed_errors() {
    let w = vec![0.0; 8 * 4 * 9];
    // groups not dividing channels
    assert!(Conv::new(&ConvSpec::new(4, 8, &[3, 3]).groups(3), &[5, 5], &w, None).is_err());
    // wrong weight count
    assert!(matches!(
        Conv::new(&ConvSpec::new(4, 8, &[3, 3]), &[5, 5], &w[1..], None),
        Err(sluice_engine::EngineError::WeightShape { .. })
    ));
    // kernel larger than padded input
    assert!(Conv::new(&ConvSpec::new(4, 8, &[3, 3]), &[2, 5], &w, None).is_err());
    // rank mismatch
    assert!(Conv::new(&ConvSpec::new(4, 8, &[3, 3]), &[5], &w, None).is_err());
    let plan = Conv::new(&ConvSpec::new(4, 8, &[3, 3]), &[5, 5], &w, None).unwrap_or_else(|e| panic!("{e}"));
    let t = Threads::single();
    let mut out = vec![0.0; plan.output_len()];
    assert!(matches!(
        plan.run(&vec![0.0; plan.input_len() - 1], &mut out, &mut [], &t),
        Err(sluice_engine::EngineError::BufferLength { buffer: "input", .. })
    ));
    let mut short = vec![0.0; plan.output_len() - 1];
    assert!(plan.run(&vec![0.0; plan.input_len()], &mut short, &mut [], &t).is_err());
}
