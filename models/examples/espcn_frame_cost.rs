//! Cost of one ESPCN frame on the engine with the bundled weights: 360×640 luma → 1080×1920 at
//! x3 (the bench size), 1 and 2 threads, best and median of several frames (the machine
//! may be shared; best-of skips preempted frames). Optionally writes the input and the engine's
//! output as raw little-endian f32 so `models/train/espcn/ort_bench.py` can time ONNX Runtime on
//! the same weights and check it agrees.
//!
//! `cargo run --release -p sluice-models --example espcn_frame_cost [-- --scale 3 --reps 10 --dump DIR]`
//! (`SLUICE_ISA` picks the tier).

use std::error::Error;

use sluice_engine::Threads;
use sluice_models::espcn::Espcn;
use sluice_models::timing::{self, Reps};

const W: usize = 640;
const H: usize = 360;

fn main() -> Result<(), Box<dyn Error>> {
    let mut scale = 3;
    let mut reps = 10;
    let mut dump = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--scale" => scale = value()?.parse()?,
            "--reps" => reps = value()?.parse()?,
            "--dump" => dump = Some(std::path::PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let model = Espcn::bundled(scale)?;
    let plan = model.plan(W, H)?;
    // A deterministic natural-ish frame: smooth gradients, a few edges and fine texture.
    let y = timing::luma_frame(W, H);
    let mut out = vec![0.0; plan.output_len()];
    let gflop = plan.flops() as f64 / 1e9;
    for n in [1usize, 2] {
        let threads = Threads::new(n)?;
        let mut scratch = vec![0.0; plan.scratch_len(&threads)];
        let t = timing::measure(Reps::new(reps), || plan.run(&y, &mut out, &mut scratch, &threads))?;
        println!(
            "ESPCN x{scale} {H}x{W} -> {}x{}, {n} thread(s), {}: best {:.1} ms, median {:.1} ms ({:.1} GFLOP/s best)",
            H * scale,
            W * scale,
            model.isa().name(),
            t.best_ms(),
            t.median_ms(),
            gflop / t.best_ms() * 1e3
        );
    }
    if let Some(dir) = dump {
        std::fs::create_dir_all(&dir)?;
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(dir.join("input.f32"), bytes(&y))?;
        std::fs::write(dir.join("engine_out.f32"), bytes(&out))?;
        println!("wrote {H}x{W} input and engine output to {}", dir.display());
    }
    Ok(())
}
