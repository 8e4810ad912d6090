//! `sluice denoise` end to end: the real binary on real files.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_pipeline::audio::{AudioReader, to_i16};
use sluice_pipeline::denoise::{Denoiser, ResampledDenoiser};
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

fn fixture_wav() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipeline/tests/fixtures/libdf_input.wav")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn sluice(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("denoise")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running sluice: {e}"))
}

/// Runs `sluice denoise IN OUT`, requiring success.
fn denoise_ok(input: &Path, output: &Path) {
    let out = sluice(&[input, output]);
    assert!(
        out.status.success(),
        "sluice denoise {} failed: {}",
        input.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("real-time factor"), "no summary line: {stdout}");
}

/// A WAV's spec and its samples as i16.
fn read_wav16(path: &Path) -> (hound::WavSpec, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let samples = r.samples::<i16>().collect::<Result<Vec<_>, _>>().unwrap_or_else(|e| panic!("{e}"));
    (spec, samples)
}

fn write_wav16(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
    let spec =
        hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap_or_else(|e| panic!("{e}"));
    for &s in samples {
        w.write_sample(s).unwrap_or_else(|e| panic!("{e}"));
    }
    w.finalize().unwrap_or_else(|e| panic!("{e}"));
}

fn to_f32(x: &[i16]) -> Vec<f32> {
    x.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

/// Every sample `AudioReader` decodes from `path`.
fn decode_all(path: &Path) -> Vec<f32> {
    let mut r = AudioReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut all = Vec::new();
    while let Some(chunk) = r.next_chunk().unwrap_or_else(|e| panic!("{e}")) {
        all.extend_from_slice(chunk);
    }
    all
}

/// Files in `dir` (the output and any leftover temporary file).
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// `--gating lsnr` runs libDF's library thresholds: equal to the library with them, and not
/// to the default output.
#[test]
fn gating_lsnr_matches_the_library_thresholds() {
    let dir = tempdir();
    let (out, plain) = (dir.path().join("gated.wav"), dir.path().join("plain.wav"));
    let gating = Path::new("--gating");
    let run = sluice(&[gating, Path::new("lsnr"), &fixture_wav(), &out]);
    assert!(run.status.success(), "sluice denoise --gating lsnr: {}", String::from_utf8_lossy(&run.stderr));
    denoise_ok(&fixture_wav(), &plain);
    let (_, input) = read_wav16(&fixture_wav());
    let (_, got) = read_wav16(&out);
    let mut d = Denoiser::new(model(), 1).unwrap_or_else(|e| panic!("{e}"));
    d.set_thresholds(StageThresholds::LIBRARY_DEFAULT);
    let want: Vec<i16> =
        d.denoise_buffer(&to_f32(&input)).unwrap_or_else(|e| panic!("{e}")).into_iter().map(to_i16).collect();
    assert!(got == want, "`--gating lsnr` differs from the library with libDF's library thresholds");
    assert!(got != read_wav16(&plain).1, "`--gating lsnr` changed nothing");
    let bad = sluice(&[gating, Path::new("fast"), &fixture_wav(), &out]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("possible values"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn fixture_48k_mono_matches_denoise_buffer() {
    let dir = tempdir();
    let out = dir.path().join("out.wav");
    denoise_ok(&fixture_wav(), &out);
    let (in_spec, input) = read_wav16(&fixture_wav());
    let (spec, got) = read_wav16(&out);
    assert_eq!(spec, in_spec, "16-bit mono 48 kHz in, the same out");
    assert_eq!(got.len(), input.len());
    let mut d = Denoiser::new(model(), 1).unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<i16> =
        d.denoise_buffer(&to_f32(&input)).unwrap_or_else(|e| panic!("{e}")).into_iter().map(to_i16).collect();
    let mismatches = got.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(mismatches, 0, "streamed CLI output differs from denoise_buffer in {mismatches} samples");
    // Not a passthrough: the noisy fixture changes.
    assert!(got.iter().zip(&input).filter(|(a, b)| a != b).count() > input.len() / 2);
    assert_eq!(entries(dir.path()), ["out.wav"], "no temporary file left behind");
}

#[test]
fn stereo_16k_keeps_rate_channels_and_length() {
    let dir = tempdir();
    let (_, x48) = read_wav16(&fixture_wav());
    // 16 kHz by taking every third sample (aliasing is fine for this check), right = ½ left.
    let stereo: Vec<i16> = x48.iter().step_by(3).flat_map(|&s| [s, s / 2]).collect();
    let input = dir.path().join("in16k.wav");
    write_wav16(&input, 16_000, 2, &stereo);
    let out = dir.path().join("out16k.wav");
    denoise_ok(&input, &out);
    let (spec, got) = read_wav16(&out);
    assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (16_000, 2, 16));
    assert_eq!(got.len(), stereo.len());
    let mut d = ResampledDenoiser::new(model(), 2, 16_000).unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<i16> =
        d.denoise_buffer(&to_f32(&stereo)).unwrap_or_else(|e| panic!("{e}")).into_iter().map(to_i16).collect();
    let off = got.iter().zip(&want).filter(|(a, b)| a.abs_diff(**b) > 1).count();
    assert_eq!(off, 0, "{off} samples differ from ResampledDenoiser::denoise_buffer by more than 1 LSB");
}

#[test]
fn flac_decodes_like_the_wav_and_denoises_the_same() {
    let dir = tempdir();
    let flac = dir.path().join("in.flac");
    let wav = fixture_wav();
    let q = OsStr::new;
    run_tool("flac", &[q("--silent"), q("--force"), q("-o"), flac.as_os_str(), wav.as_os_str()]);
    let wav_samples = decode_all(&fixture_wav());
    assert_eq!(decode_all(&flac), wav_samples, "FLAC and WAV decode to different samples");
    let (out_flac, out_wav) = (dir.path().join("flac.wav"), dir.path().join("wav.wav"));
    denoise_ok(&flac, &out_flac);
    denoise_ok(&fixture_wav(), &out_wav);
    assert_eq!(read_wav16(&out_flac), read_wav16(&out_wav));
}

/// A 16-bit PCM WAV with any header values; `claimed` overrides the data (and RIFF) lengths.
fn raw_wav(rate: u32, channels: u16, data: &[u8], claimed: Option<u32>) -> Vec<u8> {
    let block = channels * 2;
    let data_len = claimed.unwrap_or(data.len() as u32);
    let mut w = b"RIFF".to_vec();
    w.extend_from_slice(&(data_len.saturating_add(36)).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, channels] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    for v in [block, 16] {
        w.extend_from_slice(&v.to_le_bytes());
    }
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.extend_from_slice(data);
    w
}

/// Runs on a bad input, requiring failure with `message` on stderr and nothing left in `dir`.
fn fails_cleanly(dir: &Path, input: &Path, message: &str) {
    let before = entries(dir);
    let out = dir.join("out.wav");
    let res = sluice(&[input, &out]);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success(), "{} should fail", input.display());
    assert!(stderr.contains(message), "{}: stderr lacks {message:?}: {stderr}", input.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(entries(dir), before, "a failed run left files behind");
}

#[test]
fn bad_inputs_fail_with_a_message_and_no_output() {
    let dir = tempdir();
    let d = dir.path();
    fails_cleanly(d, &d.join("missing.wav"), "cannot open or read");

    let text = d.join("notes.wav");
    std::fs::write(&text, b"these are not the samples you are looking for").unwrap_or_else(|e| panic!("{e}"));
    fails_cleanly(d, &text, "not an audio file");

    let empty = d.join("empty.wav");
    std::fs::write(&empty, b"").unwrap_or_else(|e| panic!("{e}"));
    fails_cleanly(d, &empty, "not an audio file");

    let bytes = std::fs::read(fixture_wav()).unwrap_or_else(|e| panic!("{e}"));
    let truncated = d.join("truncated.wav");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    fails_cleanly(d, &truncated, "truncated");

    let silent = d.join("zero_frames.wav");
    write_wav16(&silent, 48_000, 1, &[]);
    fails_cleanly(d, &silent, "no audio samples");

    // Hand-made headers: 0 Hz, zero channels, and a data chunk (and RIFF) claiming 10⁹ samples.
    let zero_hz = d.join("zero_hz.wav");
    std::fs::write(&zero_hz, raw_wav(0, 1, &[0; 9600], None)).unwrap_or_else(|e| panic!("{e}"));
    fails_cleanly(d, &zero_hz, "no valid sample rate");
    let zero_ch = d.join("zero_channels.wav");
    std::fs::write(&zero_ch, raw_wav(48_000, 0, &[0; 9600], None)).unwrap_or_else(|e| panic!("{e}"));
    fails_cleanly(d, &zero_ch, "channel");
    let huge = d.join("huge.wav");
    std::fs::write(&huge, raw_wav(48_000, 1, &[1; 9600], Some(2_000_000_000))).unwrap_or_else(|e| panic!("{e}"));
    fails_cleanly(d, &huge, "truncated");

    let slow = d.join("4khz.wav");
    write_wav16(&slow, 4_000, 1, &[0; 4000]);
    fails_cleanly(d, &slow, "sample rate 4000 Hz");
}

#[test]
fn float_44k1_stereo_comes_back_float_at_its_rate() {
    let dir = tempdir();
    let input = dir.path().join("in_f32.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let (_, x48) = read_wav16(&fixture_wav());
    // 1.5 s, resampled by nearest sample (fine for a format check), right channel inverted.
    let frames = 66_150;
    let mut w = hound::WavWriter::create(&input, spec).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..frames {
        let s = f32::from(x48[i * 48_000 / 44_100]) / 32768.0;
        for v in [s, -s] {
            w.write_sample(v).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    w.finalize().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("out.wav");
    denoise_ok(&input, &out);
    let mut r = hound::WavReader::open(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.spec(), spec, "float in, float out at the same rate and channels");
    let y = r.samples::<f32>().collect::<Result<Vec<_>, _>>().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(y.len(), frames * 2);
    assert!(y.iter().all(|v| v.is_finite()) && y.iter().any(|&v| v != 0.0));
}

/// Runs an encoder (scripts/lib.sh's TEST_PACKAGES installs `flac`, `oggenc` and `lame`).
fn run_tool(tool: &str, args: &[&OsStr]) {
    let status = Command::new(tool)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("running `{tool}` (scripts/test.sh installs it): {e}"));
    assert!(status.success(), "{tool} failed");
}

#[test]
fn lossy_ogg_and_mp3_come_back_at_their_rate_and_length() {
    let dir = tempdir();
    let (_, x) = read_wav16(&fixture_wav());
    let wav = fixture_wav();
    let (ogg, mp3) = (dir.path().join("in.ogg"), dir.path().join("in.mp3"));
    let q = |s: &'static str| OsStr::new(s);
    run_tool("oggenc", &[q("--quiet"), q("-q"), q("6"), q("-o"), ogg.as_os_str(), wav.as_os_str()]);
    run_tool("lame", &[q("--quiet"), q("-b"), q("128"), wav.as_os_str(), mp3.as_os_str()]);
    for input in [ogg, mp3] {
        let name = input.display();
        assert_eq!(decode_all(&input).len(), x.len(), "{name}: decoded length (gapless) differs from the source");
        let out = input.with_extension("out.wav");
        denoise_ok(&input, &out);
        let (spec, y) = read_wav16(&out);
        assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (48_000, 1, 16), "{name}");
        assert_eq!(y.len(), x.len(), "{name}");
    }
}
