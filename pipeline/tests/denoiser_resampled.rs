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

/// The fixture's noisy speech (48 kHz, 16-bit), averaged over 3 samples to 16 kHz.
fn speech_16k() -> Vec<f32> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/libdf_input.wav");
    let wav = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    // The script writes a canonical 44-byte header.
    let x: Vec<f32> =
        wav[44..].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
    x.chunks_exact(3).map(|c| (c[0] + c[1] + c[2]) / 3.0).collect()
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
