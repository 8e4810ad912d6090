//! `sluice simulate-echo`: simulated echo clips (cluttered, clean, clutter mask) as PNG frame
//! folders and/or raw float arrays with a JSON sidecar, for inspection and for training the
//! clutter filter (`models/train/clutter/` reads the raw form), or the cluttered clip as a grey
//! video — the form `GET /v1/echo/sample` serves through [`ClipSpec`] and [`write_video`].
//!
//! Clip `k` of a run has seed `--seed + k`; the same seed always gives the same bytes (for a
//! video, the same pictures: WebM muxing stamps a random segment id).
//! Raw layout: `clip_SEED.bin` holds four little-endian f32 arrays of `[T, H, W]` one after the
//! other (`cluttered`, `clean`, `mask`, `labels`), `clip_SEED.json` names them with the shape
//! and every simulation parameter. PNG layout: `clip_SEED/{cluttered,clean,mask}/NNN.png`,
//! 8-bit grey. Video layout: `clip_SEED.mp4` or `clip_SEED.webm`, the cluttered frames only.

use std::fs;
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use sluice_pipeline::echo::GreyVideo;
use sluice_pipeline::echo::simulate::raw::{RAW_ARRAYS, write_raw};
use sluice_pipeline::echo::simulate::{Clip, ClutterKind, MotionPattern, SimConfig, SimError, Simulator};
use sluice_pipeline::video::{Container, OutputTarget, VideoError};

use crate::cli::{ClutterArg, MotionArg, OutputFormat, SimulateEchoArgs};

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
        ClutterArg::Mixed => ClutterKind::mixed(seed),
    }
}

/// One clip's set-up: the part of `simulate-echo`'s options that `GET /v1/echo/sample` shares,
/// so the route serves exactly the clip the command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipSpec {
    /// Width and height in pixels.
    pub size: usize,
    /// Frames (one cardiac cycle).
    pub frames: usize,
    /// Clutter class (`mixed`: by seed, see [`clutter_for`]).
    pub clutter: ClutterArg,
    /// Wall motion pattern.
    pub motion: MotionArg,
}

impl ClipSpec {
    /// The set-up `args` asks for.
    pub fn of(args: &SimulateEchoArgs) -> Self {
        Self { size: args.size, frames: args.frames, clutter: args.clutter, motion: args.motion }
    }

    /// Simulates clip `seed` (allocates; not real-time).
    pub fn simulate(&self, seed: u64) -> Result<Clip, SimError> {
        let config = SimConfig {
            width: self.size,
            height: self.size,
            frames: self.frames,
            clutter: clutter_for(self.clutter, seed),
            motion: self.motion.into(),
            ..SimConfig::default()
        };
        Ok(Simulator::new(config)?.simulate(seed))
    }
}

/// Writes `clip`'s cluttered frames to `target` as a grey video ([`GreyVideo`]) at `fps`,
/// calling `on_frame(frames_done)` after each; returns the size written (even sides).
pub fn write_video(
    clip: &Clip,
    target: OutputTarget,
    container: Container,
    fps: u32,
    crf: Option<u8>,
    on_frame: &mut dyn FnMut(u64),
) -> Result<(usize, usize), VideoError> {
    let mut video = GreyVideo::at_fps(target, container, (clip.width, clip.height), fps, crf)?;
    for t in 0..clip.frames {
        video.write_grey(clip.frame(&clip.cluttered, t), clip.width)?;
        on_frame(t as u64 + 1);
    }
    video.finish()
}

/// Simulates and writes every clip `args` asks for, calling `done` after each.
pub fn simulate_echo(args: &SimulateEchoArgs, mut done: impl FnMut(&ClipSummary)) -> Result<()> {
    fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let spec = ClipSpec::of(args);
    for k in 0..args.clips {
        let seed = args.seed.checked_add(k).context("seed range overflows u64")?;
        let start = Instant::now();
        let clip = spec.simulate(seed)?;
        let seconds = start.elapsed().as_secs_f64();
        let name = format!("clip_{seed:06}");
        if matches!(args.format, OutputFormat::Raw | OutputFormat::Both) {
            write_raw(&args.out, &name, &clip)?;
        }
        if matches!(args.format, OutputFormat::Png | OutputFormat::Both) {
            write_pngs(&args.out.join(&name), &clip)?;
        }
        let video = match args.format {
            OutputFormat::Mp4 => Some((Container::Mp4, "mp4")),
            OutputFormat::Webm => Some((Container::WebM, "webm")),
            OutputFormat::Png | OutputFormat::Raw | OutputFormat::Both => None,
        };
        if let Some((container, ext)) = video {
            let path = args.out.join(format!("{name}.{ext}"));
            write_video(&clip, OutputTarget::File(path.clone()), container, args.fps, None, &mut |_| {})
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        done(&ClipSummary { name, clutter: clip.scene.clutter, motion: clip.scene.motion, seconds });
    }
    Ok(())
}

/// `DIR/{cluttered,clean,mask}/NNN.png`, 8-bit grey.
fn write_pngs(dir: &Path, clip: &Clip) -> Result<()> {
    let mut bytes = vec![0u8; clip.frame_len()];
    for (label, array) in RAW_ARRAYS.iter().zip(clip.arrays()).take(3) {
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
