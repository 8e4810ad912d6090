//! `sluice upscale IN OUT --scale N`: an image or video through super-resolution into a file.
//!
//! The pass itself is [`sluice_pipeline::video::UpscaleJob`] (frame by frame, bounded memory);
//! this module picks the luma model, loads DFN3 for `--denoise-audio`, shows a progress bar
//! with the frame rate, and writes to a temporary file next to OUT that is renamed over OUT
//! only once complete, so a failure leaves no partial output.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use sluice_engine::Threads;
use sluice_pipeline::video::{
    BicubicUpscaler, Container, EspcnUpscaler, LumaUpscaler, OutputTarget, UpscaleJob, UpscaleOptions, UpscaleSummary,
};

use crate::cli::{UpscaleArgs, UpscaleModel};
use crate::denoise::{load_model, temp_next_to};

/// The luma upscaler `model` names, at `scale`; ESPCN runs on one engine thread per core.
pub fn luma_upscaler(model: UpscaleModel, scale: usize) -> Result<Box<dyn LumaUpscaler>> {
    match model {
        UpscaleModel::Bicubic => Ok(Box::new(BicubicUpscaler::new(scale)?)),
        UpscaleModel::Espcn => {
            let threads = Threads::available().context("cannot start the engine threads")?;
            Ok(Box::new(EspcnUpscaler::bundled(scale, Arc::new(threads))?))
        }
    }
}

/// Upscales `args.input` into `args.output`, showing a progress bar on stderr when it is a
/// terminal.
pub fn upscale_file(args: &UpscaleArgs) -> Result<UpscaleSummary> {
    let container = Container::from_path(&args.output)?;
    let upscaler = luma_upscaler(args.model, args.scale())?;
    upscale_with(upscaler, args, container)
}

/// [`upscale_file`] with a given luma model (the seam for models built elsewhere).
pub fn upscale_with(
    upscaler: Box<dyn LumaUpscaler>,
    args: &UpscaleArgs,
    container: Container,
) -> Result<UpscaleSummary> {
    let denoise_audio = if args.denoise_audio { Some(load_model()?) } else { None };
    let job = UpscaleJob::open(&args.input, upscaler, UpscaleOptions { crf: args.crf, denoise_audio })?;
    let (tmp, tmp_path) = temp_next_to(&args.output)?;
    let progress = progress_bar(job.info().frames);
    let summary = job.run(OutputTarget::File(tmp_path), container, &mut |n| progress.set_position(n))?;
    persist(tmp, &args.output)?;
    progress.finish_and_clear();
    Ok(summary)
}

pub(crate) fn persist(tmp: tempfile::NamedTempFile, out: &Path) -> Result<()> {
    tmp.persist(out).map_err(|e| e.error).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// A bar with frames, percent and frames per second on stderr (hidden when stderr is not a
/// terminal), cleared when dropped so an error message starts on a clean line.
pub(crate) fn progress_bar(frames: Option<u64>) -> ProgressBar {
    let target = ProgressDrawTarget::stderr();
    let bar = ProgressBar::with_draw_target(frames, target);
    let template = if frames.is_some() {
        "{bar:40} {pos}/{len} frames {percent:>3}% {per_sec} eta {eta}"
    } else {
        "{spinner} {pos} frames {per_sec} {elapsed_precise}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar.with_finish(ProgressFinish::AndClear)
}
