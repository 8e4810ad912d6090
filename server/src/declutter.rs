//! `sluice declutter IN OUT`: an echo clip (video file, PNG/JPEG frame folder or archive,
//! multi-frame DICOM) through the clutter filter into a video, a PNG frame folder or a DICOM.
//!
//! The pass itself is [`sluice_pipeline::echo::DeclutterJob`] (frame by frame, bounded memory);
//! this module loads the bundled network, decides what `OUT` is, shows a progress bar with the
//! frame rate, and writes to a temporary file or folder next to `OUT` that takes `OUT`'s name
//! only once complete, so a failure leaves no partial output.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sluice_engine::Threads;
use sluice_models::clutter::Clutter;
use sluice_pipeline::echo::{DeclutterJob, DeclutterOptions, DeclutterSummary, DeclutterTarget};
use sluice_pipeline::video::{Container, OutputTarget};

use crate::cli::DeclutterArgs;
use crate::denoise::temp_next_to;
use crate::upscale::{persist, progress_bar};

/// What `OUT` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A video file of this container.
    Video(Container),
    /// A folder of PNG frames.
    Frames,
    /// A multi-frame grey DICOM file.
    Dicom,
}

/// `.mp4`/`.m4v`/`.mov`/`.webm` → a video; `.dcm` → DICOM; an existing folder or a name
/// without an extension → a PNG frame folder; anything else is refused.
pub fn output_kind(out: &Path) -> Result<OutputKind> {
    if out.is_dir() || out.extension().is_none() {
        return Ok(OutputKind::Frames);
    }
    if out.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("dcm")) {
        return Ok(OutputKind::Dicom);
    }
    match Container::from_path(out) {
        Ok(c) if !c.is_image() => Ok(OutputKind::Video(c)),
        _ => bail!(
            "{}: OUT must be a video (.mp4, .m4v, .mov: H.264; .webm: VP9), a DICOM (.dcm) or a folder for \
             PNG frames (a name without an extension)",
            out.display()
        ),
    }
}

/// Declutters `args.input` into `args.output` with the bundled network on one engine thread
/// per core, showing a progress bar on stderr when it is a terminal.
pub fn declutter_file(args: &DeclutterArgs) -> Result<DeclutterSummary> {
    if !args.input.exists() {
        bail!("{}: no such file or folder", args.input.display());
    }
    let kind = output_kind(&args.output)?;
    if kind == OutputKind::Frames {
        check_folder_free(&args.output)?;
    }
    if kind == OutputKind::Dicom && args.crf.is_some() {
        bail!("--crf applies to video outputs (.mp4, .webm); a DICOM is written as its input's family");
    }
    let model = Clutter::bundled().context("cannot load the clutter-filter weights")?;
    let threads = Threads::available().context("cannot start the engine threads")?;
    let options = DeclutterOptions { crf: args.crf, folder_fps: args.fps };
    let job = DeclutterJob::open(&args.input, &model, Arc::new(threads), options)?;
    let progress = progress_bar(job.info().frames);
    let mut on_frame = |n| progress.set_position(n);
    let summary = match kind {
        OutputKind::Video(container) => {
            let (tmp, tmp_path) = temp_next_to(&args.output)?;
            let summary = job.run(DeclutterTarget::Video(OutputTarget::File(tmp_path), container), &mut on_frame)?;
            persist(tmp, &args.output)?;
            summary
        }
        OutputKind::Dicom => {
            let (tmp, tmp_path) = temp_next_to(&args.output)?;
            let summary = job.run(DeclutterTarget::Dicom(OutputTarget::File(tmp_path)), &mut on_frame)?;
            persist(tmp, &args.output)?;
            summary
        }
        OutputKind::Frames => {
            let tmp = temp_dir_next_to(&args.output)?;
            let summary = job.run(DeclutterTarget::Frames(tmp.path().to_path_buf()), &mut on_frame)?;
            let kept = tmp.keep();
            if let Err(e) = std::fs::rename(&kept, &args.output) {
                let _ = std::fs::remove_dir_all(&kept);
                return Err(e).with_context(|| format!("cannot write {}", args.output.display()));
            }
            summary
        }
    };
    progress.finish_and_clear();
    Ok(summary)
}

/// A frame folder `OUT` must not exist yet, or be an empty folder (it is never merged into or
/// deleted).
fn check_folder_free(out: &Path) -> Result<()> {
    match std::fs::read_dir(out).map(|mut entries| entries.next().is_some()) {
        Ok(true) => bail!("{}: the folder exists and is not empty; remove it or name another", out.display()),
        Ok(false) => Ok(()),
        Err(_) if out.exists() => bail!("{}: exists and is not a folder", out.display()),
        Err(_) => Ok(()),
    }
}

/// A hidden temporary folder beside `out` (same file system, so the final rename is atomic),
/// removed if dropped.
fn temp_dir_next_to(out: &Path) -> Result<tempfile::TempDir> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = out.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempdir_in(&dir)
        .with_context(|| format!("cannot create a temporary folder in {}", dir.display()))?;
    // Temporary folders are private (0700); the result should get an ordinary folder's mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755));
    }
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_kind_follows_the_extension_or_folder() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (name, want) in [
            ("a.mp4", Some(OutputKind::Video(Container::Mp4))),
            ("a.MOV", Some(OutputKind::Video(Container::Mp4))),
            ("a.webm", Some(OutputKind::Video(Container::WebM))),
            ("a.dcm", Some(OutputKind::Dicom)),
            ("a.DCM", Some(OutputKind::Dicom)),
            ("frames", Some(OutputKind::Frames)),
            ("a.png", None),
            ("a.mkv", None),
        ] {
            assert_eq!(output_kind(&dir.path().join(name)).ok(), want, "{name}");
        }
        let existing = dir.path().join("out.d");
        std::fs::create_dir(&existing).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(output_kind(&existing).ok(), Some(OutputKind::Frames));
        assert!(check_folder_free(&existing).is_ok());
        assert!(check_folder_free(&dir.path().join("new")).is_ok());
        std::fs::write(existing.join("x"), b"x").unwrap_or_else(|e| panic!("{e}"));
        assert!(check_folder_free(&existing).is_err());
        assert!(check_folder_free(&existing.join("x")).is_err());
    }
}
