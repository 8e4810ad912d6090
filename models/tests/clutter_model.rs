//! The clutter filter on the engine against PyTorch, streaming against whole-clip, and the
//! loader's and planner's errors.
//!
//! Golden fixtures (`fixtures/clutter/golden.safetensors`, made by `make_golden.py` beside it
//! from the committed weights) hold small clips and PyTorch's float64 outputs; the engine must
//! match within 1e-4 on every ISA tier, with one and two threads, run whole-clip and frame by
//! frame. The same script also writes small random nets in the export format with their own
//! goldens, held to the same tolerances: two PReLU nets (`prelu_n4_l2`, `prelu_n2_l3`, the
//! bundled net's kind) and a linear one (`linear_n4_l2`, the released configs' kind).

use std::path::Path;
use std::sync::Arc;

use sluice_engine::{Activation, EngineError, Isa, Threads};
use sluice_models::WeightsError;
use sluice_models::clutter::{
    BlockActivation, Clutter, ClutterPlan, ClutterStream, ClutterWeights, GateParams, LATENCY_FRAMES,
};
use sluice_models::safetensors::{SafeTensors, SafetensorsError};
use sluice_models::timing;

const TOLERANCE: f32 = 1e-4;

/// The random PReLU nets `make_golden.py` writes beside the bundled net's golden.
const PRELU_NETS: [&str; 3] = ["prelu_n4_l2", "prelu_n2_l3", "prelu_n1_l4"];
/// Its random linear net.
const LINEAR_NET: &str = "linear_n4_l2";

fn fixture_bytes(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clutter").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn golden_file(file: &str) -> SafeTensors {
    SafeTensors::parse(&fixture_bytes(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn golden() -> SafeTensors {
    golden_file("golden.safetensors")
}

/// A random fixture net and its golden.
fn random_net(name: &str) -> (ClutterWeights, SafeTensors) {
    let weights = ClutterWeights::from_safetensors(&fixture_bytes(&format!("{name}.safetensors")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (weights, golden_file(&format!("golden_{name}.safetensors")))
}

fn bundled() -> ClutterWeights {
    ClutterWeights::bundled().unwrap_or_else(|e| panic!("{e}"))
}

fn bundled_bytes() -> Vec<u8> {
    std::fs::read(ClutterWeights::bundled_path()).unwrap_or_else(|e| panic!("{e}"))
}

fn pool(n: usize) -> Threads {
    Threads::new(n).unwrap_or_else(|e| panic!("{e}"))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Runs `clip` through a fresh stream one frame per call.
fn stream_clip(stream: &mut ClutterStream, clip: &[f32]) -> Vec<f32> {
    let n = stream.step_len();
    let mut out = vec![f32::NAN; clip.len()];
    for (x, y) in clip.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        stream.process(x, y).unwrap_or_else(|e| panic!("{e}"));
    }
    out
}

#[test]
fn engine_matches_pytorch_on_every_tier() {
    let worst = matches_golden(&bundled(), &golden());
    println!("max |engine − PyTorch| over every case, tier, pool and mode: {worst:.2e}");
}

/// The bundled net's correction gate is applied (the golden is PyTorch's gated output): the
/// same net without it lands measurably off the golden on the clutter-like clip, and passes
/// more of its small corrections on to the rest.
#[test]
fn correction_gate_is_applied() {
    let golden = golden();
    let case = "band_7x16x24";
    let input = golden.tensor(&format!("in_{case}")).unwrap_or_else(|| panic!("no {case}"));
    let expected = golden.tensor(&format!("out_{case}")).unwrap_or_else(|| panic!("no {case}"));
    let gated = Clutter::new(bundled());
    let mut weights = bundled();
    assert!(weights.gate.take().is_some(), "the bundled net should have a gate");
    let ungated = Clutter::new(weights);
    let single = Threads::single();
    let run = |m: &Clutter| m.filter_clip(input.data(), 7, 16, 24, &single).unwrap_or_else(|e| panic!("{e}"));
    let (with, without) = (run(&gated), run(&ungated));
    assert!(max_abs_diff(&with, expected.data()) <= TOLERANCE);
    let off = max_abs_diff(&without, expected.data());
    assert!(off > 1e-3, "without the gate only {off} from the gated golden");
    let total = |out: &[f32]| out.iter().zip(input.data()).map(|(y, x)| (y - x).abs()).sum::<f32>();
    assert!(total(&with) < total(&without), "the gate should only shrink corrections");
}

#[test]
fn random_nets_match_pytorch_on_every_tier() {
    for name in PRELU_NETS.into_iter().chain([LINEAR_NET]) {
        let (weights, golden) = random_net(name);
        let kind = if name == LINEAR_NET { BlockActivation::Linear } else { BlockActivation::Prelu };
        assert_eq!(weights.activation, kind, "{name}");
        let worst = matches_golden(&weights, &golden);
        println!("{name}: max |engine − PyTorch| over every case, tier, pool and mode: {worst:.2e}");
    }
}

/// The slopes are applied: the same PReLU nets run linear are far from the golden.
#[test]
fn prelu_slopes_change_the_output() {
    for name in PRELU_NETS {
        let (mut weights, golden) = random_net(name);
        let slopes = weights.enc.iter_mut().flatten().chain(weights.dec.iter_mut().flat_map(|d| d.convs.iter_mut()));
        for c in slopes {
            assert!(matches!(c.activation, Activation::Prelu(_)), "{name}: {:?}", c.activation);
            c.activation = Activation::Identity;
        }
        let linear = Clutter::new(weights);
        let input = golden.tensor("in_noise_4x16x16").unwrap_or_else(|| panic!("{name}: no noise clip"));
        let expected = golden.tensor("out_noise_4x16x16").unwrap_or_else(|| panic!("{name}: no noise clip"));
        let out = linear.filter_clip(input.data(), 4, 16, 16, &Threads::single()).unwrap_or_else(|e| panic!("{e}"));
        let diff = max_abs_diff(&out, expected.data());
        assert!(diff > 1e-2, "{name}: without its slopes the net is only {diff} from the golden");
    }
}

/// Checks `weights` against a golden file on every tier, pool and mode; returns the worst error.
fn matches_golden(weights: &ClutterWeights, golden: &SafeTensors) -> f32 {
    for stamp in ["enc.0.0.bias", "enc.0.0.slope", "head.bias"] {
        let w = match stamp {
            "head.bias" => weights.head.bias.data().to_vec(),
            "enc.0.0.bias" => weights.enc[0][0].bias.data().to_vec(),
            _ => match weights.enc[0][0].activation {
                Activation::Prelu(s) => vec![s.get()],
                _ => {
                    assert!(golden.tensor(stamp).is_none(), "golden has a slope, the weights none");
                    continue;
                }
            },
        };
        let t = golden.tensor(stamp).unwrap_or_else(|| panic!("fixture lacks {stamp}"));
        assert_eq!(t.data(), w, "fixtures were made from other weights; rerun tests/fixtures/clutter/make_golden.py");
    }
    let cases: Vec<&str> = golden.names().filter(|n| n.starts_with("in_")).collect();
    // The bundled net's golden has 4 clips; a 4-level net takes only the 2 with sides in 8s.
    assert!(cases.len() >= 2, "only {} cases", cases.len());
    let pools = [Arc::new(Threads::single()), Arc::new(pool(2))];
    let mut worst = 0.0f32;
    for isa in Isa::available() {
        let model = Clutter::with_isa(weights.clone(), isa).unwrap_or_else(|e| panic!("{e}"));
        for case in &cases {
            let input = golden.tensor(case).unwrap_or_else(|| panic!("{case}"));
            let expected = golden.tensor(&case.replacen("in_", "out_", 1)).unwrap_or_else(|| panic!("{case} out"));
            let &[t, h, w] = input.shape() else { panic!("{case}: shape {:?}", input.shape()) };
            assert_eq!(expected.shape(), input.shape(), "{case}");
            for threads in &pools {
                let whole = model.filter_clip(input.data(), t, h, w, threads).unwrap_or_else(|e| panic!("{case}: {e}"));
                let mut stream = model.stream(h, w, Arc::clone(threads)).unwrap_or_else(|e| panic!("{case}: {e}"));
                let streamed = stream_clip(&mut stream, input.data());
                for (mode, out) in [("whole clip", &whole), ("streamed", &streamed)] {
                    let diff = max_abs_diff(out, expected.data());
                    worst = worst.max(diff);
                    assert!(
                        diff <= TOLERANCE,
                        "{case} {mode} {} {} threads: max |engine − PyTorch| = {diff}",
                        isa.name(),
                        threads.count()
                    );
                }
            }
        }
    }
    worst
}

/// The clip with `prime` copies of its first frame in front.
fn primed_input(x: &[f32], frame: usize, prime: usize) -> Vec<f32> {
    let mut out: Vec<f32> = x[..frame].iter().copied().cycle().take(prime * frame).collect();
    out.extend_from_slice(x);
    out
}

#[test]
fn streaming_equals_whole_clip() {
    streams_like_whole_clip(bundled());
}

#[test]
fn random_nets_stream_like_whole_clip() {
    for name in PRELU_NETS.into_iter().chain([LINEAR_NET]) {
        streams_like_whole_clip(random_net(name).0);
    }
}

/// Frame-by-frame, chunked and whole-clip runs of `weights` (a primed net) agree.
fn streams_like_whole_clip(weights: ClutterWeights) {
    let model = Clutter::new(weights.clone());
    let prime = model.weights().prime;
    // Sides in multiples of 8: what a 4-level net takes.
    let (t, h, w) = (12, 16, 24);
    let x = timing::echo_clip(t, h, w);
    let single = Threads::single();
    // One plan step over the primed clip (first frame repeated `prime` times in front): the
    // plain causal 3-D convolution, no history carried between calls; primed outputs dropped.
    let plan = model.plan(h, w, prime + t).unwrap_or_else(|e| panic!("{e}"));
    let mut state = plan.new_state(&single);
    state.skip_gate(prime);
    let mut whole = vec![f32::NAN; (prime + t) * h * w];
    plan.run(&mut state, &primed_input(&x, h * w, prime), &mut whole, &single).unwrap_or_else(|e| panic!("{e}"));
    let whole = whole.split_off(prime * h * w);
    let changed = max_abs_diff(&whole, &x);
    assert!(changed > 1e-3, "the filter should change a cluttered clip (max change {changed})");
    // filter_clip runs steps of up to 8 frames; the stream runs 1 frame per call on two threads.
    let chunked = model.filter_clip(&x, t, h, w, &single).unwrap_or_else(|e| panic!("{e}"));
    let mut stream = model.stream(h, w, Arc::new(pool(2))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((stream.latency(), LATENCY_FRAMES), (0, 0));
    let streamed = stream_clip(&mut stream, &x);
    let d_chunked = max_abs_diff(&chunked, &whole);
    let d_streamed = max_abs_diff(&streamed, &whole);
    assert!(d_chunked <= 1e-5 && d_streamed <= 1e-5, "steps of 6: {d_chunked}, frame by frame: {d_streamed}");
    // Mid-stream the frames differ from a fresh clip's; reset starts a new clip.
    let mut again = vec![f32::NAN; stream.step_len()];
    stream.process(&x[..h * w], &mut again).unwrap_or_else(|e| panic!("{e}"));
    assert!(max_abs_diff(&again, &whole[..h * w]) > 1e-4, "history should carry over between calls");
    stream.reset();
    stream.process(&x[..h * w], &mut again).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, streamed[..h * w]);
    // A stream of a multi-frame plan primes whole steps: 3-frame steps, prime rounded up.
    let plan3 = Arc::new(model.plan(h, w, 3).unwrap_or_else(|e| panic!("{e}")));
    let mut stream3 = ClutterStream::new(Arc::clone(&plan3), Arc::new(Threads::single()));
    let streamed3 = stream_clip(&mut stream3, &x);
    let prime3 = prime.div_ceil(3) * 3;
    let plan_p3 = model.plan(h, w, prime3 + t).unwrap_or_else(|e| panic!("{e}"));
    let mut state_p3 = plan_p3.new_state(&single);
    state_p3.skip_gate(prime3);
    let mut whole3 = vec![f32::NAN; (prime3 + t) * h * w];
    plan_p3
        .run(&mut state_p3, &primed_input(&x, h * w, prime3), &mut whole3, &single)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(max_abs_diff(&streamed3, &whole3[prime3 * h * w..]) <= 1e-5);
    // Priming matters: unprimed, the first frames come out otherwise.
    let mut unprimed = weights;
    unprimed.prime = 0;
    let unprimed = Clutter::new(unprimed).filter_clip(&x, t, h, w, &single).unwrap_or_else(|e| panic!("{e}"));
    assert!(prime > 0 && max_abs_diff(&unprimed[..h * w], &whole[..h * w]) > 1e-4);
    // Another clip length (13 + prime frames run in other steps, zero-padded at the end when
    // no step up to 8 divides them).
    let x13 = timing::echo_clip(13, h, w);
    let chunked13 = model.filter_clip(&x13, 13, h, w, &single).unwrap_or_else(|e| panic!("{e}"));
    let streamed13 =
        stream_clip(&mut model.stream(h, w, Arc::new(Threads::single())).unwrap_or_else(|e| panic!("{e}")), &x13);
    assert!(max_abs_diff(&chunked13, &streamed13) <= 1e-5);
}

#[test]
fn wrong_sizes_are_typed_errors() {
    let model = Clutter::new(bundled());
    let threads = Arc::new(Threads::single());
    for (h, w, f) in [(30, 32, 1), (32, 6, 1), (0, 8, 1), (8, 8, 0), (usize::MAX / 4, 8, 4)] {
        let err = model.plan(h, w, f).err();
        assert!(matches!(err, Some(EngineError::InvalidSpec { op: "clutter", .. })), "{h}x{w}x{f}: {err:?}");
    }
    let msg = model.plan(30, 33, 1).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("32x40"), "the error should name the padded size: {msg}");
    assert_eq!(ClutterPlan::padded_size(model.weights(), 30, 33), (32, 40));

    let mut stream = model.stream(8, 16, Arc::clone(&threads)).unwrap_or_else(|e| panic!("{e}"));
    let x = vec![0.5; 8 * 16];
    let mut y = vec![0.0; 8 * 16];
    let err = stream.process(&x[1..], &mut y).err();
    assert!(matches!(err, Some(EngineError::BufferLength { op: "clutter", buffer: "input", .. })), "{err:?}");
    let err = stream.process(&x, &mut y[..8]).err();
    assert!(matches!(err, Some(EngineError::BufferLength { op: "clutter", buffer: "output", .. })), "{err:?}");
    let err = stream.process(&[], &mut []).err();
    assert!(matches!(err, Some(EngineError::BufferLength { .. })), "{err:?}");
    stream.process(&x, &mut y).unwrap_or_else(|e| panic!("{e}"));

    let a = model.plan(8, 16, 1).unwrap_or_else(|e| panic!("{e}"));
    let b = model.plan(16, 8, 1).unwrap_or_else(|e| panic!("{e}"));
    let mut state = b.new_state(&threads);
    let err = a.run(&mut state, &x, &mut y, &threads).err();
    assert!(matches!(err, Some(EngineError::InvalidSpec { op: "clutter", .. })), "state of another plan: {err:?}");

    let err = model.filter_clip(&x, 2, 8, 16, &threads).err();
    assert!(matches!(err, Some(EngineError::BufferLength { buffer: "clip", .. })), "{err:?}");
    let err = model.filter_clip(&x, 1, 8, 12, &threads).err();
    assert!(matches!(err, Some(EngineError::InvalidSpec { .. })), "{err:?}");
    let err = model.filter_clip(&x, usize::MAX, 8, 16, &threads).err();
    assert!(err.is_some(), "a clip length that overflows is an error");
}

#[test]
fn bundled_network_has_the_trained_shape() {
    let w = bundled();
    // 1 270 716 weights and biases and the 14 PReLU slopes.
    assert_eq!((w.n0, w.levels, w.activation, w.params()), (8, 4, BlockActivation::Prelu, 1_270_730));
    assert_eq!((w.step, w.prime), (Some(12218), 8));
    assert_eq!(w.gate, Some(GateParams { alpha: 0.03, box_px: 7, level: 6.0 }));
    assert_eq!(w.size_multiple(), 8);
    assert_eq!(w.dec[0].gate.theta.weight.shape(), [32, 64, 3, 3, 3]);
    assert_eq!(w.dec[2].convs[0].weight.shape(), [16, 48, 3, 3, 3]);
    let plan = Clutter::new(w).plan(128, 128, 1).unwrap_or_else(|e| panic!("{e}"));
    // 1.44 G multiply-adds per 128×128 frame for the 3 levels (spec: 11.5 G per 64×64×32 clip,
    // ×4 for 128×128), and the fourth level at 16×16 adds about half as much again.
    let gmac = plan.flops_per_frame() as f64 / 2e9;
    assert!((2.0..2.3).contains(&gmac), "{gmac} GMAC per frame");
}

/// Rewrites a safetensors file's header (keeping the data) through `edit`.
fn with_header(bytes: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_else(|_| panic!("short")));
    let n = usize::try_from(n).unwrap_or_else(|e| panic!("{e}"));
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap_or_else(|e| panic!("{e}"));
    let new = edit(header);
    let mut out = (new.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn truncated_and_edited_files_are_named_errors() {
    let bytes = bundled_bytes();
    assert!(Clutter::from_safetensors(&bytes).is_ok());
    for n in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = ClutterWeights::from_safetensors(&bytes[..n]).err();
        assert!(matches!(err, Some(WeightsError::Safetensors { .. })), "{n} bytes: {err:?}");
    }

    let renamed = with_header(&bytes, |h| h.replace("gate.1.psi.weight", "gate.1.psi.kernel"));
    let err = ClutterWeights::from_safetensors(&renamed).err();
    assert!(matches!(&err, Some(WeightsError::NoTensor { tensor, .. }) if tensor == "gate.1.psi.weight"), "{err:?}");

    // Same byte counts, other shapes: enc.1.0.bias [16] and gate.0.theta.bias [16] swap
    // silently, so swap two of different sizes and expect the shape to be named.
    let swapped = with_header(&bytes, |h| {
        h.replace("\"up.0.bias\"", "\"tmp\"")
            .replace("\"up.1.bias\"", "\"up.0.bias\"")
            .replace("\"tmp\"", "\"up.1.bias\"")
    });
    let err = ClutterWeights::from_safetensors(&swapped).err();
    let msg = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(&err, Some(WeightsError::TensorShape { tensor, .. }) if tensor == "up.0.bias"), "{msg}");
    assert!(msg.contains("[128]") && msg.contains("[64]"), "{msg}");

    let deeper = with_header(&bytes, |h| h.replace("\"levels\":\"4\"", "\"levels\":\"5\""));
    assert_ne!(deeper, bytes, "export metadata should carry the levels");
    let err = ClutterWeights::from_safetensors(&deeper).err();
    assert!(matches!(&err, Some(WeightsError::NoTensor { tensor, .. }) if tensor == "enc.4.0.weight"), "{err:?}");

    let wider = with_header(&bytes, |h| h.replace("\"n0\":\"8\"", "\"n0\":\"16\""));
    let err = ClutterWeights::from_safetensors(&wider).err();
    assert!(matches!(&err, Some(WeightsError::TensorShape { tensor, .. }) if tensor == "enc.0.0.weight"), "{err:?}");

    for (from, to, key) in [
        ("\"temporal_padding\":\"causal\"", "\"temporal_padding\":\"symmetric\"", "temporal_padding"),
        ("\"activation\":\"prelu\"", "\"activation\":\"relu\"", "activation"),
        ("\"n0\":\"8\"", "\"n0\":\"eight\"", "n0"),
        ("\"levels\":\"4\"", "\"depth\":\"4\"", "levels"),
        ("\"levels\":\"4\"", "\"levels\":\"0\"", "levels"),
        ("\"step\":\"12218\"", "\"step\":\"-1\"", "step"),
        ("\"prime\":\"8\"", "\"prime\":\"65\"", "prime"),
        ("\"prime\":\"8\"", "\"prime\":\"eight\"", "prime"),
        ("\"gate_box\":\"7\"", "\"gate_box\":\"8\"", "gate_box"),
        ("\"gate_box\":\"7\"", "\"gate_box\":\"seven\"", "gate_box"),
        ("\"gate_level\":\"6.0\"", "\"gate_level\":\"-6.0\"", "gate_level"),
        ("\"gate_alpha\":\"0.03\"", "\"gate_alpha\":\"2\"", "gate_alpha"),
        ("\"gate_alpha\":\"0.03\"", "\"gate_alpha\":\"NaN\"", "gate_alpha"),
        ("\"gate_level\":\"6.0\"", "\"gate_width\":\"6.0\"", "gate_alpha"),
    ] {
        let edited = with_header(&bytes, |h| h.replace(from, to));
        assert_ne!(edited, bytes, "{from} not in the header");
        let err = ClutterWeights::from_safetensors(&edited).err();
        assert!(matches!(err, Some(WeightsError::Metadata { key: k, .. }) if k == key), "{to}: {err:?}");
    }

    let f16 = with_header(&bytes, |h| h.replacen("\"F32\"", "\"F16\"", 1));
    let err = ClutterWeights::from_safetensors(&f16).err();
    assert!(matches!(err, Some(WeightsError::Safetensors { source: SafetensorsError::Dtype { .. }, .. })), "{err:?}");

    let err = ClutterWeights::load("/nonexistent/clutter.safetensors").err().map(|e| e.to_string());
    assert!(err.as_deref().is_some_and(|m| m.contains("/nonexistent/clutter.safetensors")), "{err:?}");
}

/// Where tensor `name`'s data starts in a safetensors file (8-byte length, header, data).
fn data_start(bytes: &[u8], name: &str) -> usize {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_else(|_| panic!("short")));
    let n = usize::try_from(n).unwrap_or_else(|e| panic!("{e}"));
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap_or_else(|e| panic!("{e}"));
    let entry = &header[header.find(&format!("\"{name}\":")).unwrap_or_else(|| panic!("no {name}"))..];
    let offsets = &entry[entry.find("\"data_offsets\":[").unwrap_or_else(|| panic!("{name}: no offsets")) + 16..];
    let begin: usize = offsets[..offsets.find(',').unwrap_or_else(|| panic!("{name}: offsets"))]
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    8 + n + begin
}

#[test]
fn prelu_slopes_are_checked() {
    let bytes = fixture_bytes("prelu_n4_l2.safetensors");
    let w = ClutterWeights::from_safetensors(&bytes).unwrap_or_else(|e| panic!("{e}"));
    // 16 140 as PyTorch counts them: weights, biases and the 6 slopes.
    assert_eq!((w.n0, w.levels, w.activation, w.prime, w.params()), (4, 2, BlockActivation::Prelu, 2, 16_140));
    assert!(w.dec[0].gate.theta.activation == Activation::Identity && w.head.activation == Activation::Identity);

    // `prelu` stated, no slopes stored (the linear fixture net relabelled).
    let linear = fixture_bytes(&format!("{LINEAR_NET}.safetensors"));
    let relabelled = with_header(&linear, |h| h.replace("\"activation\":\"linear\"", "\"activation\":\"prelu\""));
    assert_ne!(relabelled, linear, "the linear export should state its activation");
    let err = ClutterWeights::from_safetensors(&relabelled).err();
    assert!(matches!(&err, Some(WeightsError::NoTensor { tensor, .. }) if tensor == "enc.0.0.slope"), "{err:?}");

    // A slope of another shape (same byte count).
    let key = "\"enc.1.0.slope\":{\"dtype\":\"F32\",\"shape\":[1]";
    let reshaped = with_header(&bytes, |h| h.replace(key, &key.replace("[1]", "[1,1]")));
    assert_ne!(reshaped, bytes, "{key} not in the header");
    let err = ClutterWeights::from_safetensors(&reshaped).err();
    assert!(
        matches!(&err, Some(WeightsError::TensorShape { tensor, expected, found, .. })
            if tensor == "enc.1.0.slope" && expected == &[1] && found == &[1, 1]),
        "{err:?}"
    );

    // A NaN or infinite slope.
    let Activation::Prelu(stored) = w.dec[0].convs[1].activation else { panic!("dec.0.1 has no slope") };
    for bad in [f32::NAN, f32::NEG_INFINITY] {
        let mut edited = bytes.clone();
        let at = data_start(&bytes, "dec.0.1.slope");
        assert_eq!(edited[at..at + 4], stored.get().to_le_bytes(), "offset of dec.0.1.slope");
        edited[at..at + 4].copy_from_slice(&bad.to_le_bytes());
        let err = ClutterWeights::from_safetensors(&edited).err();
        let msg = err.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(matches!(&err, Some(WeightsError::TensorValue { tensor, .. }) if tensor == "dec.0.1.slope"), "{msg}");
        assert!(msg.contains("finite"), "{msg}");
    }

    // Slopes in a net that says it is linear, or that states no activation (linear by default).
    for to in ["\"activation\":\"linear\"", "\"activation_was\":\"prelu\""] {
        let stray = with_header(&bytes, |h| h.replace("\"activation\":\"prelu\"", to));
        assert_ne!(stray, bytes);
        let err = ClutterWeights::from_safetensors(&stray).err();
        let msg = err.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(
            matches!(&err, Some(WeightsError::StrayTensor { tensor, .. }) if tensor.ends_with(".slope")),
            "{to}: {msg}"
        );
        assert!(msg.contains("linear"), "{msg}");
    }

    // An unknown activation names the supported ones.
    let relu = with_header(&bytes, |h| h.replace("\"activation\":\"prelu\"", "\"activation\":\"relu\""));
    let msg = ClutterWeights::from_safetensors(&relu).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("activation") && msg.contains("prelu") && msg.contains("linear"), "{msg}");
}
