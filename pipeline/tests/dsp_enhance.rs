//! Back end: deep filtering, post-filter, attenuation limit, stage decisions, silence gate, and
//! the per-channel driver's order of operations and latency.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_pipeline::dsp::{
    AttenLimit, Complex32, Dfn3Dsp, DspConfig, DspError, Enhancer, FrontEnd, NoisyRing, RmsGate, Stage, StageOutput,
    StageThresholds, deep_filter, post_filter,
};

fn c(re: f32, im: f32) -> Complex32 {
    Complex32::new(re, im)
}

fn rand_spec(r: &mut StdRng, n: usize) -> Vec<Complex32> {
    (0..n).map(|_| c(r.random_range(-1.0f32..1.0), r.random_range(-1.0f32..1.0))).collect()
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A ring filled with 5 random frames; returns the frames oldest first (t−4..t).
fn filled_ring(r: &mut StdRng) -> (NoisyRing, Vec<Vec<Complex32>>) {
    let mut ring = ok(NoisyRing::new(&DspConfig::DFN3));
    let frames: Vec<Vec<Complex32>> = (0..5).map(|_| rand_spec(r, 481)).collect();
    for f in &frames {
        ok(ring.push(f));
    }
    (ring, frames)
}

#[test]
fn ring_ages_frames_newest_first() {
    let mut r = StdRng::seed_from_u64(1);
    let (mut ring, frames) = filled_ring(&mut r);
    for age in 0..5 {
        assert_eq!(ring.frame(age), frames[4 - age].as_slice(), "age {age}");
    }
    let newer = rand_spec(&mut r, 481);
    ok(ring.push(&newer));
    assert_eq!(ring.frame(0), newer.as_slice());
    assert_eq!(ring.frame(4), frames[1].as_slice());
    ring.reset();
    assert!((0..5).all(|a| ring.frame(a).iter().all(|x| *x == c(0.0, 0.0))));
}

#[test]
fn deep_filter_equals_naive_complex_sum() {
    let mut r = StdRng::seed_from_u64(2);
    let (ring, frames) = filled_ring(&mut r);
    let coefs: Vec<f32> = (0..96 * 10).map(|_| r.random_range(-1.0f32..1.0)).collect();
    let before = rand_spec(&mut r, 481);
    let mut out = before.clone();
    ok(deep_filter(&ring, 96, &coefs, &mut out));
    for k in 0..96 {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (i, frame) in frames.iter().enumerate() {
            let (xr, xi) = (f64::from(frame[k].re), f64::from(frame[k].im));
            let (cr, ci) = (f64::from(coefs[k * 10 + 2 * i]), f64::from(coefs[k * 10 + 2 * i + 1]));
            re += xr * cr - xi * ci;
            im += xr * ci + xi * cr;
        }
        assert!((f64::from(out[k].re) - re).abs() < 1e-5 && (f64::from(out[k].im) - im).abs() < 1e-5, "bin {k}");
    }
    assert_eq!(&out[96..], &before[96..], "bins ≥ nb_df untouched");
    // Wrong coefficient count is an error.
    assert!(deep_filter(&ring, 96, &coefs[..959], &mut out).is_err());
}

/// The post-filter gain in f64 from the spec's formula.
fn pf_gain(y: Complex32, x: Complex32, beta: f64) -> f64 {
    let g = (f64::from(y.norm()) / (f64::from(x.norm()) + 1e-12)).clamp(1e-12, 1.0);
    let s = (std::f64::consts::PI * g / 2.0).sin();
    (1.0 + beta) / (1.0 + beta / (s * s))
}

#[test]
fn post_filter_follows_formula_and_skips_nyquist() {
    let mut r = StdRng::seed_from_u64(3);
    let noisy = rand_spec(&mut r, 481);
    // Enhanced = noisy × gains from 0.05 to 1.2 (above 1 clamps to g = 1), plus an exact zero.
    let mut enh: Vec<Complex32> = noisy.iter().enumerate().map(|(k, x)| x * (0.05 + 1.15 * k as f32 / 480.0)).collect();
    enh[7] = c(0.0, 0.0);
    let before = enh.clone();
    let beta = 0.02;
    ok(post_filter(&noisy, &mut enh, beta as f32));
    for k in 0..480 {
        let want = pf_gain(before[k], noisy[k], beta);
        let got = if before[k].norm() > 0.0 { f64::from(enh[k].norm() / before[k].norm()) } else { want };
        assert!((got - want).abs() < 1e-5 * want.max(1.0), "bin {k}: gain {got} vs {want}");
        // A real gain: the phase is kept.
        assert!((enh[k] * before[k].conj()).im.abs() < 1e-5, "bin {k} phase");
    }
    assert_eq!(enh[7], c(0.0, 0.0));
    // g ≥ 1 → (1+β)/(1+β) = 1: unchanged.
    assert!((enh[470].norm() - before[470].norm()).abs() < 1e-6);
    // libDF's chunks of 4: bin 480 (Nyquist) is never post-filtered.
    assert_eq!(enh[480], before[480]);
    // Small gains are pushed down: g = 0.05 gets a further factor 1.02/(1 + 0.02/sin²(0.025π)) ≈ 0.24.
    assert!(enh[0].norm() < before[0].norm() * 0.25);
}

#[test]
fn atten_limit_settings() {
    assert_eq!(AttenLimit::from_db(100.0), AttenLimit::Disabled);
    assert_eq!(AttenLimit::from_db(-150.0), AttenLimit::Disabled);
    assert_eq!(AttenLimit::from_db(f32::NAN), AttenLimit::Disabled);
    assert_eq!(AttenLimit::from_db(0.0), AttenLimit::Bypass);
    assert_eq!(AttenLimit::from_db(-0.009), AttenLimit::Bypass);
    match AttenLimit::from_db(-12.0) {
        AttenLimit::Mix { lim } => assert!((lim - 0.251_188_6).abs() < 1e-6, "{lim}"),
        other => panic!("{other:?}"),
    }
    match AttenLimit::from_db(99.9) {
        AttenLimit::Mix { lim } => assert!(lim > 0.0 && lim < 1.1e-5, "{lim}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(AttenLimit::from_db(0.01), AttenLimit::Mix { .. }));
}

#[test]
fn enhancer_applies_stages_in_libdf_order() {
    let mut r = StdRng::seed_from_u64(4);
    let cfg = DspConfig::DFN3;
    let (ring, frames) = filled_ring(&mut r);
    let target = &frames[2]; // t−2
    let mask: Vec<f32> = (0..32).map(|_| r.random_range(0.01f32..1.0)).collect();
    let coefs: Vec<f32> = (0..960).map(|_| r.random_range(-0.5f32..0.5)).collect();
    let mut e = ok(Enhancer::new(&cfg));
    let mut y = vec![c(0.0, 0.0); 481];

    ok(e.run(&ring, StageOutput::Passthrough, &mut y));
    assert_eq!(y.as_slice(), target.as_slice(), "passthrough emits the noisy frame t−2");

    ok(e.run(&ring, StageOutput::ZeroMask, &mut y));
    assert!(y.iter().all(|v| v.norm() == 0.0));

    let mut masked = target.clone();
    ok(e.bands().apply_gains(&mask, &mut masked));
    ok(e.run(&ring, StageOutput::Erb { mask: &mask }, &mut y));
    assert_eq!(y, masked);

    let mut dfd = masked.clone();
    ok(deep_filter(&ring, 96, &coefs, &mut dfd));
    ok(e.run(&ring, StageOutput::ErbDf { mask: &mask, coefs: &coefs }, &mut y));
    assert_eq!(y, dfd, "DF replaces bins < 96 of the masked frame");

    // Post-filter on ERB stages only, then the attenuation mix with the noisy frame t−2.
    e.set_post_filter_beta(0.02);
    e.set_atten_lim_db(-12.0);
    let lim = 10f32.powf(-12.0 / 20.0);
    let mut want = dfd.clone();
    ok(post_filter(target, &mut want, 0.02));
    for (w, x) in want.iter_mut().zip(target) {
        *w = *w * (1.0 - lim) + x * lim;
    }
    ok(e.run(&ring, StageOutput::ErbDf { mask: &mask, coefs: &coefs }, &mut y));
    for k in 0..481 {
        assert!((y[k] - want[k]).norm() < 1e-6, "bin {k}");
    }
    // Zero mask: no post-filter, but the noisy floor is mixed back: lim·X.
    ok(e.run(&ring, StageOutput::ZeroMask, &mut y));
    for k in 0..481 {
        assert!((y[k] - target[k] * lim).norm() < 1e-6, "bin {k}");
    }
    // Passthrough with a limit: (1−lim)·X + lim·X = X.
    ok(e.run(&ring, StageOutput::Passthrough, &mut y));
    for k in 0..481 {
        assert!((y[k] - target[k]).norm() < 1e-6, "bin {k}");
    }
    // β ≤ 0 turns the post-filter off; ≥ 100 dB disables the limit: plain masked + DF output.
    e.set_post_filter_beta(0.0);
    e.set_atten_lim_db(100.0);
    ok(e.run(&ring, StageOutput::ErbDf { mask: &mask, coefs: &coefs }, &mut y));
    assert_eq!(y, dfd);
    // Wrong mask length: a typed error.
    assert!(e.run(&ring, StageOutput::Erb { mask: &mask[..31] }, &mut y).is_err());
}

#[test]
fn stage_decision_table() {
    let t = StageThresholds::C_API;
    for (lsnr, want) in [
        (-15.0, Stage::ErbAndDf),
        (-15.01, Stage::ZeroMask),
        (0.0, Stage::ErbAndDf),
        (35.0, Stage::ErbAndDf),
        (35.01, Stage::Passthrough),
        (f32::NAN, Stage::ErbAndDf),
    ] {
        assert_eq!(t.decide(lsnr), want, "C API, lsnr {lsnr}");
    }
    let t = StageThresholds::LIBRARY_DEFAULT;
    for (lsnr, want) in [
        (-12.0, Stage::ZeroMask),
        (-10.0, Stage::ErbAndDf),
        (20.0, Stage::ErbAndDf),
        (25.0, Stage::ErbOnly),
        (30.0, Stage::ErbOnly),
        (31.0, Stage::Passthrough),
    ] {
        assert_eq!(t.decide(lsnr), want, "library default, lsnr {lsnr}");
    }
    assert_eq!(StageThresholds::default(), StageThresholds::C_API);
    let runs: Vec<(bool, bool, bool)> = [Stage::ZeroMask, Stage::Passthrough, Stage::ErbOnly, Stage::ErbAndDf]
        .iter()
        .map(|s| (s.runs_erb_decoder(), s.runs_df_decoder(), s.applies_gain()))
        .collect();
    assert_eq!(runs, [(false, false, true), (false, false, false), (true, false, true), (true, true, true)]);
}

#[test]
fn rms_gate_skips_after_more_than_five_quiet_hops() {
    let quiet = [1e-4f32; 480]; // mean square 1e-8 < 1e-7
    let loud = [1e-3f32; 480]; // mean square 1e-6
    let mut g = RmsGate::new();
    for i in 1..=5 {
        assert!(!g.observe(&quiet), "quiet hop {i} is still processed");
    }
    assert!(g.observe(&quiet), "the 6th quiet hop is skipped");
    assert!(g.observe(&quiet));
    assert!(!g.observe(&loud), "a loud hop resets");
    assert_eq!(g.count(), 0);
    // A gain resets the counter, a passthrough frame counts like a quiet hop.
    for _ in 0..5 {
        assert!(!g.observe(&quiet));
    }
    g.record(Stage::ErbAndDf);
    assert_eq!(g.count(), 0);
    g.record(Stage::Passthrough);
    g.record(Stage::Passthrough);
    assert_eq!(g.count(), 2);
}

fn run_driver(d: &mut Dfn3Dsp, x: &[f32], net: impl Fn(usize) -> Option<(Vec<f32>, Vec<f32>)>) -> Vec<f32> {
    let (mut fe, mut fs) = (vec![0.0; 32], vec![0.0; 192]);
    let mut y = vec![0.0; x.len()];
    for (t, (h, o)) in x.chunks_exact(480).zip(y.chunks_exact_mut(480)).enumerate() {
        if ok(d.front(h, o, &mut fe, &mut fs)) == FrontEnd::Features {
            match net(t) {
                None => ok(d.back(StageOutput::Passthrough, o)),
                Some((m, co)) => ok(d.back(StageOutput::ErbDf { mask: &m, coefs: &co }, o)),
            }
        }
    }
    y
}

#[test]
fn driver_delays_by_1440_samples_and_bypass_by_none() {
    let mut r = StdRng::seed_from_u64(6);
    let x: Vec<f32> = (0..480 * 40).map(|_| r.random_range(-0.5f32..0.5)).collect();
    let mut d = ok(Dfn3Dsp::new(&DspConfig::DFN3));
    assert_eq!(d.latency_samples(), 1440);
    let max_err = |y: &[f32]| y[1440..].iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);

    // Passthrough each frame: the noisy frame t−2 resynthesised = input delayed by 1440.
    let y = run_driver(&mut d, &x, |_| None);
    assert!(y[..1440].iter().all(|v| v.abs() < 1e-6));
    assert!(max_err(&y) < 1e-5, "passthrough delay error {}", max_err(&y));

    // Unit mask and a DF tap of 1 on the target frame (i = 2) is also the identity.
    d.reset();
    let mut co = vec![0.0f32; 960];
    for k in 0..96 {
        co[k * 10 + 4] = 1.0;
    }
    let y = run_driver(&mut d, &x, |_| Some((vec![1.0; 32], co.clone())));
    assert!(max_err(&y) < 1e-5, "identity DF delay error {}", max_err(&y));

    // Bypass: the output is the input hop itself, bit-exact, with no delay.
    d.reset();
    d.set_atten_lim_db(0.0);
    let y = run_driver(&mut d, &x, |_| panic!("bypass must not ask for the network"));
    assert_eq!(y, x);
}

#[test]
fn driver_silences_digital_silence_after_five_passthrough_hops() {
    let mut d = ok(Dfn3Dsp::new(&DspConfig::DFN3));
    let (mut fe, mut fs, mut o) = (vec![0.0; 32], vec![0.0; 192], vec![1.0f32; 480]);
    let zeros = [0.0f32; 480];
    // Each zero hop increments, and each passthrough frame increments again: hops 1–3 run.
    let mut fronts = vec![];
    for _ in 0..5 {
        let f = ok(d.front(&zeros, &mut o, &mut fe, &mut fs));
        fronts.push(f);
        if f == FrontEnd::Features {
            ok(d.back(StageOutput::Passthrough, &mut o));
        }
    }
    assert_eq!(
        fronts,
        [FrontEnd::Features, FrontEnd::Features, FrontEnd::Features, FrontEnd::Silent, FrontEnd::Silent]
    );
    assert!(o.iter().all(|&v| v == 0.0));
    // front twice without back is refused too.
    d.reset();
    assert_eq!(ok(d.front(&zeros, &mut o, &mut fe, &mut fs)), FrontEnd::Features);
    assert!(matches!(d.front(&zeros, &mut o, &mut fe, &mut fs), Err(DspError::Sequence(_))));
    ok(d.back(StageOutput::ZeroMask, &mut o));
    // With a gain applied every frame (C-API thresholds), zeros never trigger the gate.
    for _ in 0..50 {
        assert_eq!(ok(d.front(&zeros, &mut o, &mut fe, &mut fs)), FrontEnd::Features);
        ok(d.back(StageOutput::ZeroMask, &mut o));
    }
}
