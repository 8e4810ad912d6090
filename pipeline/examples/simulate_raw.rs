//! `sluice simulate-echo --format raw` without the rest of `sluice`: a binary that links only
//! the C library, for machines that lack FFmpeg and ALSA (the lent GPU machines that simulate
//! training clips for `models/train/clutter/train_gpu.py`; see `models/train/gpu_session.sh`).
//! It takes the same options and writes the same bytes (`echo::simulate::raw`).
//!
//!     cargo build --release -p sluice-pipeline --example simulate_raw
//!     simulate_raw simulate-echo --out DIR --seed 100 --clips 8 --frames 32 --size 128 \
//!         --clutter mixed --motion lad --format raw

use std::path::PathBuf;
use std::process::ExitCode;

use sluice_pipeline::echo::simulate::raw::write_raw;
use sluice_pipeline::echo::simulate::{ClutterKind, MotionPattern, SimConfig, Simulator};

struct Args {
    out: PathBuf,
    seed: u64,
    clips: u64,
    frames: usize,
    size: usize,
    clutter: Option<ClutterKind>,
    motion: MotionPattern,
}

const USAGE: &str = "usage: simulate_raw [simulate-echo] --out DIR [--seed N] [--clips N] [--frames N] [--size N] \
                     [--clutter none|nf|rl|both|mixed] [--motion normal|lad|lcx|rca] [--format raw]";

fn parse() -> Result<Args, String> {
    let mut args = Args {
        out: PathBuf::new(),
        seed: 0,
        clips: 1,
        frames: 32,
        size: 128,
        clutter: None,
        motion: MotionPattern::Normal,
    };
    let mut out = None;
    let mut it = std::env::args().skip(1).peekable();
    if it.peek().map(String::as_str) == Some("simulate-echo") {
        it.next();
    }
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: `{v}` is not a whole number"));
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value)),
            "--seed" => args.seed = number(&value)?,
            "--clips" => args.clips = number(&value)?,
            "--frames" => args.frames = number(&value)? as usize,
            "--size" => args.size = number(&value)? as usize,
            "--clutter" => {
                args.clutter = match value.as_str() {
                    "none" => Some(ClutterKind::None),
                    "nf" => Some(ClutterKind::NearField),
                    "rl" => Some(ClutterKind::Reverberation),
                    "both" => Some(ClutterKind::Both),
                    "mixed" => None,
                    v => return Err(format!("--clutter: unknown class `{v}`")),
                }
            }
            "--motion" => {
                args.motion = match value.as_str() {
                    "normal" => MotionPattern::Normal,
                    "lad" => MotionPattern::Lad,
                    "lcx" => MotionPattern::Lcx,
                    "rca" => MotionPattern::Rca,
                    v => return Err(format!("--motion: unknown pattern `{v}`")),
                }
            }
            "--format" if value == "raw" => {}
            "--format" => return Err(format!("--format: only `raw` here (not `{value}`); use `sluice` for the rest")),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    args.out = out.ok_or("--out is required")?;
    Ok(args)
}

fn run(args: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    for k in 0..args.clips {
        let seed = args.seed.checked_add(k).ok_or("seed range overflows u64")?;
        let config = SimConfig {
            width: args.size,
            height: args.size,
            frames: args.frames,
            clutter: args.clutter.unwrap_or(ClutterKind::mixed(seed)),
            motion: args.motion,
            ..SimConfig::default()
        };
        let clip = Simulator::new(config).map_err(|e| e.to_string())?.simulate(seed);
        write_raw(&args.out, &format!("clip_{seed:06}"), &clip).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate_raw: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
