//! [`ResampledDenoiser`]: the denoiser at other sample rates, its latency accounting and chunking.

use std::sync::{Arc, OnceLock};

use rand::{Rng, SeedableRng, rngs::StdRng};
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::{DenoiseError, ResampledDenoiser};

fn model() -> Arc<Dfn3Model> {
    static MODEL: OnceLock<Arc<Dfn3Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
            Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")))
        })
        .clone()
}

fn denoiser(channels: usize, rate: usize) -> ResampledDenoiser {
    ResampledDenoiser::new(model(), channels, rate).unwrap_or_else(|e| panic!("ResampledDenoiser::new({rate}): {e}"))
}

/// A seeded band-limited test signal: a few tones with a slow amplitude envelope.
fn tones(rate: usize, frames: usize) -> Vec<f32> {
    (0..frames)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let env = 0.5 + 0.5 * (2.0 * std::f32::consts::PI * 1.5 * t).sin();
            env * (0.2 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                + 0.1 * (2.0 * std::f32::consts::PI * 1230.0 * t).sin()
                + 0.05 * (2.0 * std::f32::consts::PI * 2710.0 * t).sin())
        })
        .collect()
}

fn snr_db(want: &[f32], got: &[f32]) -> f64 {
    let s: f64 = want.iter().map(|&v| f64::from(v).powi(2)).sum();
    let e: f64 = want.iter().zip(got).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    10.0 * (s / e.max(1e-300)).log10()
}

#[test]
fn block_and_latency_per_rate() {
    for (rate, block, latency) in [(44_100, 882, 882 + 1323), (16_000, 160, 160 + 480), (48_000, 480, 480 + 1440)] {
        let d = denoiser(1, rate);
        assert_eq!((d.block(), d.latency()), (block, latency), "{rate} Hz");
    }
}

/// With the model bypassed (attenuation limit 0 dB: no delay inside), the aligned output is the
/// input after a resampling round trip: this checks the resamplers' delay accounting.
#[test]
fn bypass_round_trip_is_aligned() {
    for rate in [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000] {
        let x = tones(rate, rate);
        let mut d = denoiser(1, rate);
        d.inner_mut().set_atten_lim_db(0.0);
        let y = d.denoise_buffer(&x).unwrap_or_else(|e| panic!("denoise_buffer: {e}"));
        assert_eq!(y.len(), x.len());
        // Skip the start-up and end transients of the resamplers.
        let skip = 2 * d.block();
        let snr = snr_db(&x[skip..x.len() - skip], &y[skip..x.len() - skip]);
        println!("{rate} Hz bypass round trip: {snr:.1} dB");
        assert!(snr > 70.0, "{rate} Hz: round trip SNR {snr:.1} dB (misaligned?)");
    }
}

/// A 48 kHz 16-bit mono fixture WAV (the script writes a canonical 44-byte header).
fn wav48(name: &str) -> Vec<f32> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let wav = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    assert_eq!(&wav[36..40], b"data", "{name}: not a canonical WAV");
    wav[44..].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect()
}

/// 48 kHz → 16 kHz by averaging 3 samples (linear, so noisy = clean + noise still holds).
fn to_16k(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(3).map(|c| (c[0] + c[1] + c[2]) / 3.0).collect()
}

/// 48 kHz → 44.1 kHz by linear interpolation (linear, like `to_16k`).
fn to_44k(x: &[f32]) -> Vec<f32> {
    let n = x.len() * 147 / 160;
    (0..n)
        .map(|j| {
            let t = j as f64 * 160.0 / 147.0;
            let i = t as usize;
            let f = (t - i as f64) as f32;
            x[i] * (1.0 - f) + x.get(i + 1).copied().unwrap_or(0.0) * f
        })
        .collect()
}

/// The fixture's noisy speech at 16 kHz.
fn speech_16k() -> Vec<f32> {
    to_16k(&wav48("libdf_input.wav"))
}

/// 16 kHz mono and 44.1 kHz stereo (the second channel a time-reversed copy) come back at their
/// own rate, length and channel count, with the SNR against the clean speech up by ≥ 5 dB on
/// a 5 dB mix.
#[test]
fn enhances_speech_at_16k_mono_and_44k_stereo() {
    let (noisy48, clean48) = (wav48("libdf_input.wav"), wav48("libdf_clean.wav"));
    for (rate, channels) in [(16_000, 1), (44_100, 2)] {
        let conv = |x: &[f32]| if rate == 16_000 { to_16k(x) } else { to_44k(x) };
        let clean = conv(&clean48);
        // Re-mix the fixture's noise at 5 dB SNR at this rate (resampling changed the noise power).
        let noise: Vec<f32> = conv(&noisy48).iter().zip(&clean).map(|(n, c)| n - c).collect();
        let power = |v: &[f32]| v.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        let k = (power(&clean) / (power(&noise) * 10f64.powf(0.5))).sqrt() as f32;
        let noisy: Vec<f32> = clean.iter().zip(&noise).map(|(c, n)| c + k * n).collect();
        let interleave = |x: &[f32]| -> Vec<f32> {
            if channels == 1 { x.to_vec() } else { x.iter().zip(x.iter().rev()).flat_map(|(&a, &b)| [a, b]).collect() }
        };
        let mut d = denoiser(channels, rate);
        let y = d.denoise_buffer(&interleave(&noisy)).unwrap_or_else(|e| panic!("denoise_buffer: {e}"));
        let (clean_i, noisy_i) = (interleave(&clean), interleave(&noisy));
        assert_eq!(y.len(), noisy_i.len());
        for c in 0..channels {
            let pick = |v: &[f32]| -> Vec<f32> { v.iter().skip(c).step_by(channels).copied().collect() };
            let before = snr_db(&pick(&clean_i), &pick(&noisy_i));
            let after = snr_db(&pick(&clean_i), &pick(&y));
            println!("{rate} Hz channel {c}: SNR {before:.1} dB → {after:.1} dB");
            assert!(after >= before + 5.0, "{rate} Hz channel {c}: SNR {before:.1} → {after:.1} dB");
        }
    }
}

/// Denoising speech at 16 kHz: the aligned output correlates best with the input at lag 0
/// (as libDF's raw output does at lag 1440 at 48 kHz).
#[test]
fn denoised_speech_is_aligned() {
    let x = speech_16k();
    let mut d = denoiser(1, 16_000);
    let y = d.denoise_buffer(&x).unwrap_or_else(|e| panic!("denoise_buffer: {e}"));
    assert_eq!(y.len(), x.len());
    let corr = |lag: isize| -> f64 {
        (1000..x.len() - 1000).map(|i| f64::from(x[i]) * f64::from(y[(i as isize + lag) as usize])).sum()
    };
    let best = (-300isize..=300).max_by(|&a, &b| corr(a).total_cmp(&corr(b))).unwrap_or(999);
    assert_eq!(best, 0, "cross-correlation peaks at lag {best}");
}

#[test]
fn chunked_equals_whole_blocks_stereo_44k() {
    let rate = 44_100;
    let mono = tones(rate, rate / 2);
    let x: Vec<f32> = mono.iter().enumerate().flat_map(|(i, &v)| [v, 0.5 * mono[(i * 7) % mono.len()]]).collect();
    let mut d = denoiser(2, rate);
    let mut want = vec![0.0; x.len()];
    let (c, p) = d.process(&x, &mut want).unwrap_or_else(|e| panic!("process: {e}"));
    assert_eq!(c, x.len());
    want.truncate(p);
    d.reset();
    let mut rng = StdRng::seed_from_u64(11);
    let mut got = Vec::new();
    let mut out = vec![0.0; 4000];
    let mut pos = 0;
    while pos < x.len() {
        let n = 2 * rng.random_range(0..=900).min((x.len() - pos) / 2);
        let room = 2 * rng.random_range(0..=out.len() / 2);
        let (c, p) = d.process(&x[pos..pos + n], &mut out[..room]).unwrap_or_else(|e| panic!("process: {e}"));
        got.extend_from_slice(&out[..p]);
        pos += c;
    }
    assert!(got == want, "chunked stream differs");
}

#[test]
fn bad_rates_and_lengths_are_typed_errors() {
    assert!(matches!(ResampledDenoiser::new(model(), 1, 4_000), Err(DenoiseError::InvalidConfig(_))));
    assert!(matches!(ResampledDenoiser::new(model(), 1, 44_101), Err(DenoiseError::InvalidConfig(_))));
    let mut d = denoiser(2, 44_100);
    let mut out = vec![0.0; 10];
    assert!(matches!(d.process(&[0.0; 3], &mut out), Err(DenoiseError::PartialFrame { what: "input", .. })));
    assert!(matches!(d.flush(&mut out), Err(DenoiseError::OutputTooSmall { .. })));
}
