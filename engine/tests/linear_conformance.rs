//! Conformance of the linear and grouped linear plans: every tier against a naive f64 loop,
//! batch-size invariance, and typed errors.

mod common;

use common::{act64, acts, assert_close, rand_vec, rng, tiers};
use sluice_engine::{Activation, EngineError, GroupedLinear, GroupedLinearSpec, Isa, Linear, LinearSpec, WeightLayout};

/// y[m][g·n + o] = act(Σ_i x[m][g·k + i]·W[g][i][o] + b[g·n + o]), f64. `w` is `[G][k][n]`.
fn grouped_ref(g: usize, k: usize, n: usize, x: &[f32], w: &[f32], b: Option<&[f32]>, act: Activation) -> Vec<f64> {
    let m = x.len() / (g * k);
    let mut y = vec![0.0f64; m * g * n];
    for r in 0..m {
        for gi in 0..g {
            for o in 0..n {
                let mut acc = b.map_or(0.0, |b| b[gi * n + o] as f64);
                for i in 0..k {
                    acc += x[r * g * k + gi * k + i] as f64 * w[(gi * k + i) * n + o] as f64;
                }
                y[r * g * n + gi * n + o] = act64(act, acc);
            }
        }
    }
    y
}

/// `[k][n]` → `[n][k]`.
fn transpose(w: &[f32], k: usize, n: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for i in 0..k {
        for o in 0..n {
            t[o * k + i] = w[i * n + o];
        }
    }
    t
}

fn tol(k: usize) -> (f64, f64) {
    (2e-6 * (k as f64).sqrt() + 1e-6, 1e-5)
}

#[test]
fn linear_matches_f64_reference_on_every_tier() {
    let mut r = rng(11);
    let shapes = [
        (1, 1),
        (1, 17),
        (7, 1),
        (3, 5),
        (7, 9),
        (15, 17),
        (16, 16),
        (17, 63),
        (33, 65),
        (64, 64),
        (100, 130),
        (31, 129),
        (256, 200),
        (5, 257),
    ];
    for isa in tiers() {
        for (si, &(k, n)) in shapes.iter().enumerate() {
            for (mi, m) in [1usize, 2, 7, 33].into_iter().enumerate() {
                let act = acts()[(si + mi) % 7];
                let layout = if (si + mi) % 2 == 0 { WeightLayout::InOut } else { WeightLayout::OutIn };
                let w = rand_vec(&mut r, k * n);
                let b = rand_vec(&mut r, n);
                let bias = if mi % 3 == 2 { None } else { Some(&b[..]) };
                let x = rand_vec(&mut r, m * k);
                let given = if layout == WeightLayout::OutIn { transpose(&w, k, n) } else { w.clone() };
                let spec = LinearSpec::new(k, n).layout(layout).activation(act);
                let plan = Linear::with_isa(isa, &spec, &given, bias).unwrap_or_else(|e| panic!("{isa}: {e}"));
                let mut y = vec![f32::NAN; m * n];
                plan.run(&x, &mut y).unwrap_or_else(|e| panic!("{isa}: {e}"));
                let want = grouped_ref(1, k, n, &x, &w, bias, act);
                let (atol, rtol) = tol(k);
                assert_close(&format!("{isa} linear {k}->{n} M={m} {layout:?} {act:?}"), &y, &want, atol, rtol);
            }
        }
    }
}

#[test]
fn both_layouts_give_identical_plans() {
    let mut r = rng(12);
    let (k, n, m) = (37, 70, 5);
    let w = rand_vec(&mut r, k * n);
    let x = rand_vec(&mut r, m * k);
    for isa in tiers() {
        let a = Linear::with_isa(isa, &LinearSpec::new(k, n), &w, None).unwrap_or_else(|e| panic!("{e}"));
        let spec = LinearSpec::new(k, n).layout(WeightLayout::OutIn);
        let b = Linear::with_isa(isa, &spec, &transpose(&w, k, n), None).unwrap_or_else(|e| panic!("{e}"));
        let (mut ya, mut yb) = (vec![0.0; m * n], vec![0.0; m * n]);
        a.run(&x, &mut ya).unwrap_or_else(|e| panic!("{e}"));
        b.run(&x, &mut yb).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ya, yb, "{isa}: layouts disagree");
    }
}

#[test]
fn grouped_linear_matches_f64_reference_on_every_tier() {
    let mut r = rng(13);
    // (groups, in per group, out per group): DFN3's shapes, lane edges, odd sizes.
    let shapes = [
        (1, 32, 16),
        (8, 3, 5),
        (8, 7, 9),
        (16, 32, 16),
        (16, 16, 32),
        (32, 96, 16),
        (16, 1, 1),
        (8, 15, 17),
        (32, 5, 33),
        (16, 9, 70),
        (3, 11, 7),
        (3, 5, 20),
        (4, 6, 40),
        (5, 2, 3),
    ];
    for isa in tiers() {
        for (si, &(g, k, n)) in shapes.iter().enumerate() {
            for (mi, m) in [1usize, 2, 7, 33].into_iter().enumerate() {
                let act = acts()[(si + mi) % 7];
                let w = rand_vec(&mut r, g * k * n);
                let b = rand_vec(&mut r, g * n);
                let bias = if (si + mi) % 2 == 0 { None } else { Some(&b[..]) };
                let x = rand_vec(&mut r, m * g * k);
                let spec = GroupedLinearSpec::new(g, k, n).activation(act);
                let plan = GroupedLinear::with_isa(isa, &spec, &w, bias).unwrap_or_else(|e| panic!("{isa}: {e}"));
                assert_eq!((plan.in_features(), plan.out_features()), (g * k, g * n));
                let mut y = vec![f32::NAN; m * g * n];
                plan.run(&x, &mut y).unwrap_or_else(|e| panic!("{isa}: {e}"));
                let want = grouped_ref(g, k, n, &x, &w, bias, act);
                let (atol, rtol) = tol(k);
                assert_close(&format!("{isa} grouped {g}x({k}->{n}) M={m} {act:?}"), &y, &want, atol, rtol);
            }
        }
    }
}

/// Row `i` of a batched run is bit-identical to running row `i` alone (streams do not affect
/// each other, whatever tile shapes the batch size selects).
#[test]
fn batched_rows_equal_rows_alone_bit_for_bit() {
    let mut r = rng(14);
    for isa in tiers() {
        for &(g, k, n) in &[(1usize, 256usize, 768usize), (1, 19, 77), (16, 32, 16), (32, 96, 16), (8, 7, 9)] {
            for m in [2usize, 7, 13, 33] {
                let w = rand_vec(&mut r, g * k * n);
                let b = rand_vec(&mut r, g * n);
                let x = rand_vec(&mut r, m * g * k);
                let spec = GroupedLinearSpec::new(g, k, n).activation(Activation::Tanh);
                let plan = GroupedLinear::with_isa(isa, &spec, &w, Some(&b)).unwrap_or_else(|e| panic!("{e}"));
                let mut all = vec![0.0; m * g * n];
                plan.run(&x, &mut all).unwrap_or_else(|e| panic!("{e}"));
                for (row, want) in x.chunks(g * k).zip(all.chunks(g * n)) {
                    let mut one = vec![0.0; g * n];
                    plan.run(row, &mut one).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(one, want, "{isa} {g}x({k}->{n}) M={m}: batched row differs from the row alone");
                }
            }
        }
    }
}

#[test]
fn bad_shapes_and_buffers_are_typed_errors() {
    let isa = Isa::active();
    let w = vec![0.5f32; 12];
    let spec = LinearSpec::new(3, 4);
    assert!(matches!(
        Linear::with_isa(isa, &spec, &w[..11], None),
        Err(EngineError::WeightShape { tensor: "weights", expected: 12, got: 11, .. })
    ));
    assert!(matches!(
        Linear::with_isa(isa, &spec, &w, Some(&[0.0; 3])),
        Err(EngineError::WeightShape { tensor: "bias", expected: 4, got: 3, .. })
    ));
    assert!(matches!(Linear::with_isa(isa, &LinearSpec::new(0, 4), &[], None), Err(EngineError::InvalidSpec { .. })));
    let plan = Linear::with_isa(isa, &spec, &w, None).unwrap_or_else(|e| panic!("{e}"));
    let mut y = vec![0.0; 8];
    assert!(matches!(plan.run(&[1.0; 5], &mut y), Err(EngineError::BufferLength { got: 5, .. })));
    assert!(matches!(plan.run(&[], &mut y), Err(EngineError::BufferLength { got: 0, .. })));
    assert!(matches!(plan.run(&[1.0; 6], &mut y[..7]), Err(EngineError::BufferLength { expected: 8, got: 7, .. })));
    assert!(plan.run(&[1.0; 6], &mut y).is_ok());
    assert_eq!(y, vec![1.5; 8]);

    let gspec = GroupedLinearSpec::new(2, 3, 2);
    assert!(matches!(
        GroupedLinear::with_isa(isa, &gspec, &w[..11], None),
        Err(EngineError::WeightShape { expected: 12, got: 11, .. })
    ));
    assert!(matches!(
        GroupedLinear::with_isa(isa, &GroupedLinearSpec::new(0, 3, 2), &[], None),
        Err(EngineError::InvalidSpec { .. })
    ));
    let g = GroupedLinear::with_isa(isa, &gspec, &w, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(g.run(&[1.0; 7], &mut [0.0; 4]), Err(EngineError::BufferLength { got: 7, .. })));
    assert!(matches!(g.run(&[1.0; 6], &mut [0.0; 5]), Err(EngineError::BufferLength { expected: 4, got: 5, .. })));
}

#[test]
fn tiers_this_cpu_lacks_are_refused() {
    for isa in [Isa::Neon, Isa::Avx2, Isa::Avx512] {
        let res = Linear::with_isa(isa, &LinearSpec::new(2, 2), &[0.0; 4], None);
        assert_eq!(res.is_ok(), isa.is_supported(), "{isa}");
        if !isa.is_supported() {
            assert!(matches!(res, Err(EngineError::MissingCpuFeature { .. })));
        }
    }
}
