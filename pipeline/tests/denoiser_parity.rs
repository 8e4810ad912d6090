//! The streaming [`Denoiser`] against libDF's C API (fixtures made by
//! `tests/fixtures/make_libdf_fixtures.py`) and, for lsnr thresholds the C API cannot take,
//! against the NumPy reference of the libDF pipeline (`tests/fixtures/make_gated_fixtures.py`);
//! and its streaming contract: chunking, channels, alignment, errors.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rand::{Rng, SeedableRng, rngs::StdRng};
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::denoise::{DenoiseError, Denoiser, DenoiserSettings};
use sluice_pipeline::dsp::StageThresholds;

fn model() -> Arc<Dfn3Model> {
    static MODEL: OnceLock<Arc<Dfn3Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let w = Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"));
            Arc::new(Dfn3Model::new(&w).unwrap_or_else(|e| panic!("planning the DFN3 model: {e}")))
        })
        .clone()
}

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn f32s(name: &str) -> Vec<f32> {
    fixture(name).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The fixture input: a 16-bit mono WAV, scaled by 1/32768 as the script fed libDF.
fn input() -> Vec<f32> {
    let wav = fixture("libdf_input.wav");
    let mut pos = 12;
    while pos + 8 <= wav.len() {
        let id = &wav[pos..pos + 4];
        let len = u32::from_le_bytes([wav[pos + 4], wav[pos + 5], wav[pos + 6], wav[pos + 7]]) as usize;
        if id == b"data" {
            return wav[pos + 8..pos + 8 + len]
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect();
        }
        pos += 8 + len + (len & 1);
    }
    panic!("libdf_input.wav has no data chunk")
}

fn new_denoiser(channels: usize, s: DenoiserSettings) -> Denoiser {
    let mut d = Denoiser::new(model(), channels).unwrap_or_else(|e| panic!("Denoiser::new: {e}"));
    d.set_settings(s);
    d
}

/// Runs hop by hop, returning the raw output and the per-hop lsnr of channel 0.
fn run_hops(d: &mut Denoiser, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let hop = d.hop() * d.channels();
    let mut y = vec![0.0; x.len()];
    let mut lsnr = Vec::new();
    for (i, o) in x.chunks_exact(hop).zip(y.chunks_exact_mut(hop)) {
        let (c, p) = d.process(i, o).unwrap_or_else(|e| panic!("process: {e}"));
        assert_eq!((c, p), (hop, hop));
        lsnr.push(d.lsnr(0).unwrap_or(f32::NAN));
    }
    (y, lsnr)
}

fn parity(name: &str, s: DenoiserSettings) {
    parity_with_lsnr(name, &format!("{name}_lsnr.f32"), s);
}

fn parity_with_lsnr(name: &str, lsnr_fixture: &str, s: DenoiserSettings) {
    let x = input();
    let want = f32s(&format!("{name}.f32"));
    let want_lsnr = f32s(lsnr_fixture);
    assert_eq!(want.len(), x.len());
    let (got, lsnr) = run_hops(&mut new_denoiser(1, s), &x);
    let max_err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let sig: f64 = want.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let err: f64 = got.iter().zip(&want).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    let snr_db = 10.0 * (sig / err.max(1e-300)).log10();
    let lsnr_err = lsnr.iter().zip(&want_lsnr).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("{name}: max abs err {max_err:.3e}, error SNR {snr_db:.1} dB, max lsnr err {lsnr_err:.3e} dB");
    assert!(max_err <= 1e-4, "{name}: max abs error {max_err}");
    assert!(snr_db >= 60.0, "{name}: error SNR {snr_db} dB");
    assert!(lsnr_err <= 1e-3, "{name}: lsnr error {lsnr_err} dB");
}

#[test]
fn matches_libdf_default_settings() {
    parity("libdf_default", DenoiserSettings::default());
}

#[test]
fn matches_libdf_atten_limit_and_post_filter() {
    parity("libdf_lim12_pf", DenoiserSettings { atten_lim_db: 12.0, post_filter_beta: 0.02, ..Default::default() });
}

/// libDF's library thresholds: the 196 noise-only hops of this input get a zero mask and run
/// no decoder, so the decoders' states skip them, as libDF's do.
#[test]
fn matches_reference_with_library_thresholds() {
    let s = DenoiserSettings { thresholds: StageThresholds::LIBRARY_DEFAULT, ..Default::default() };
    // The encoder runs on every hop whatever the thresholds: the same lsnr as libDF's.
    parity_with_lsnr("ref_gated_library", "libdf_default_lsnr.f32", s);
}

/// Thresholds under which every stage occurs many times (zero mask 211 hops, passthrough 61,
/// ERB only 123, both 14), so each decoder resumes from frozen state again and again.
#[test]
fn matches_reference_when_every_stage_occurs() {
    let t = StageThresholds { min_db: -5.0, max_erb_db: 10.0, max_df_db: 0.0 };
    parity_with_lsnr(
        "ref_gated_stages",
        "libdf_default_lsnr.f32",
        DenoiserSettings { thresholds: t, ..Default::default() },
    );
}

/// Random input and output chunk sizes (including ones too small for a hop's output) give the
/// same stream as whole hops.
#[test]
fn chunked_streaming_equals_one_shot() {
    let x: Vec<f32> = input()[..48_000].to_vec();
    let s = DenoiserSettings { atten_lim_db: 12.0, post_filter_beta: 0.02, ..Default::default() };
    let (want, _) = run_hops(&mut new_denoiser(1, s), &x);
    let mut d = new_denoiser(1, s);
    let mut rng = StdRng::seed_from_u64(7);
    let mut got = Vec::new();
    let mut out = vec![0.0; 3000];
    let mut pos = 0;
    while pos < x.len() {
        let n = rng.random_range(0..=1700).min(x.len() - pos);
        let room = rng.random_range(0..=out.len());
        let (c, p) = d.process(&x[pos..pos + n], &mut out[..room]).unwrap_or_else(|e| panic!("process: {e}"));
        assert!(c <= n && p <= room && p % d.hop() == 0);
        got.extend_from_slice(&out[..p]);
        pos += c;
    }
    assert_eq!(got.len(), want.len());
    assert!(got == want, "chunked stream differs from hop-by-hop stream");
}

/// Two different channels, interleaved, each equal their own mono stream.
#[test]
fn stereo_equals_each_channel_alone() {
    let x = input();
    let l: Vec<f32> = x[..24_000].to_vec();
    let r: Vec<f32> = x[24_000..48_000].iter().map(|v| 0.5 * v).collect();
    let st: Vec<f32> = l.iter().zip(&r).flat_map(|(&a, &b)| [a, b]).collect();
    let s = DenoiserSettings::default();
    let (yl, _) = run_hops(&mut new_denoiser(1, s), &l);
    let (yr, _) = run_hops(&mut new_denoiser(1, s), &r);
    let (ys, _) = run_hops(&mut new_denoiser(2, s), &st);
    let (gl, gr): (Vec<f32>, Vec<f32>) = ys.chunks_exact(2).map(|f| (f[0], f[1])).unzip();
    assert!(gl == yl, "left channel differs from mono");
    assert!(gr == yr, "right channel differs from mono");
}

/// The aligned convenience is the raw stream shifted left by the latency, same length as the
/// input, and the flushed tail is what more zero input would produce.
#[test]
fn aligned_buffer_is_raw_stream_shifted_by_latency() {
    let x: Vec<f32> = input()[..30_011].to_vec();
    let s = DenoiserSettings::default();
    let mut d = new_denoiser(1, s);
    assert_eq!(d.latency(), 1440);
    let aligned = d.denoise_buffer(&x).unwrap_or_else(|e| panic!("denoise_buffer: {e}"));
    assert_eq!(aligned.len(), x.len());
    let padded_len = (x.len() + 1440).div_ceil(480) * 480;
    let mut padded = x.clone();
    padded.resize(padded_len, 0.0);
    let (raw, _) = run_hops(&mut new_denoiser(1, s), &padded);
    assert!(aligned[..] == raw[1440..1440 + x.len()], "aligned output is not raw shifted by 1440");
    // Reused after denoise_buffer (which resets), the same input gives the same result.
    assert!(d.denoise_buffer(&x).unwrap_or_else(|e| panic!("denoise_buffer: {e}")) == aligned);
}

/// Stereo aligned output has the input's length too.
#[test]
fn aligned_buffer_stereo_length() {
    let x: Vec<f32> = input()[..9_602].to_vec();
    let mut d = new_denoiser(2, DenoiserSettings::default());
    let y = d.denoise_buffer(&x).unwrap_or_else(|e| panic!("denoise_buffer: {e}"));
    assert_eq!(y.len(), x.len());
}

#[test]
fn reset_restarts_the_stream() {
    let x: Vec<f32> = input()[..9_600].to_vec();
    let mut d = new_denoiser(1, DenoiserSettings::default());
    let (a, _) = run_hops(&mut d, &x);
    d.reset();
    assert_eq!(d.position(), (0, 0));
    let (b, _) = run_hops(&mut d, &x);
    assert!(a == b);
}

#[test]
fn bad_lengths_are_typed_errors() {
    let mut d = new_denoiser(2, DenoiserSettings::default());
    let mut out = vec![0.0; 960];
    match d.process(&[0.0; 3], &mut out) {
        Err(DenoiseError::PartialFrame { what: "input", len: 3, channels: 2 }) => {}
        other => panic!("odd stereo input: {other:?}"),
    }
    match d.process(&[0.0; 4], &mut out[..5]) {
        Err(DenoiseError::PartialFrame { what: "output", len: 5, channels: 2 }) => {}
        other => panic!("odd stereo output: {other:?}"),
    }
    assert!(matches!(d.denoise_buffer(&[0.0; 7]), Err(DenoiseError::PartialFrame { what: "input", .. })));
    // Nothing advanced.
    assert_eq!(d.position(), (0, 0));
    let needed = d.flush_len();
    assert_eq!(needed, 3 * 480 * 2);
    match d.flush(&mut out) {
        Err(DenoiseError::OutputTooSmall { needed: n, got: 960 }) if n == needed => {}
        other => panic!("short flush buffer: {other:?}"),
    }
    assert!(matches!(Denoiser::new(model(), 0), Err(DenoiseError::InvalidConfig(_))));
}
