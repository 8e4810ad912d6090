//! ERB band layout and the two normalised network features, against the spec's lists and a
//! straightforward f64 re-implementation.

use sluice_pipeline::dsp::{Analysis, Complex32, DspConfig, ErbBands, ErbFeatures, SpecFeatures, norm_alpha};

const WIDTHS: [usize; 32] =
    [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5, 5, 7, 7, 8, 10, 12, 13, 15, 18, 20, 24, 28, 31, 37, 42, 50, 56, 67];
const STARTS: [usize; 32] = [
    0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 31, 36, 43, 50, 58, 68, 80, 93, 108, 126, 146, 170, 198, 229,
    266, 308, 358, 414,
];

fn erb() -> ErbBands {
    ErbBands::new(&DspConfig::DFN3).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn erb_layout_is_the_spec_list() {
    let b = erb();
    assert_eq!(b.widths(), &WIDTHS);
    assert_eq!(b.starts(), &STARTS);
    assert_eq!(b.freq_bins(), 481);
    // Band edges in Hz (start bin × 50 Hz) as listed in the spec, ending past Nyquist at 24050.
    let edges: Vec<usize> = b.starts().iter().map(|s| s * 50).chain([481 * 50]).collect();
    assert_eq!(
        &edges[13..],
        &[
            1300, 1550, 1800, 2150, 2500, 2900, 3400, 4000, 4650, 5400, 6300, 7300, 8500, 9900, 11450, 13300, 15400,
            17900, 20700, 24050
        ]
    );
}

#[test]
fn erb_layout_of_other_configs_covers_all_bins() {
    for (sr, fft, nb, min) in [(48000, 960, 32, 2), (16000, 320, 32, 1), (24000, 192, 24, 1), (48000, 1920, 32, 2)] {
        let b = ErbBands::from_params(sr, fft, nb, min).unwrap_or_else(|e| panic!("{sr} {fft} {nb}: {e}"));
        assert_eq!(b.len(), nb);
        assert_eq!(b.freq_bins(), fft / 2 + 1, "{sr} {fft} {nb}");
        assert!(b.widths().iter().all(|&w| w >= min.max(1)), "{:?}", b.widths());
    }
    // 32 bands of ≥ 2 bins cannot fit 17 bins: an error, not a panic.
    assert!(ErbBands::from_params(48000, 32, 32, 2).is_err());
}

#[test]
fn apply_gains_multiplies_each_band() {
    let b = erb();
    let spec: Vec<Complex32> = (0..481).map(|k| Complex32::new(k as f32, -(k as f32) * 0.5)).collect();
    let gains: Vec<f32> = (0..32).map(|i| 0.03 * i as f32 + 0.01).collect();
    let mut y = spec.clone();
    b.apply_gains(&gains, &mut y).unwrap_or_else(|e| panic!("{e}"));
    for k in 0..481 {
        let band = STARTS.iter().rposition(|&s| s <= k).unwrap_or_else(|| panic!("bin {k}"));
        assert_eq!(y[k], spec[k] * gains[band], "bin {k}");
    }
}

#[test]
fn norm_alpha_rounds_as_libdf() {
    assert_eq!(norm_alpha(48000, 480, 1.0), 0.99);
    assert_eq!(norm_alpha(16000, 160, 1.0), 0.99);
    assert_eq!(norm_alpha(48000, 480, 0.1), 0.905); // exp(−0.1) = 0.904837
    assert_eq!(norm_alpha(48000, 48, 1.0), 0.999); // exp(−0.001) = 0.9990005
    // exp(−1e-4) = 0.99990 rounds to 1.000 at 3 digits, so 4 digits are kept.
    assert_eq!(norm_alpha(48000, 48, 10.0), 0.9999);
}

/// Frames of a 1 kHz + 3.3 kHz sine mix with a slow amplitude ramp, through our analysis.
fn sine_frames(n: usize) -> Vec<Vec<Complex32>> {
    let mut a = Analysis::new(&DspConfig::DFN3).unwrap_or_else(|e| panic!("{e}"));
    (0..n)
        .map(|t| {
            let hop: Vec<f32> = (0..480)
                .map(|i| {
                    let s = (t * 480 + i) as f64 / 48000.0;
                    let amp = 0.05 + 0.4 * (t as f64 / n as f64);
                    (amp * (2.0 * std::f64::consts::PI * 1000.0 * s).sin()
                        + 0.1 * (2.0 * std::f64::consts::PI * 3300.0 * s).sin()) as f32
                })
                .collect();
            let mut spec = vec![Complex32::new(0.0, 0.0); 481];
            a.process(&hop, &mut spec).unwrap_or_else(|e| panic!("{e}"));
            spec
        })
        .collect()
}

#[test]
fn erb_feature_matches_f64_definition() {
    let frames = sine_frames(120);
    let mut f = ErbFeatures::new(&DspConfig::DFN3).unwrap_or_else(|e| panic!("{e}"));
    let mut state: Vec<f64> = (0..32).map(|b| -60.0 - 30.0 * b as f64 / 31.0).collect();
    assert!(f.state().iter().zip(&state).all(|(a, b)| (f64::from(*a) - b).abs() < 1e-5));
    let alpha = 0.99f64;
    let mut out = vec![0.0f32; 32];
    for (t, x) in frames.iter().enumerate() {
        f.process(x, &mut out).unwrap_or_else(|e| panic!("{e}"));
        for b in 0..32 {
            let p: f64 = x[STARTS[b]..STARTS[b] + WIDTHS[b]]
                .iter()
                .map(|c| f64::from(c.re).powi(2) + f64::from(c.im).powi(2))
                .sum::<f64>()
                / WIDTHS[b] as f64;
            let db = 10.0 * (p + 1e-10).log10();
            state[b] = db * (1.0 - alpha) + state[b] * alpha;
            let want = (db - state[b]) / 40.0;
            let err = (f64::from(out[b]) - want).abs();
            assert!(err < 2e-5, "frame {t} band {b}: {} vs {want}", out[b]);
        }
    }
    // The sine bands rise well above their running mean at first (feature > 0).
    let band_1k = STARTS.iter().rposition(|&s| s <= 20).unwrap_or(0);
    let mut f2 = ErbFeatures::new(&DspConfig::DFN3).unwrap_or_else(|e| panic!("{e}"));
    f2.process(&frames[1], &mut out).unwrap_or_else(|e| panic!("{e}"));
    assert!(out[band_1k] > 0.5, "1 kHz band feature {}", out[band_1k]);
    // reset() restores the initial state exactly.
    let init = ErbFeatures::new(&DspConfig::DFN3).unwrap_or_else(|e| panic!("{e}")).state().to_vec();
    assert_ne!(f.state(), init.as_slice());
    f.reset();
    assert_eq!(f.state(), init.as_slice());
}

#[test]
fn spec_feature_matches_f64_definition() {
    let frames = sine_frames(120);
    let mut f = SpecFeatures::new(&DspConfig::DFN3).unwrap_or_else(|e| panic!("{e}"));
    let mut u: Vec<f64> = (0..96).map(|k| 0.001 + (0.0001 - 0.001) * k as f64 / 95.0).collect();
    let alpha = 0.99f64;
    let mut out = vec![0.0f32; 192];
    for (t, x) in frames.iter().enumerate() {
        f.process(x, &mut out).unwrap_or_else(|e| panic!("{e}"));
        for k in 0..96 {
            let (re, im) = (f64::from(x[k].re), f64::from(x[k].im));
            u[k] = (re * re + im * im).sqrt() * (1.0 - alpha) + u[k] * alpha;
            let d = u[k].sqrt();
            let (wr, wi) = (re / d, im / d);
            let tol = 1e-5 * (1.0 + wr.abs().max(wi.abs()));
            assert!((f64::from(out[k]) - wr).abs() < tol, "frame {t} bin {k} re: {} vs {wr}", out[k]);
            assert!((f64::from(out[96 + k]) - wi).abs() < tol, "frame {t} bin {k} im: {} vs {wi}", out[96 + k]);
        }
    }
    let init = SpecFeatures::new(&DspConfig::DFN3).unwrap_or_else(|e| panic!("{e}")).state().to_vec();
    assert_ne!(f.state(), init.as_slice());
    f.reset();
    assert_eq!(f.state(), init.as_slice());
}
