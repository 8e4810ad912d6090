//! Conformance of the pixels-in-lanes kernel (family B) on every vector tier: shapes that
//! select it (one input channel, or few output channels), checked against the naive f64
//! definition, with the chosen kernel asserted.

mod common;

use common::*;
use rand::Rng;
use sluice_engine::{Activation, Conv, ConvSpec, Isa, Threads};

/// Runs `spec` on two random images with `isa`, asserts the pixels kernel ran and matches.
fn check(isa: Isa, spec: &ConvSpec, in_dims: &[usize], threads: &Threads, seed: u64) {
    let mut r = rng(seed);
    let in_len: usize = in_dims.iter().product::<usize>() * spec.in_channels;
    let x = rand_vec(&mut r, in_len * 2);
    let w = rand_vec(&mut r, spec.weight_len());
    let b = rand_vec(&mut r, spec.out_channels);
    let plan = Conv::with_isa(isa, spec, in_dims, &w, Some(&b)).unwrap_or_else(|e| panic!("plan {spec:?}: {e}"));
    assert_eq!(plan.kernel_name(), "pixels", "{isa} {spec:?} {in_dims:?} did not select the pixels kernel");
    let mut out = vec![f32::NAN; plan.output_len() * 2];
    let mut scratch = vec![f32::NAN; plan.scratch_len(threads)];
    plan.run(&x, &mut out, &mut scratch, threads).unwrap_or_else(|e| panic!("run {spec:?}: {e}"));
    let taps: usize = spec.kernel.iter().product::<usize>() * spec.in_channels;
    let atol = 2e-6 * (taps as f64).sqrt().max(1.0) + 2e-6;
    for img in 0..2 {
        let (want, dims) = conv_ref(spec, in_dims, &x[img * in_len..(img + 1) * in_len], &w, Some(&b));
        assert_eq!(plan.output_dims(), dims, "{spec:?}");
        let got = &out[img * plan.output_len()..(img + 1) * plan.output_len()];
        assert_close(&format!("{isa} {spec:?} {in_dims:?} img {img}"), got, &want, atol, 1e-5);
    }
}

/// The vector tiers (the pixels kernel is not selected on the scalar tier).
fn vector_tiers() -> Vec<Isa> {
    tiers().into_iter().filter(|i| *i != Isa::Scalar).collect()
}

/// Widths around the lane grid and around the largest block (12 vectors of 16 lanes).
fn widths(lanes: usize) -> Vec<usize> {
    vec![1, lanes - 1, lanes, lanes + 1, 3 * lanes + 5, 197]
}

#[test]
fn first_layers_cin1_every_width_and_kernel() {
    let single = Threads::single();
    let acts = acts();
    for isa in vector_tiers() {
        let mut seed = 0;
        for k in [1, 3, 5, 7] {
            for (ci, cout) in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 64].into_iter().enumerate() {
                let wd = widths(isa.lanes());
                let w = wd[(ci + k) % wd.len()];
                let act = acts[(ci + k) % acts.len()];
                let spec = ConvSpec::new(1, cout, &[k, k]).same_padding().activation(act);
                seed += 1;
                check(isa, &spec, &[k + 2, w], &single, seed);
            }
            for w in widths(isa.lanes()) {
                seed += 1;
                let spec = ConvSpec::new(1, 8, &[k, k]).same_padding().activation(Activation::Tanh);
                check(isa, &spec, &[3, w], &single, seed);
                let spec = ConvSpec::new(1, 64, &[k, k]).same_padding();
                check(isa, &spec, &[2, w], &single, seed + 1000);
            }
        }
    }
}

#[test]
fn small_cout_last_layers_with_pixel_shuffle() {
    let single = Threads::single();
    for isa in vector_tiers() {
        let l = isa.lanes();
        let mut seed = 100;
        for w in widths(l) {
            for (cin, cout, r) in [(32, 9, 3), (8, 4, 2), (5, 9, 3), (3, 4, 2), (16, 9, 3), (4, 8, 2)] {
                seed += 1;
                let spec = ConvSpec::new(cin, cout, &[3, 3]).same_padding().pixel_shuffle(r);
                check(isa, &spec, &[3, w], &single, seed);
            }
        }
        for (cin, cout) in [(32, 1), (16, 3), (8, 7), (24, 12), (3, 10), (2, 11)] {
            seed += 1;
            let spec = ConvSpec::new(cin, cout, &[3, 3]).same_padding().activation(Activation::Sigmoid);
            check(isa, &spec, &[4, 3 * l + 5], &single, seed);
        }
    }
}

#[test]
fn strides_dilation_padding_and_3d() {
    let single = Threads::single();
    for isa in vector_tiers() {
        let l = isa.lanes();
        let cases = vec![
            // stride in H, padding larger than half the kernel
            (ConvSpec::new(1, 6, &[3, 3]).stride(&[2, 1]).padding(&[3, 4], &[2, 5]), vec![7, l + 1]),
            (ConvSpec::new(4, 5, &[5, 5]).stride(&[3, 1]).padding(&[4, 4], &[4, 4]), vec![6, 2 * l - 1]),
            // W dilation (runtime-width path) and H dilation
            (ConvSpec::new(1, 8, &[3, 3]).dilation(&[2, 3]).padding(&[2, 3], &[2, 3]), vec![8, 3 * l + 5]),
            (ConvSpec::new(3, 9, &[3, 5]).dilation(&[1, 2]).same_padding().activation(Activation::Tanh), vec![4, 40]),
            // widths other than 1/3/5 (runtime width), no padding, 1-D
            (ConvSpec::new(1, 12, &[2, 4]), vec![5, 2 * l + 3]),
            (ConvSpec::new(1, 3, &[7]).padding(&[6], &[0]), vec![3 * l + 5]),
            (ConvSpec::new(2, 5, &[5]).padding(&[9], &[9]), vec![l - 1]),
            // 3-D with stride and padding in D
            (ConvSpec::new(1, 16, &[3, 3, 3]).same_padding(), vec![4, 5, l + 1]),
            (ConvSpec::new(16, 4, &[3, 3, 3]).stride(&[2, 2, 1]).padding(&[2, 1, 1], &[2, 1, 1]), vec![5, 6, 2 * l]),
            (ConvSpec::new(8, 9, &[2, 3, 3]).same_padding().pixel_shuffle(3), vec![3, 4, 3 * l + 5]),
            // all taps of some rows fall in the padding
            (ConvSpec::new(1, 2, &[3, 3]).padding(&[5, 1], &[5, 1]), vec![2, 9]),
        ];
        for (i, (spec, dims)) in cases.iter().enumerate() {
            check(isa, spec, dims, &single, 300 + i as u64);
        }
    }
}

#[test]
fn random_selected_shapes() {
    let single = Threads::single();
    let mut r = rng(4242);
    for isa in vector_tiers() {
        for case in 0..40 {
            let rank = r.random_range(1..=3);
            let (cin, cout) = if r.random_bool(0.5) {
                (1, r.random_range(1..=40))
            } else {
                (r.random_range(1..=20), r.random_range(1..=12))
            };
            let kernel: Vec<usize> = (0..rank).map(|_| r.random_range(1..=5)).collect();
            let mut stride: Vec<usize> = (0..rank).map(|_| r.random_range(1..=2)).collect();
            stride[rank - 1] = 1;
            let dilation: Vec<usize> = (0..rank).map(|_| r.random_range(1..=2)).collect();
            let pb: Vec<usize> = kernel.iter().map(|k| r.random_range(0..=*k + 1)).collect();
            let pe: Vec<usize> = kernel.iter().map(|k| r.random_range(0..=*k + 1)).collect();
            let dims: Vec<usize> =
                (0..rank).map(|a| r.random_range(1..=[4, 9, 70][a + 3 - rank]) + kernel[a] * dilation[a]).collect();
            let act = acts()[case % 7];
            let spec =
                ConvSpec::new(cin, cout, &kernel).stride(&stride).dilation(&dilation).padding(&pb, &pe).activation(act);
            check(isa, &spec, &dims, &single, 5000 + case as u64);
        }
    }
}

#[test]
fn threaded_bands_match() {
    let t2 = Threads::new(2).unwrap_or_else(|e| panic!("{e}"));
    for isa in vector_tiers() {
        check(isa, &ConvSpec::new(1, 64, &[5, 5]).same_padding().activation(Activation::Tanh), &[40, 100], &t2, 1);
        check(isa, &ConvSpec::new(32, 9, &[3, 3]).same_padding().pixel_shuffle(3), &[30, 70], &t2, 2);
    }
}

#[test]
fn wide_or_grouped_layers_do_not_select_pixels() {
    let w = vec![0.0; 64 * 32 * 9];
    for isa in vector_tiers() {
        let plan =
            Conv::with_isa(isa, &ConvSpec::new(32, 64, &[3, 3]), &[8, 8], &w, None).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(plan.kernel_name(), "pixels");
        let plan = Conv::with_isa(isa, &ConvSpec::new(8, 8, &[3, 3]).groups(2), &[8, 8], &w[..8 * 4 * 9], None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(plan.kernel_name(), "pixels");
        let plan = Conv::with_isa(isa, &ConvSpec::new(1, 8, &[3, 3]).stride(&[1, 2]), &[8, 8], &w[..72], None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(plan.kernel_name(), "pixels");
    }
}

/// An output of 32 MiB (the streaming threshold): full blocks go out through the L1 staging run
/// and non-temporal stores, on two threads (bands end on a store fence), with a ragged right
/// edge (1000 = 62·16 + 8 pixels) and an output slice that does not start on a cache line.
#[test]
fn large_outputs_stream_correctly() {
    let threads = Threads::new(2).unwrap_or_else(|e| panic!("{e}"));
    let spec = ConvSpec::new(1, 64, &[5, 5]).same_padding().activation(Activation::Tanh);
    let in_dims = [132, 1000];
    for isa in vector_tiers() {
        let mut r = rng(77);
        let x = rand_vec(&mut r, in_dims.iter().product());
        let w = rand_vec(&mut r, spec.weight_len());
        let b = rand_vec(&mut r, spec.out_channels);
        let plan = Conv::with_isa(isa, &spec, &in_dims, &w, Some(&b)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.kernel_name(), "pixels");
        assert!(plan.output_len() * 4 >= 32 << 20);
        let mut buf = vec![f32::NAN; plan.output_len() + 3];
        let out = &mut buf[3..];
        let mut scratch = vec![f32::NAN; plan.scratch_len(&threads)];
        plan.run(&x, out, &mut scratch, &threads).unwrap_or_else(|e| panic!("{e}"));
        let (want, _) = conv_ref(&spec, &in_dims, &x, &w, Some(&b));
        assert_close(&format!("{isa} streamed l1"), out, &want, 2e-6 * 5.0 + 2e-6, 1e-5);
        assert!(buf[..3].iter().all(|v| v.is_nan()), "{isa}: wrote before the output");
    }
}
