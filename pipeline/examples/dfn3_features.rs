//! Writes the DFN3 network inputs our DSP computes for an audio file: the fixture generator
//! `models/tests/fixtures/make_dfn3_layer_fixtures.py` runs this, then ONNX Runtime on them.
//!
//! `cargo run --release -p sluice-pipeline --example dfn3_features -- IN.f32 OUT_DIR`
//! where `IN.f32` is 48 kHz mono little-endian f32 samples. Writes `OUT_DIR/feat_erb.f32`
//! (`[T][32]`) and `OUT_DIR/feat_spec.f32` (`[T][2][96]`, real parts then imaginary parts),
//! one frame per whole 480-sample hop.

use std::error::Error;
use std::path::PathBuf;

use sluice_pipeline::dsp::{Dfn3Dsp, DspConfig, FrontEnd, StageOutput};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(out_dir)) = (args.next(), args.next()) else {
        return Err("usage: dfn3_features IN.f32 OUT_DIR".into());
    };
    let bytes = std::fs::read(&input)?;
    let samples: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let cfg = DspConfig::DFN3;
    let mut dsp = Dfn3Dsp::new(&cfg)?;
    let (mut erb, mut spec) = (vec![0.0f32; cfg.nb_erb], vec![0.0f32; 2 * cfg.nb_df]);
    let mut out = vec![0.0f32; cfg.hop];
    let mask = vec![1.0f32; cfg.nb_erb];
    let (mut erb_all, mut spec_all) = (Vec::new(), Vec::new());
    for hop in samples.chunks_exact(cfg.hop) {
        match dsp.front(hop, &mut out, &mut erb, &mut spec)? {
            FrontEnd::Features => {
                erb_all.extend(erb.iter().flat_map(|v| v.to_le_bytes()));
                spec_all.extend(spec.iter().flat_map(|v| v.to_le_bytes()));
                dsp.back(StageOutput::Erb { mask: &mask }, &mut out)?;
            }
            other => return Err(format!("hop not analysed: {other:?}").into()),
        }
    }
    let dir = PathBuf::from(out_dir);
    std::fs::write(dir.join("feat_erb.f32"), erb_all)?;
    std::fs::write(dir.join("feat_spec.f32"), spec_all)?;
    Ok(())
}
