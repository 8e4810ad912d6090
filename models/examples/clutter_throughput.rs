//! Throughput of the clutter filter on the engine with the bundled weights: 128×128 frames
//! streamed one at a time (the live path), and a whole 32-frame clip (`filter_clip`), on 1 and
//! 2 threads. Per-frame times: best and median (the machine may be shared; best-of skips
//! preempted frames); fps = 1000 / median. The PyTorch peer on the same shape is
//! `models/train/clutter/torch_bench.py`. When the weights have a correction gate, its share of
//! a frame (one thread, after the network) is timed alone too.
//!
//! `cargo run --release -p sluice-models --example clutter_throughput [-- --size 128 --frames 40]`
//! (`SLUICE_ISA` picks the tier). `--weights FILE` times another export (a retrained net).

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use sluice_engine::Threads;
use sluice_models::clutter::{Clutter, ClutterWeights, GateState};
use sluice_models::timing::{self, Reps};

fn main() -> Result<(), Box<dyn Error>> {
    let mut size = 128;
    let mut frames = 40;
    let mut clip_frames = 32;
    let mut weights = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--size" => size = value()?.parse()?,
            "--frames" => frames = value()?.parse()?,
            "--clip-frames" => clip_frames = value()?.parse()?,
            "--weights" => weights = Some(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let w = match weights {
        Some(path) => ClutterWeights::load(path)?,
        None => ClutterWeights::bundled()?,
    };
    let activation = w.activation.name();
    let gate = w.gate;
    let model = Clutter::new(w);
    let (h, w) = (size, size);
    // A deterministic echo-like clip: moving texture, a static bright band, speckle-ish noise.
    let clip = timing::echo_clip(clip_frames.max(frames), h, w);
    let gflop = model.plan(h, w, 1)?.flops_per_frame() as f64 / 1e9;
    println!("clutter filter ({activation}) {h}x{w}, {:.2} GFLOP per frame, tier {}", gflop, model.isa().name());
    if let Some(params) = gate {
        // The gate on the clip's frames with a fixed pattern of corrections up to ±6 grey levels.
        let mut state = GateState::new(h, w);
        let mut out = vec![0.0; h * w];
        let mut frames_in = clip.chunks_exact(h * w).cycle();
        let t = timing::measure(Reps::new(frames).with_inner(20), || {
            let Some(x) = frames_in.next() else { return Ok(()) };
            for (i, (y, v)) in out.iter_mut().zip(x).enumerate() {
                *y = v + ((i % 9) as f32 - 4.0) * 1.5 / 255.0;
            }
            state.apply(&params, x, &mut out)
        })?;
        println!(
            "correction gate (alpha {}, box {}, level {}): median {:.1} us per frame",
            params.alpha,
            params.box_px,
            params.level,
            t.median_ms() * 1e3
        );
    }
    for n in [1usize, 2] {
        let threads = Arc::new(Threads::new(n)?);
        let mut stream = model.stream(h, w, Arc::clone(&threads))?;
        let mut out = vec![0.0; h * w];
        let mut frames_in = clip.chunks_exact(h * w).cycle();
        let t = timing::measure(Reps::new(frames).with_warmup(2), || match frames_in.next() {
            Some(x) => stream.process(x, &mut out),
            None => Ok(()),
        })?;
        let (best, median) = (t.best_ms(), t.median_ms());
        println!(
            "streaming, {n} thread(s): best {best:.1} ms, median {median:.1} ms per frame = {:.1} fps ({:.1} GFLOP/s best)",
            1e3 / median,
            gflop / best * 1e3
        );
        let t = Instant::now();
        let filtered = model.filter_clip(&clip[..clip_frames * h * w], clip_frames, h, w, &threads)?;
        let per_frame = t.elapsed().as_secs_f64() * 1e3 / clip_frames as f64;
        std::hint::black_box(filtered);
        println!(
            "whole clip ({clip_frames} frames), {n} thread(s): {per_frame:.1} ms per frame = {:.1} fps",
            1e3 / per_frame
        );
    }
    Ok(())
}
