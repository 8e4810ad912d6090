//! ESPCN on the engine against PyTorch, and the loader's errors.
//!
//! Golden fixtures (`fixtures/espcn/golden_x{r}.safetensors`, made by `make_golden.py` beside
//! them from the committed weights) hold inputs of odd and degenerate sizes and PyTorch's
//! float64 outputs; the engine must match within 1e-4 on every ISA tier, with one and two threads.

use std::path::Path;

use sluice_engine::{EngineError, Isa, Threads};
use sluice_models::WeightsError;
use sluice_models::espcn::{BUNDLED_SCALES, Espcn, EspcnRunner, EspcnWeights};
use sluice_models::safetensors::{SafeTensors, SafetensorsError};

const TOLERANCE: f32 = 1e-4;

fn fixture(scale: usize) -> SafeTensors {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/espcn/golden_x{scale}.safetensors"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    SafeTensors::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bundled(scale: usize) -> EspcnWeights {
    EspcnWeights::bundled(scale).unwrap_or_else(|e| panic!("x{scale}: {e}"))
}

fn bundled_bytes(scale: usize) -> Vec<u8> {
    std::fs::read(EspcnWeights::bundled_path(scale)).unwrap_or_else(|e| panic!("x{scale}: {e}"))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn engine_matches_pytorch_on_every_tier() {
    let pools = [Threads::single(), Threads::new(2).unwrap_or_else(|e| panic!("{e}"))];
    let mut worst = 0.0f32;
    for scale in BUNDLED_SCALES {
        let weights = bundled(scale);
        let golden = fixture(scale);
        let stamp = golden.tensor("conv1.bias").unwrap_or_else(|| panic!("x{scale}: fixture lacks conv1.bias"));
        assert_eq!(
            stamp.data(),
            weights.conv1.bias.data(),
            "x{scale}: fixtures were made from other weights; rerun tests/fixtures/espcn/make_golden.py"
        );
        let cases: Vec<&str> = golden.names().filter(|n| n.starts_with("in_")).collect();
        assert!(cases.len() >= 5, "x{scale}: only {} cases", cases.len());
        for isa in Isa::available() {
            let model = Espcn::with_isa(weights.clone(), isa).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(model.scale(), scale);
            for case in &cases {
                let input = golden.tensor(case).unwrap_or_else(|| panic!("{case}"));
                let expected = golden.tensor(&case.replacen("in_", "out_", 1)).unwrap_or_else(|| panic!("{case} out"));
                let (h, w) = (input.shape()[0], input.shape()[1]);
                assert_eq!(expected.shape(), [h * scale, w * scale], "x{scale} {case}");
                let plan = model.plan(w, h).unwrap_or_else(|e| panic!("x{scale} {case}: {e}"));
                for threads in &pools {
                    let mut scratch = vec![f32::NAN; plan.scratch_len(threads)];
                    let mut out = vec![f32::NAN; plan.output_len()];
                    plan.run(input.data(), &mut out, &mut scratch, threads)
                        .unwrap_or_else(|e| panic!("x{scale} {case}: {e}"));
                    let diff = max_abs_diff(&out, expected.data());
                    worst = worst.max(diff);
                    assert!(
                        diff <= TOLERANCE,
                        "x{scale} {case} {} {} threads: max |engine − PyTorch| = {diff}",
                        isa.name(),
                        threads.count()
                    );
                }
            }
        }
    }
    println!("max |engine − PyTorch| over every scale, case, tier and pool: {worst:.2e}");
}

#[test]
fn bundled_networks_have_the_paper_shapes() {
    for (scale, params) in [(2, 21_284), (3, 22_729), (4, 24_752)] {
        let w = bundled(scale);
        assert_eq!((w.scale, w.params()), (scale, params));
        assert_eq!(w.conv3.weight.shape(), [scale * scale, 32, 3, 3]);
    }
    assert!(matches!(EspcnWeights::bundled(5), Err(WeightsError::Metadata { key: "scale", .. })));
}

#[test]
fn runner_is_repeatable_and_checks_buffers() {
    let model = Espcn::new(bundled(3));
    let threads = Threads::single();
    let (w, h) = (19, 11);
    let mut runner = EspcnRunner::new(&model, w, h, &threads).unwrap_or_else(|e| panic!("{e}"));
    let y: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
    let mut a = vec![0.0; w * h * 9];
    let mut b = vec![1.0; w * h * 9];
    runner.upscale(&y, &mut a, &threads).unwrap_or_else(|e| panic!("{e}"));
    runner.upscale(&y, &mut b, &threads).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a, b);
    let err = runner.upscale(&y[1..], &mut a, &threads).err();
    assert!(matches!(err, Some(EngineError::BufferLength { op: "espcn", buffer: "input", .. })), "{err:?}");
    let err = runner.upscale(&y, &mut a[1..], &threads).err();
    assert!(matches!(err, Some(EngineError::BufferLength { op: "espcn", buffer: "output", .. })), "{err:?}");
    let plan = runner.plan();
    let err = plan.run(&y, &mut a, &mut [0.0; 8], &threads).err();
    assert!(matches!(err, Some(EngineError::BufferLength { buffer: "scratch", .. })), "{err:?}");
    assert!(matches!(model.plan(0, 5), Err(EngineError::InvalidSpec { .. })));
    assert!(matches!(model.plan(usize::MAX / 2, 3), Err(EngineError::InvalidSpec { .. })));
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
    let bytes = bundled_bytes(3);
    assert!(Espcn::from_safetensors(&bytes).is_ok());
    for n in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = Espcn::from_safetensors(&bytes[..n]).err();
        assert!(matches!(err, Some(WeightsError::Safetensors { .. })), "{n} bytes: {err:?}");
    }
    let truncated = Espcn::from_safetensors(&bytes[..bytes.len() - 1]).err().map(|e| e.to_string());
    assert!(truncated.as_deref().is_some_and(|m| m.contains("conv")), "{truncated:?}");

    let renamed = with_header(&bytes, |h| h.replace("conv2.weight", "conv2.kernel"));
    let err = EspcnWeights::from_safetensors(&renamed).err();
    assert!(matches!(&err, Some(WeightsError::NoTensor { tensor, .. }) if tensor == "conv2.weight"), "{err:?}");

    let relabelled = with_header(&bytes, |h| h.replace("\"scale\":\"3\"", "\"scale\":\"2\""));
    assert_ne!(relabelled, bytes, "export metadata should carry the scale");
    let err = EspcnWeights::from_safetensors(&relabelled).err();
    assert!(matches!(err, Some(WeightsError::Metadata { key: "scale", .. })), "{err:?}");

    let relu = with_header(&bytes, |h| h.replace("\"activation\":\"tanh\"", "\"activation\":\"gelu\""));
    let err = EspcnWeights::from_safetensors(&relu).err();
    assert!(matches!(err, Some(WeightsError::Metadata { key: "activation", .. })), "{err:?}");

    // conv1.bias and conv2.bias swapped: same byte counts would be wrong, so shapes catch it.
    let swapped = with_header(&bytes, |h| {
        h.replace("conv1.bias", "tmp").replace("conv2.bias", "conv1.bias").replace("tmp", "conv2.bias")
    });
    let err = EspcnWeights::from_safetensors(&swapped).err();
    let msg = err.as_ref().map(ToString::to_string).unwrap_or_default();
    assert!(matches!(&err, Some(WeightsError::TensorShape { tensor, .. }) if tensor == "conv1.bias"), "{msg}");
    assert!(msg.contains("[32]") && msg.contains("[64]"), "{msg}");

    let f16 = with_header(&bytes, |h| h.replacen("\"F32\"", "\"F16\"", 1));
    let err = EspcnWeights::from_safetensors(&f16).err();
    assert!(matches!(err, Some(WeightsError::Safetensors { source: SafetensorsError::Dtype { .. }, .. })), "{err:?}");
}

#[test]
fn missing_file_names_the_path() {
    let err = EspcnWeights::load("/nonexistent/espcn_x3.safetensors").err().map(|e| e.to_string());
    assert!(err.as_deref().is_some_and(|m| m.contains("/nonexistent/espcn_x3.safetensors")), "{err:?}");
}
