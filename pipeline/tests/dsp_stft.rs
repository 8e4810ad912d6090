//! STFT: window identities, agreement with a naive f64 DFT, and perfect reconstruction.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_pipeline::dsp::{Analysis, Complex32, DspConfig, DspError, Synthesis, vorbis_window};

fn cfg() -> DspConfig {
    DspConfig::DFN3
}

#[test]
fn vorbis_window_is_power_complementary() {
    let w = vorbis_window(960);
    assert_eq!(w.len(), 960);
    for n in 0..480 {
        let s = f64::from(w[n]).powi(2) + f64::from(w[n + 480]).powi(2);
        assert!((s - 1.0).abs() < 1e-6, "n={n}: w²[n]+w²[n+480] = {s}");
    }
    let energy: f64 = w.iter().map(|&x| f64::from(x).powi(2)).sum();
    assert!((energy - 480.0).abs() < 1e-4, "Σw² = {energy}");
    assert!((f64::from(w[0]) - 4.2e-6).abs() < 0.1e-6, "w[0] = {}", w[0]);
    // Symmetric, rising to 1 at the centre.
    for n in 0..480 {
        assert_eq!(w[n], w[959 - n], "symmetry at {n}");
    }
    assert!(w[479] > 0.999_99);
}

#[test]
fn analysis_matches_naive_dft_of_the_windowed_pair() {
    let mut r = StdRng::seed_from_u64(7);
    let mut a = Analysis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let w = vorbis_window(960);
    let hops: Vec<Vec<f32>> = (0..3).map(|_| (0..480).map(|_| r.random_range(-1.0f32..1.0)).collect()).collect();
    let mut spec = vec![Complex32::new(0.0, 0.0); 481];
    for t in 0..hops.len() {
        a.process(&hops[t], &mut spec).unwrap_or_else(|e| panic!("{e}"));
        let prev: Vec<f32> = if t == 0 { vec![0.0; 480] } else { hops[t - 1].clone() };
        let buf: Vec<f64> = prev.iter().chain(&hops[t]).zip(&w).map(|(&x, &w)| f64::from(x) * f64::from(w)).collect();
        for k in [0usize, 1, 2, 17, 96, 240, 479, 480] {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (n, &x) in buf.iter().enumerate() {
                let ph = -2.0 * std::f64::consts::PI * (k * n) as f64 / 960.0;
                re += x * ph.cos();
                im += x * ph.sin();
            }
            let (re, im) = (re / 960.0, im / 960.0);
            let got = spec[k];
            assert!(
                (f64::from(got.re) - re).abs() < 2e-6 && (f64::from(got.im) - im).abs() < 2e-6,
                "frame {t} bin {k}: got {got}, want {re}+{im}i"
            );
        }
    }
}

#[test]
fn analysis_then_synthesis_reconstructs_with_one_hop_delay() {
    let mut r = StdRng::seed_from_u64(11);
    let mut a = Analysis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let mut s = Synthesis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let hops = 60;
    let x: Vec<f32> = (0..hops * 480).map(|_| r.random_range(-1.0f32..1.0)).collect();
    let mut y = vec![0.0f32; x.len()];
    let mut spec = vec![Complex32::new(0.0, 0.0); 481];
    for (xi, yi) in x.chunks_exact(480).zip(y.chunks_exact_mut(480)) {
        a.process(xi, &mut spec).unwrap_or_else(|e| panic!("{e}"));
        s.process(&spec, yi).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(y[..480].iter().all(|&v| v.abs() < 1e-5), "first hop is the (zero) start-up overlap");
    let err = y[480..].iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-5, "max reconstruction error {err}");

    // reset() returns both to the start-up state: the same input gives the same output.
    a.reset();
    s.reset();
    let mut y2 = vec![0.0f32; 480 * 3];
    for (xi, yi) in x.chunks_exact(480).zip(y2.chunks_exact_mut(480)) {
        a.process(xi, &mut spec).unwrap_or_else(|e| panic!("{e}"));
        s.process(&spec, yi).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(&y2[..], &y[..480 * 3]);
}

#[test]
fn synthesis_ignores_imaginary_dc_and_nyquist() {
    let mut r = StdRng::seed_from_u64(5);
    let spec: Vec<Complex32> =
        (0..481).map(|_| Complex32::new(r.random_range(-1.0f32..1.0), r.random_range(-1.0f32..1.0))).collect();
    let mut clean = spec.clone();
    clean[0].im = 0.0;
    clean[480].im = 0.0;
    let mut s1 = Synthesis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let mut s2 = Synthesis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let (mut y1, mut y2) = (vec![0.0f32; 480], vec![0.0f32; 480]);
    for _ in 0..2 {
        s1.process(&spec, &mut y1).unwrap_or_else(|e| panic!("{e}"));
        s2.process(&clean, &mut y2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(y1, y2);
    }
}

#[test]
fn synthesis_is_unscaled_inverse_times_window() {
    // First frame (zero overlap memory) against the f64 definition
    // y[n] = w[n]·(X[0] + 2·Σ_{0<k<N/2} Re(X[k]·e^{+j2πkn/N})), with no 1/N.
    let mut s = Synthesis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let mut spec = vec![Complex32::new(0.0, 0.0); 481];
    spec[0] = Complex32::new(0.5, 0.0);
    spec[3] = Complex32::new(0.25, -0.125);
    let mut y = vec![0.0f32; 480];
    s.process(&spec, &mut y).unwrap_or_else(|e| panic!("{e}"));
    let w = vorbis_window(960);
    for (n, &got) in y.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * 3.0 * n as f64 / 960.0;
        let v = 0.5 + 2.0 * (0.25 * ph.cos() + 0.125 * ph.sin());
        let want = v * f64::from(w[n]);
        assert!((f64::from(got) - want).abs() < 1e-5, "n={n}: {got} vs {want}");
    }
}

#[test]
fn wrong_lengths_are_typed_errors() {
    let mut a = Analysis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let mut s = Synthesis::new(&cfg()).unwrap_or_else(|e| panic!("{e}"));
    let mut spec = vec![Complex32::new(0.0, 0.0); 481];
    let e = a.process(&[0.0; 479], &mut spec);
    assert!(matches!(e, Err(DspError::BufferLength { expected: 480, got: 479, .. })), "{e:?}");
    let e = a.process(&[0.0; 480], &mut spec[..480]);
    assert!(matches!(e, Err(DspError::BufferLength { expected: 481, got: 480, .. })), "{e:?}");
    let e = s.process(&spec, &mut [0.0; 481]);
    assert!(matches!(e, Err(DspError::BufferLength { expected: 480, got: 481, .. })), "{e:?}");
    let bad = DspConfig { hop: 400, ..DspConfig::DFN3 };
    assert!(matches!(Analysis::new(&bad), Err(DspError::InvalidConfig { param: "hop", .. })));
}
