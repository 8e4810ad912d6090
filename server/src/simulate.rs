//! `sluice simulate-echo`: simulated echo clips (cluttered, clean, clutter mask) as PNG frame
//! folders and/or raw float arrays with a JSON sidecar, for inspection and for training the
//! clutter filter (`models/train/clutter/` reads the raw form).
//!
//! Clip `k` of a run has seed `--seed + k`; the same seed always gives the same bytes.
//! Raw layout: `clip_SEED.bin` holds four little-endian f32 arrays of `[T, H, W]` one after the
//! other (`cluttered`, `clean`, `mask`, `labels`), `clip_SEED.json` names them with the shape
//! and every simulation parameter. PNG layout: `clip_SEED/{cluttered,clean,mask}/NNN.png`,
//! 8-bit grey.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use sluice_pipeline::echo::simulate::{Clip, ClutterKind, MotionPattern, SimConfig, Simulator};

use crate::cli::{ClutterArg, OutputFormat, SimulateEchoArgs};

/// The arrays of a clip, in file order.
const ARRAYS: [&str; 4] = ["cluttered", "clean", "mask", "labels"];

/// What one clip became.
#[derive(Debug, Clone)]
pub struct ClipSummary {
    /// File stem (`clip_SEED`).
    pub name: String,
    /// Clutter class simulated.
    pub clutter: ClutterKind,
    /// Wall motion pattern.
    pub motion: MotionPattern,
    /// Simulation time, seconds (files excluded).
    pub seconds: f64,
}

/// The clutter class of clip `seed`: as asked, or for `mixed` nf, rl, both in turn by seed.
pub fn clutter_for(arg: ClutterArg, seed: u64) -> ClutterKind {
    match arg {
        ClutterArg::None => ClutterKind::None,
        ClutterArg::Nf => ClutterKind::NearField,
        ClutterArg::Rl => ClutterKind::Reverberation,
        ClutterArg::Both => ClutterKind::Both,
        ClutterArg::Mixed => {
            [ClutterKind::NearField, ClutterKind::Reverberation, ClutterKind::Both][(seed % 3) as usize]
        }
    }
}

/// Simulates and writes every clip `args` asks for, calling `done` after each.
pub fn simulate_echo(args: &SimulateEchoArgs, mut done: impl FnMut(&ClipSummary)) -> Result<()> {
    fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    for k in 0..args.clips {
        let seed = args.seed.checked_add(k).context("seed range overflows u64")?;
        let config = SimConfig {
            width: args.size,
            height: args.size,
            frames: args.frames,
            clutter: clutter_for(args.clutter, seed),
            motion: args.motion.into(),
            ..SimConfig::default()
        };
        let simulator = Simulator::new(config)?;
        let start = Instant::now();
        let clip = simulator.simulate(seed);
        let seconds = start.elapsed().as_secs_f64();
        let name = format!("clip_{seed:06}");
        if matches!(args.format, OutputFormat::Raw | OutputFormat::Both) {
            write_raw(&args.out, &name, &clip)?;
        }
        if matches!(args.format, OutputFormat::Png | OutputFormat::Both) {
            write_pngs(&args.out.join(&name), &clip)?;
        }
        done(&ClipSummary { name, clutter: clip.scene.clutter, motion: clip.scene.motion, seconds });
    }
    Ok(())
}

fn arrays(clip: &Clip) -> [&[f32]; 4] {
    [&clip.cluttered, &clip.clean, &clip.mask, &clip.labels]
}

/// `NAME.bin` (the four arrays, f32 LE) and `NAME.json` (shape, names, parameters).
fn write_raw(dir: &Path, name: &str, clip: &Clip) -> Result<()> {
    let bin = dir.join(format!("{name}.bin"));
    let file = fs::File::create(&bin).with_context(|| format!("cannot create {}", bin.display()))?;
    let mut w = BufWriter::new(file);
    for array in arrays(clip) {
        for v in array {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    w.flush().with_context(|| format!("cannot write {}", bin.display()))?;
    let sidecar = serde_json::json!({
        "shape": [clip.frames, clip.height, clip.width],
        "dtype": "float32",
        "byte_order": "little",
        "arrays": ARRAYS,
        "labels": { "0": "other", "1": "lv_myocardium", "2": "lv_blood" },
        "pixel_mm": [clip.pixel_mm.0, clip.pixel_mm.1],
        "seed": clip.scene.seed,
        "clutter": clip.scene.clutter,
        "motion": clip.scene.motion,
        "scene": clip.scene,
        "clutter_params": clip.clutter,
    });
    let json = dir.join(format!("{name}.json"));
    fs::write(&json, serde_json::to_string_pretty(&sidecar)?)
        .with_context(|| format!("cannot write {}", json.display()))
}

/// `DIR/{cluttered,clean,mask}/NNN.png`, 8-bit grey.
fn write_pngs(dir: &Path, clip: &Clip) -> Result<()> {
    let mut bytes = vec![0u8; clip.frame_len()];
    for (label, array) in ARRAYS.iter().zip(arrays(clip)).take(3) {
        let sub = dir.join(label);
        fs::create_dir_all(&sub).with_context(|| format!("cannot create {}", sub.display()))?;
        for t in 0..clip.frames {
            for (b, v) in bytes.iter_mut().zip(clip.frame(array, t)) {
                *b = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
            let path = sub.join(format!("{t:03}.png"));
            write_png(&path, clip.width, clip.height, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

fn write_png(path: &Path, width: usize, height: usize, grey: &[u8]) -> Result<()> {
    let file = BufWriter::new(fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, u32::try_from(width)?, u32::try_from(height)?);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(grey)?;
    writer.finish()?;
    Ok(())
}
