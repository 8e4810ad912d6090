//! The DFN3 network on the engine, streamed frame by frame, against ONNX Runtime running the
//! official graphs over the whole sequence (fixtures from
//! `tests/fixtures/make_dfn3_layer_fixtures.py`: real speech + noise, features from our DSP).

use std::cell::Cell;
use std::path::PathBuf;

use sluice_models::dfn3::{Decoders, Dfn3Model, Dfn3Output, Dfn3State, Dfn3Weights};

const STREAMS: usize = 5;
const FRAMES: usize = 40;

/// Counts allocations made by the thread that switched counting on (tests run in parallel).
struct Counting;
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// Allocations this thread made while counting, since the last call.
fn take_allocs() -> usize {
    ALLOCS.with(|a| a.replace(0))
}

fn counting(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const NB_ERB: usize = 32;
const NB_DF: usize = 96;
const COEFS: usize = NB_DF * 10;

fn fixture(name: &str) -> Vec<f32> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dfn3_net").join(format!("{name}.f32"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

struct Fixtures {
    frames: usize,
    feat_erb: Vec<f32>,
    feat_spec: Vec<f32>,
    lsnr: Vec<f32>,
    mask: Vec<f32>,
    coefs: Vec<f32>,
}

fn fixtures() -> Fixtures {
    let f = Fixtures {
        frames: fixture("lsnr").len(),
        feat_erb: fixture("feat_erb"),
        feat_spec: fixture("feat_spec"),
        lsnr: fixture("lsnr"),
        mask: fixture("mask"),
        coefs: fixture("coefs"),
    };
    assert!(f.frames >= 60, "fixtures hold {} frames", f.frames);
    assert_eq!(f.feat_erb.len(), f.frames * NB_ERB);
    assert_eq!(f.feat_spec.len(), f.frames * 2 * NB_DF);
    assert_eq!(f.mask.len(), f.frames * NB_ERB);
    assert_eq!(f.coefs.len(), f.frames * COEFS);
    f
}

fn model() -> Dfn3Model {
    let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
    Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}"))
}

/// Streams every fixture frame through `model`, returning (lsnr, mask, coefs) per frame.
fn stream(model: &Dfn3Model, state: &mut Dfn3State, f: &Fixtures) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut out = model.new_output();
    let (mut lsnr, mut mask, mut coefs) = (Vec::new(), Vec::new(), Vec::new());
    for t in 0..f.frames {
        let erb = &f.feat_erb[t * NB_ERB..(t + 1) * NB_ERB];
        let spec = &f.feat_spec[t * 2 * NB_DF..(t + 1) * 2 * NB_DF];
        model.step(state, erb, spec, &mut out).unwrap_or_else(|e| panic!("frame {t}: {e}"));
        lsnr.push(out.lsnr);
        mask.extend_from_slice(&out.mask);
        coefs.extend_from_slice(&out.coefs);
    }
    (lsnr, mask, coefs)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    a.iter().zip(b).enumerate().fold((0.0, 0), |(m, at), (i, (x, y))| {
        let d = (x - y).abs();
        if d > m || d.is_nan() { (d, i) } else { (m, at) }
    })
}

#[test]
fn streaming_matches_onnx_runtime_over_the_whole_sequence() {
    let f = fixtures();
    let m = model();
    let mut st = m.new_state();
    let (lsnr, mask, coefs) = stream(&m, &mut st, &f);
    let (dl, tl) = max_abs_diff(&lsnr, &f.lsnr);
    let (dm, im) = max_abs_diff(&mask, &f.mask);
    let (dc, ic) = max_abs_diff(&coefs, &f.coefs);
    println!(
        "max |Δ| lsnr {dl:.2e} dB (frame {tl}), mask {dm:.2e} (frame {}), coefs {dc:.2e} (frame {})",
        im / NB_ERB,
        ic / COEFS
    );
    assert!(dl <= 1e-3, "lsnr differs by {dl} dB at frame {tl}");
    assert!(dm <= 1e-4, "mask differs by {dm} at frame {} band {}", im / NB_ERB, im % NB_ERB);
    assert!(dc <= 1e-4, "coefs differ by {dc} at frame {} index {}", ic / COEFS, ic % COEFS);
    // The fixture exercises the whole lsnr range, so silence-like and speech frames are both covered.
    let (lo, hi) = f.lsnr.iter().fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(lo < -10.0 && hi > 5.0, "fixture lsnr range {lo}..{hi}");
}

#[test]
fn reset_makes_a_used_state_equal_to_a_fresh_one() {
    let f = fixtures();
    let m = model();
    let mut st = m.new_state();
    let first = stream(&m, &mut st, &f);
    st.reset();
    let second = stream(&m, &mut st, &f);
    assert_eq!(first, second, "a reset state must replay the stream bit for bit");
    // Without reset, the carried state changes the output (so the test above can fail).
    let third = stream(&m, &mut st, &f);
    assert_ne!(first.1, third.1, "state carried over must matter");
}

#[test]
fn step_allocates_nothing() {
    let f = fixtures();
    let m = model();
    let mut st = m.new_state();
    let mut out: Dfn3Output = m.new_output();
    let step = |st: &mut Dfn3State, out: &mut Dfn3Output, t: usize| {
        let erb = &f.feat_erb[t * NB_ERB..(t + 1) * NB_ERB];
        let spec = &f.feat_spec[t * 2 * NB_DF..(t + 1) * 2 * NB_DF];
        m.step(st, erb, spec, out).unwrap_or_else(|e| panic!("frame {t}: {e}"));
    };
    for t in 0..3 {
        step(&mut st, &mut out, t);
    }
    assert!(
        {
            counting(true);
            let v = std::hint::black_box(vec![1u8; 8]);
            counting(false);
            drop(v);
            take_allocs()
        } > 0,
        "the counter counts"
    );
    counting(true);
    for t in 3..20 {
        step(&mut st, &mut out, t);
    }
    counting(false);
    assert_eq!(take_allocs(), 0, "Dfn3Model::step allocated");
}

/// Stream `i` of the batch test reads the fixture from frame `7·i` on (wrapping).
fn frame_of(f: &Fixtures, i: usize, t: usize) -> usize {
    (7 * i + t) % f.frames
}

#[test]
fn batched_streams_equal_each_stream_alone() {
    let f = fixtures();
    let m = model();
    // Each stream alone.
    let mut alone = Vec::new();
    for i in 0..STREAMS {
        let mut st = m.new_state();
        let mut out = m.new_output();
        let mut rows = Vec::new();
        for t in 0..FRAMES {
            let k = frame_of(&f, i, t);
            let (erb, spec) = (&f.feat_erb[k * NB_ERB..][..NB_ERB], &f.feat_spec[k * 2 * NB_DF..][..2 * NB_DF]);
            m.step(&mut st, erb, spec, &mut out).unwrap_or_else(|e| panic!("stream {i} frame {t}: {e}"));
            rows.push(out.clone());
        }
        alone.push(rows);
    }
    // All together, in a batch scratch larger than the batch.
    let mut states: Vec<Dfn3State> = (0..STREAMS).map(|_| m.new_state()).collect();
    let mut outs: Vec<Dfn3Output> = (0..STREAMS).map(|_| m.new_output()).collect();
    let mut batch = m.new_batch(STREAMS + 3);
    let (mut erb, mut spec) = (vec![0.0; STREAMS * NB_ERB], vec![0.0; STREAMS * 2 * NB_DF]);
    let mut worst = 0.0f32;
    let by_frame: Vec<Vec<&Dfn3Output>> = (0..FRAMES).map(|t| alone.iter().map(|rows| &rows[t]).collect()).collect();
    for (t, expected) in by_frame.iter().enumerate() {
        for i in 0..STREAMS {
            let k = frame_of(&f, i, t);
            erb[i * NB_ERB..][..NB_ERB].copy_from_slice(&f.feat_erb[k * NB_ERB..][..NB_ERB]);
            spec[i * 2 * NB_DF..][..2 * NB_DF].copy_from_slice(&f.feat_spec[k * 2 * NB_DF..][..2 * NB_DF]);
        }
        m.step_many(&mut states, &mut batch, &erb, &spec, &mut outs).unwrap_or_else(|e| panic!("frame {t}: {e}"));
        for (o, a) in outs.iter().zip(expected) {
            worst = worst.max((o.lsnr - a.lsnr).abs() / 50.0);
            worst = worst.max(max_abs_diff(&o.mask, &a.mask).0);
            worst = worst.max(max_abs_diff(&o.coefs, &a.coefs).0);
        }
    }
    println!("batched vs alone: max |Δ| {worst:.2e}");
    assert!(worst <= 1e-5, "batched streams differ from single streams by {worst}");
    // The batched states carry on exactly like single ones.
    let mut single = m.new_output();
    let t = FRAMES;
    let k = frame_of(&f, 0, t);
    m.step(
        &mut states[0],
        &f.feat_erb[k * NB_ERB..][..NB_ERB],
        &f.feat_spec[k * 2 * NB_DF..][..2 * NB_DF],
        &mut single,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(single.lsnr.is_finite());
    // A batch larger than the scratch is an error, not a panic.
    let mut too_many: Vec<Dfn3State> = (0..2).map(|_| m.new_state()).collect();
    let mut small = m.new_batch(1);
    let mut two_outs = vec![m.new_output(), m.new_output()];
    let r = m.step_many(&mut too_many, &mut small, &erb[..2 * NB_ERB], &spec[..4 * NB_DF], &mut two_outs);
    assert!(r.is_err(), "capacity 1 must refuse 2 streams");
}

/// The decoders stream `i` runs at frame `t` in the gated tests: every mix, changing often.
fn pick(i: usize, t: usize) -> Decoders {
    [Decoders::ErbAndDf, Decoders::Erb, Decoders::None, Decoders::ErbAndDf][(3 * i + 5 * t + t / 7) % 4]
}

/// Gated batches (rows running both, one or no decoder, reordered inside the batch) equal each
/// stream gated alone; a decoder that skips frames resumes from the state it had.
#[test]
fn gated_batches_equal_each_stream_gated_alone() {
    let f = fixtures();
    let m = model();
    let mut alone = Vec::new();
    for i in 0..STREAMS {
        let (mut st, mut out) = (m.new_state(), m.new_output());
        let mut rows = Vec::new();
        for t in 0..FRAMES {
            let k = frame_of(&f, i, t);
            let (erb, spec) = (&f.feat_erb[k * NB_ERB..][..NB_ERB], &f.feat_spec[k * 2 * NB_DF..][..2 * NB_DF]);
            let gate = |_: f32| pick(i, t);
            m.step_gated(&mut st, erb, spec, &mut out, Some(&gate)).unwrap_or_else(|e| panic!("stream {i}: {e}"));
            assert_eq!(out.decoders, pick(i, t));
            rows.push(out.clone());
        }
        alone.push(rows);
    }
    // Gating changes the result: a stream that skipped decoders differs from one that did not.
    let ungated = stream(&m, &mut m.new_state(), &f);
    let gated_mask: Vec<f32> = alone[0].iter().flat_map(|o| o.mask.clone()).collect();
    assert!(max_abs_diff(&gated_mask, &ungated.1).0 > 1e-3, "skipping decoders changed nothing");

    let mut states: Vec<Dfn3State> = (0..STREAMS).map(|_| m.new_state()).collect();
    let mut outs: Vec<Dfn3Output> = (0..STREAMS).map(|_| m.new_output()).collect();
    let mut batch = m.new_batch(STREAMS + 1);
    let (mut erb, mut spec) = (vec![0.0; STREAMS * NB_ERB], vec![0.0; STREAMS * 2 * NB_DF]);
    let mut worst = 0.0f32;
    for t in 0..FRAMES {
        for i in 0..STREAMS {
            let k = frame_of(&f, i, t);
            erb[i * NB_ERB..][..NB_ERB].copy_from_slice(&f.feat_erb[k * NB_ERB..][..NB_ERB]);
            spec[i * 2 * NB_DF..][..2 * NB_DF].copy_from_slice(&f.feat_spec[k * 2 * NB_DF..][..2 * NB_DF]);
        }
        let gate = |i: usize, _: f32| pick(i, t);
        m.step_many_gated(&mut states, &mut batch, &erb, &spec, &mut outs, Some(&gate))
            .unwrap_or_else(|e| panic!("frame {t}: {e}"));
        for (i, (o, rows)) in outs.iter().zip(&alone).enumerate() {
            let a = &rows[t];
            assert_eq!(o.decoders, a.decoders, "stream {i} frame {t}");
            worst = worst.max((o.lsnr - a.lsnr).abs() / 50.0);
            if o.decoders.erb() {
                worst = worst.max(max_abs_diff(&o.mask, &a.mask).0);
            }
            if o.decoders.df() {
                worst = worst.max(max_abs_diff(&o.coefs, &a.coefs).0);
            }
        }
    }
    println!("gated batch vs gated alone: max |Δ| {worst:.2e}");
    assert!(worst <= 1e-5, "gated batched streams differ from gated single streams by {worst}");
}

/// Neither the ungated nor the gated batch step allocates (the gated one reorders rows and
/// keeps c0 per stream in the batch's scratch).
#[test]
fn step_many_allocates_nothing() {
    let f = fixtures();
    let m = model();
    let erb = &f.feat_erb[..STREAMS * NB_ERB];
    let spec = &f.feat_spec[..STREAMS * 2 * NB_DF];
    for gated in [false, true] {
        let mut states: Vec<Dfn3State> = (0..STREAMS).map(|_| m.new_state()).collect();
        let mut outs: Vec<Dfn3Output> = (0..STREAMS).map(|_| m.new_output()).collect();
        let mut batch = m.new_batch(STREAMS);
        let mut t = 0;
        let mut run = || {
            t += 1;
            let gate = |i: usize, _: f32| pick(i, t);
            let gate: Option<&dyn Fn(usize, f32) -> Decoders> = if gated { Some(&gate) } else { None };
            m.step_many_gated(&mut states, &mut batch, erb, spec, &mut outs, gate).unwrap_or_else(|e| panic!("{e}"))
        };
        run();
        take_allocs();
        counting(true);
        for _ in 0..5 {
            run();
        }
        counting(false);
        assert_eq!(take_allocs(), 0, "Dfn3Model::step_many (gated: {gated}) allocated");
    }
}

#[test]
fn the_model_is_shareable_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Dfn3Model>();
    let m = std::sync::Arc::new(model());
    let f = std::sync::Arc::new(fixtures());
    // Two threads step their own streams through one shared model and agree with each other.
    let run = |m: std::sync::Arc<Dfn3Model>, f: std::sync::Arc<Fixtures>| {
        std::thread::spawn(move || {
            let mut st = m.new_state();
            stream(&m, &mut st, &f)
        })
    };
    let (a, b) = (run(m.clone(), f.clone()), run(m, f));
    let a = a.join().unwrap_or_else(|_| panic!("thread a panicked"));
    let b = b.join().unwrap_or_else(|_| panic!("thread b panicked"));
    assert_eq!(a, b);
}
