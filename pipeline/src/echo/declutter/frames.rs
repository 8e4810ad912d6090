//! Frame folders: a clip as PNG/JPEG files read in name order through FFmpeg, and written as
//! 8-bit grey PNG files.
//!
//! Reading opens a decoder per file and writing an encoder per file, so these allocate per
//! frame (file I/O dominates); the stage they feed does not.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::error::DeclutterError;
use crate::video::VideoError;
use crate::video::colour::Colour;
use crate::video::decode::DecodedFrame;
use crate::video::source::VideoSource;

/// The frame files of `dir`: names ending in `.png`, `.jpg` or `.jpeg` (any case), hidden files
/// skipped, sorted by file name (byte order: number frames with leading zeros, `000.png`, …).
pub fn list_frames(dir: &Path) -> Result<Vec<PathBuf>, DeclutterError> {
    let io = |source| DeclutterError::Io { path: dir.to_path_buf(), source };
    let mut frames = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ext = Path::new(name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let image = matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"));
        if image && !name.starts_with('.') && entry.file_type().is_ok_and(|t| !t.is_dir()) {
            frames.push(entry.path());
        }
    }
    frames.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if frames.is_empty() {
        return Err(DeclutterError::EmptyFolder { path: dir.to_path_buf() });
    }
    Ok(frames)
}

/// Opens one image file; anything FFmpeg cannot open as a picture is [`DeclutterError::BadImage`].
pub(crate) fn open_image(path: &Path) -> Result<VideoSource, DeclutterError> {
    VideoSource::open(path).map_err(|e| bad_image(path, e))
}

fn bad_image(path: &Path, e: VideoError) -> DeclutterError {
    let reason = match e {
        VideoError::NotMedia { reason, .. } => reason,
        VideoError::NoVideo { .. } => "it holds no picture".into(),
        other => other.to_string().replace(&path.display().to_string(), "image"),
    };
    DeclutterError::BadImage { path: path.to_path_buf(), reason }
}

/// Decodes the first picture of `image` and hands it to `f` with its colour convention.
pub(crate) fn decode_image(
    image: &mut VideoSource,
    f: &mut dyn FnMut(DecodedFrame<'_>, Colour) -> Result<(), DeclutterError>,
) -> Result<(), DeclutterError> {
    let colour = image.decoder.colour();
    let mut packet = ffmpeg_next::Packet::empty();
    let mut eof = false;
    loop {
        if !eof {
            match packet.read(&mut image.input) {
                Ok(()) if packet.stream() == image.video_index => image.decoder.send(&packet),
                Ok(()) => continue,
                Err(_) => {
                    eof = true;
                    image.decoder.send_eof().map_err(|e| bad_image(&image.path, e))?;
                }
            }
        }
        match image.decoder.receive() {
            Ok(Some(frame)) => return f(frame, colour),
            Ok(None) if eof => break,
            Ok(None) => {}
            Err(e) => return Err(bad_image(&image.path, e)),
        }
    }
    let reason = match image.decoder.damage() {
        (_, Some(msg)) => format!("no picture could be decoded ({msg})"),
        _ => "no picture could be decoded".into(),
    };
    Err(DeclutterError::BadImage { path: image.path.clone(), reason })
}

/// Writes a `width × height` 8-bit grey PNG.
pub(crate) fn write_png(path: &Path, width: usize, height: usize, grey: &[u8]) -> Result<(), DeclutterError> {
    let io = |source| DeclutterError::Io { path: path.to_path_buf(), source };
    let other = |e: png::EncodingError| io(std::io::Error::other(e));
    let (w, h) = (u32::try_from(width), u32::try_from(height));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err(DeclutterError::BadDimensions { width, height, reason: "too large for PNG".into() });
    };
    let file = BufWriter::new(fs::File::create(path).map_err(io)?);
    let mut encoder = png::Encoder::new(file, w, h);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(other)?;
    writer.write_image_data(grey).map_err(other)?;
    writer.finish().map_err(other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_images_in_name_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for name in ["010.png", "002.JPG", "001.jpeg", "notes.txt", ".hidden.png", "003.png.bak"] {
            fs::write(dir.path().join(name), b"x").unwrap_or_else(|e| panic!("{e}"));
        }
        fs::create_dir(dir.path().join("004.png")).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = list_frames(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert_eq!(names, ["001.jpeg", "002.JPG", "010.png"]);
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        fs::write(empty.path().join("readme.txt"), b"x").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(list_frames(empty.path()), Err(DeclutterError::EmptyFolder { .. })));
        assert!(matches!(list_frames(&empty.path().join("missing")), Err(DeclutterError::Io { .. })));
    }
}
