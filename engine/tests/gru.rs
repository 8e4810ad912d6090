//! GRU conformance: every tier against an f64 transcription of the ONNX GRU definition (both
//! `linear_before_reset` values), streaming == whole sequence, batched == alone, typed errors.

mod common;

use common::{assert_close, rand_vec, rng, tiers};
use rand::rngs::StdRng;
use sluice_engine::{
    Activation, EngineError, GroupedLinear, GroupedLinearSpec, Gru, GruWeights, Isa, Linear, LinearBeforeReset,
    LinearSpec,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations made by the current thread (other test threads do not interfere).
struct CountingAlloc;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only bumps a thread-local counter.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// ONNX GRU, one direction, gates z, r, h; returns the state after every frame, `[T][H]`.
#[allow(clippy::too_many_arguments)] // mirrors the ONNX operator's inputs one to one
fn gru_ref(
    i_sz: usize,
    h_sz: usize,
    w: &[f32],
    r: &[f32],
    wb: Option<&[f32]>,
    rb: Option<&[f32]>,
    mode: LinearBeforeReset,
    xs: &[f32],
    h0: &[f32],
) -> Vec<f64> {
    let mut h: Vec<f64> = h0.iter().map(|&v| v as f64).collect();
    let mut out = Vec::new();
    let bias = |b: Option<&[f32]>, j: usize| b.map_or(0.0, |b| b[j] as f64);
    let wx = |x: &[f32], row: usize| (0..i_sz).map(|i| w[row * i_sz + i] as f64 * x[i] as f64).sum::<f64>();
    let rv = |v: &[f64], row: usize| (0..h_sz).map(|i| r[row * h_sz + i] as f64 * v[i]).sum::<f64>();
    for x in xs.chunks(i_sz) {
        let z: Vec<f64> = (0..h_sz).map(|j| sig(wx(x, j) + bias(wb, j) + rv(&h, j) + bias(rb, j))).collect();
        let rg: Vec<f64> = (0..h_sz)
            .map(|j| sig(wx(x, h_sz + j) + bias(wb, h_sz + j) + rv(&h, h_sz + j) + bias(rb, h_sz + j)))
            .collect();
        let rh: Vec<f64> = (0..h_sz).map(|j| rg[j] * h[j]).collect();
        let n: Vec<f64> = (0..h_sz)
            .map(|j| {
                let row = 2 * h_sz + j;
                let xpart = wx(x, row) + bias(wb, row);
                match mode {
                    LinearBeforeReset::On => (xpart + rg[j] * (rv(&h, row) + bias(rb, row))).tanh(),
                    LinearBeforeReset::Off => (xpart + rv(&rh, row) + bias(rb, row)).tanh(),
                }
            })
            .collect();
        h = (0..h_sz).map(|j| (1.0 - z[j]) * n[j] + z[j] * h[j]).collect();
        out.extend_from_slice(&h);
    }
    out
}

struct Case {
    i: usize,
    h: usize,
    w: Vec<f32>,
    r: Vec<f32>,
    b: Vec<f32>,
}

fn case(r: &mut StdRng, i: usize, h: usize) -> Case {
    // Scale like a trained layer (uniform ±1/sqrt(H)) so gates are not all saturated.
    let s = 1.0 / (h as f32).sqrt();
    let mut scaled = |n| rand_vec(r, n).into_iter().map(|v| v * s * 2.0).collect::<Vec<f32>>();
    Case { i, h, w: scaled(3 * h * i), r: scaled(3 * h * h), b: scaled(6 * h) }
}

const MODES: [LinearBeforeReset; 2] = [LinearBeforeReset::On, LinearBeforeReset::Off];
const SHAPES: [(usize, usize); 8] = [(1, 1), (3, 5), (16, 16), (7, 17), (33, 31), (20, 64), (64, 48), (256, 256)];

fn plan(isa: Isa, c: &Case, with_bias: bool, mode: LinearBeforeReset) -> Gru {
    let wts = GruWeights::from_onnx(&c.w, &c.r, with_bias.then_some(&c.b[..]));
    Gru::with_isa(isa, c.i, c.h, &wts, mode).unwrap_or_else(|e| panic!("{isa} {}x{}: {e}", c.i, c.h))
}

#[test]
fn sequence_matches_onnx_definition_on_every_tier() {
    let mut r = rng(21);
    for isa in tiers() {
        for (si, &(i, h)) in SHAPES.iter().enumerate() {
            for mode in MODES {
                let c = case(&mut r, i, h);
                let with_bias = si % 3 != 1;
                let g = plan(isa, &c, with_bias, mode);
                let t = 9;
                let xs = rand_vec(&mut r, t * i);
                let h0 = rand_vec(&mut r, h);
                let (wb, rb) = if with_bias { (Some(&c.b[..3 * h]), Some(&c.b[3 * h..])) } else { (None, None) };
                let want = gru_ref(i, h, &c.w, &c.r, wb, rb, mode, &xs, &h0);
                let mut hs = h0.clone();
                let mut ys = vec![f32::NAN; t * h];
                let mut scratch = vec![0.0; g.scratch_len(t)];
                g.run_sequence(&xs, &mut hs, &mut ys, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
                let atol = 4e-6 * ((i + h) as f64).sqrt() + 2e-6;
                assert_close(&format!("{isa} gru {i}->{h} {mode:?} bias={with_bias}"), &ys, &want, atol, 1e-5);
                assert_eq!(hs, ys[(t - 1) * h..], "final state is the last output");
            }
        }
    }
}

#[test]
fn streaming_steps_equal_the_whole_sequence_bit_for_bit() {
    let mut r = rng(22);
    for isa in tiers() {
        for &(i, h) in &[(3usize, 5usize), (33, 31), (256, 256)] {
            for mode in MODES {
                let c = case(&mut r, i, h);
                let g = plan(isa, &c, true, mode);
                let t = 13;
                let xs = rand_vec(&mut r, t * i);
                let h0 = rand_vec(&mut r, h);
                let (mut hw, mut ys) = (h0.clone(), vec![0.0; t * h]);
                let mut scratch = vec![0.0; g.scratch_len(t)];
                g.run_sequence(&xs, &mut hw, &mut ys, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
                let mut hs = h0.clone();
                let mut small = vec![0.0; g.scratch_len(1)];
                for (x, want) in xs.chunks(i).zip(ys.chunks(h)) {
                    g.step(x, &mut hs, &mut small).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(hs, want, "{isa} {i}->{h} {mode:?}: step differs from run_sequence");
                }
            }
        }
    }
}

#[test]
fn batched_streams_equal_each_stream_alone_bit_for_bit() {
    let mut r = rng(23);
    for isa in tiers() {
        for &(i, h) in &[(7usize, 17usize), (64, 48), (256, 256)] {
            for mode in MODES {
                let c = case(&mut r, i, h);
                let g = plan(isa, &c, true, mode);
                for b in [1usize, 2, 7, 33] {
                    let mut hb = rand_vec(&mut r, b * h);
                    let mut alone = hb.clone();
                    let mut scratch = vec![0.0; g.scratch_len(b)];
                    for _ in 0..3 {
                        let x = rand_vec(&mut r, b * i);
                        g.step(&x, &mut hb, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
                        for (xs, hs) in x.chunks(i).zip(alone.chunks_mut(h)) {
                            g.step(xs, hs, &mut scratch[..g.scratch_len(1)]).unwrap_or_else(|e| panic!("{e}"));
                        }
                    }
                    assert_eq!(hb, alone, "{isa} {i}->{h} {mode:?} B={b}: batched differs from alone");
                }
            }
        }
    }
}

#[test]
fn bad_shapes_and_buffers_are_typed_errors() {
    let isa = Isa::active();
    let mut r = rng(24);
    let c = case(&mut r, 4, 3);
    let short = GruWeights { w: &c.w[1..], r: &c.r, wb: None, rb: None };
    assert!(matches!(
        Gru::with_isa(isa, 4, 3, &short, LinearBeforeReset::On),
        Err(EngineError::WeightShape { tensor: "W", expected: 36, got: 35, .. })
    ));
    let bad_r = GruWeights { w: &c.w, r: &c.r[..26], wb: None, rb: None };
    assert!(matches!(
        Gru::with_isa(isa, 4, 3, &bad_r, LinearBeforeReset::Off),
        Err(EngineError::WeightShape { tensor: "R", expected: 27, got: 26, .. })
    ));
    let bad_b = GruWeights { w: &c.w, r: &c.r, wb: Some(&c.b[..9]), rb: Some(&c.b[..8]) };
    assert!(matches!(
        Gru::with_isa(isa, 4, 3, &bad_b, LinearBeforeReset::On),
        Err(EngineError::WeightShape { tensor: "Rb", expected: 9, got: 8, .. })
    ));
    assert!(matches!(
        Gru::with_isa(isa, 0, 3, &GruWeights { w: &[], r: &c.r, wb: None, rb: None }, LinearBeforeReset::On),
        Err(EngineError::InvalidSpec { .. })
    ));
    for mode in MODES {
        let g = plan(isa, &c, true, mode);
        let mut h = vec![0.0; 6];
        let mut s = vec![0.0; g.scratch_len(2)];
        assert!(matches!(g.step(&[0.0; 7], &mut h, &mut s), Err(EngineError::BufferLength { got: 7, .. })));
        assert!(matches!(g.step(&[0.0; 8], &mut h[..5], &mut s), Err(EngineError::BufferLength { got: 5, .. })));
        let need = g.scratch_len(2);
        assert!(matches!(
            g.step(&[0.0; 8], &mut h, &mut s[..need - 1]),
            Err(EngineError::BufferLength { buffer: "scratch", .. })
        ));
        assert!(g.step(&[0.0; 8], &mut h, &mut s).is_ok());
        let mut ys = vec![0.0; 9];
        let mut s3 = vec![0.0; g.scratch_len(3)];
        assert!(matches!(
            g.run_sequence(&[0.0; 12], &mut h[..3], &mut ys[..8], &mut s3),
            Err(EngineError::BufferLength { expected: 9, got: 8, .. })
        ));
        assert!(matches!(
            g.run_sequence(&[0.0; 12], &mut h, &mut ys, &mut s3),
            Err(EngineError::BufferLength { expected: 3, got: 6, .. })
        ));
        assert!(g.run_sequence(&[0.0; 12], &mut h[..3], &mut ys, &mut s3).is_ok());
    }
}

#[test]
fn running_plans_allocates_nothing() {
    let mut r = rng(25);
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 16]))) > 0, "the counter counts");
    for isa in tiers() {
        let c = case(&mut r, 32, 48);
        let lin = Linear::with_isa(isa, &LinearSpec::new(32, 70).activation(Activation::Relu), &c.r[..32 * 70], None)
            .unwrap_or_else(|e| panic!("{e}"));
        let gl = GroupedLinear::with_isa(isa, &GroupedLinearSpec::new(8, 4, 6), &c.w[..8 * 4 * 6], None)
            .unwrap_or_else(|e| panic!("{e}"));
        let (x, mut y, mut gy) = (rand_vec(&mut r, 7 * 32), vec![0.0; 7 * 70], vec![0.0; 7 * 48]);
        for mode in MODES {
            let g = plan(isa, &c, true, mode);
            let (mut h, mut ys) = (vec![0.0; 7 * 48], vec![0.0; 7 * 48]);
            let mut scratch = vec![0.0; g.scratch_len(7)];
            let n = allocations_during(|| {
                lin.run(&x, &mut y).unwrap_or_else(|e| panic!("{e}"));
                gl.run(&x, &mut gy).unwrap_or_else(|e| panic!("{e}"));
                g.step(&x, &mut h, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
                g.run_sequence(&x, &mut h[..48], &mut ys, &mut scratch).unwrap_or_else(|e| panic!("{e}"));
            });
            assert_eq!(n, 0, "{isa} {mode:?}: run allocated {n} times");
        }
    }
}
