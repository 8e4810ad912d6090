//! Frame archives: a `.zip`, `.tar` or `.tar.gz` of PNG/JPEG frames, unpacked into a temporary
//! folder and then read like a frame folder ([`super::frames`]), in member-name order.
//!
//! Every file member must be a PNG or JPEG (by extension; hidden files and `__MACOSX/` are
//! skipped): an archive with anything else, or with no frame, is refused rather than guessed
//! at. Unpacking streams each member to disk; members over [`MAX_MEMBER`] bytes or archives
//! unpacking to over [`MAX_TOTAL`] are refused (a small upload must not fill the disk).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::error::DeclutterError;

/// Largest frame file taken from an archive.
pub const MAX_MEMBER: u64 = 64 << 20;
/// Largest total unpacked.
pub const MAX_TOTAL: u64 = 4 << 30;

/// An archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// ZIP (stored or deflated members).
    Zip,
    /// POSIX/GNU tar.
    Tar,
    /// Gzip-compressed tar.
    TarGz,
}

impl ArchiveKind {
    /// The archive format of a file from its first bytes (ZIP and gzip magic, the `ustar`
    /// marker), else from its name (`.zip`, `.tar`, `.tar.gz`, `.tgz`).
    pub fn detect(head: &[u8], path: &Path) -> Option<Self> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            return Some(Self::Zip);
        }
        if head.starts_with(&[0x1F, 0x8B]) {
            return Some(Self::TarGz);
        }
        if head.get(257..262) == Some(b"ustar") {
            return Some(Self::Tar);
        }
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        [(".zip", Self::Zip), (".tar", Self::Tar), (".tar.gz", Self::TarGz), (".tgz", Self::TarGz)]
            .into_iter()
            .find_map(|(ext, kind)| name.ends_with(ext).then_some(kind))
    }
}

/// The frames of an archive, unpacked: the temporary folder (removed when dropped) and its
/// files in member-name order.
#[derive(Debug)]
pub struct Unpacked {
    /// The folder holding the frames.
    pub dir: tempfile::TempDir,
    /// The frame files, in member-name order.
    pub files: Vec<PathBuf>,
    /// `ARCHIVE:MEMBER` for each file, for messages.
    pub names: Vec<PathBuf>,
}

impl Unpacked {
    /// `e` with the temporary frame paths it names replaced by `ARCHIVE:MEMBER`.
    pub fn relabel(&self, e: DeclutterError) -> DeclutterError {
        let name = |p: PathBuf| match self.files.iter().position(|f| *f == p) {
            Some(k) => self.names[k].clone(),
            None => p,
        };
        match e {
            DeclutterError::BadImage { path, reason } => DeclutterError::BadImage { path: name(path), reason },
            DeclutterError::MixedSizes { path, size, first, first_size } => {
                DeclutterError::MixedSizes { path: name(path), size, first: name(first), first_size }
            }
            other => other,
        }
    }
}

/// Unpacks the frames of the `kind` archive `path` into a temporary folder.
pub fn unpack(path: &Path, kind: ArchiveKind) -> Result<Unpacked, DeclutterError> {
    let io_err = |source| DeclutterError::Io { path: path.to_path_buf(), source };
    let bad = |reason: String| DeclutterError::BadArchive { path: path.to_path_buf(), reason };
    let dir = tempfile::Builder::new().prefix("sluice-frames.").tempdir().map_err(io_err)?;
    let mut members: Vec<(String, PathBuf)> = Vec::new();
    let mut total = 0u64;
    let mut take = |name: String, reader: &mut dyn Read| -> Result<(), DeclutterError> {
        let Some(ext) = frame_extension(&name) else {
            return if skipped(&name) {
                Ok(())
            } else {
                Err(bad(format!("member '{name}' is not a PNG or JPEG frame (an archive holds only frames)")))
            };
        };
        let file = dir.path().join(format!("{:06}.{ext}", members.len()));
        let mut out = File::create(&file).map_err(io_err)?;
        let n = io::copy(&mut reader.take(MAX_MEMBER + 1), &mut out)
            .map_err(|e| bad(format!("member '{name}' cannot be unpacked: {e}")))?;
        total += n;
        if n > MAX_MEMBER || total > MAX_TOTAL {
            return Err(bad(format!(
                "member '{name}' is over {} MiB, or the frames over {} GiB",
                MAX_MEMBER >> 20,
                MAX_TOTAL >> 30
            )));
        }
        members.push((name, file));
        Ok(())
    };
    let file = File::open(path).map_err(io_err)?;
    match kind {
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a readable ZIP archive: {e}")))?;
            for i in 0..zip.len() {
                let mut member = zip.by_index(i).map_err(|e| bad(format!("member {i}: {e}")))?;
                if member.is_file() {
                    let name = member.name().map_err(|e| bad(format!("member {i}: {e}")))?.into_owned();
                    take(name, &mut member)?;
                }
            }
        }
        ArchiveKind::Tar => read_tar(tar::Archive::new(file), &mut take, &bad)?,
        ArchiveKind::TarGz => read_tar(tar::Archive::new(flate2::read::GzDecoder::new(file)), &mut take, &bad)?,
    }
    if members.is_empty() {
        return Err(bad("no PNG or JPEG frames in this archive".into()));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let names = members.iter().map(|(m, _)| PathBuf::from(format!("{}:{m}", path.display()))).collect();
    Ok(Unpacked { dir, files: members.into_iter().map(|(_, f)| f).collect(), names })
}

fn read_tar<R: Read>(
    mut archive: tar::Archive<R>,
    take: &mut dyn FnMut(String, &mut dyn Read) -> Result<(), DeclutterError>,
    bad: &dyn Fn(String) -> DeclutterError,
) -> Result<(), DeclutterError> {
    let entries = archive.entries().map_err(|e| bad(format!("not a readable tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a readable tar archive: {e}")))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let name = entry.path().map_err(|e| bad(format!("a member name: {e}")))?.to_string_lossy().into_owned();
        if !kind.is_file() {
            if skipped(&name) {
                continue;
            }
            return Err(bad(format!("member '{name}' is not a regular file (links and devices are refused)")));
        }
        take(name, &mut entry)?;
    }
    Ok(())
}

/// `png` or `jpg` for a frame member's name (by extension, any case), unless hidden.
fn frame_extension(name: &str) -> Option<&'static str> {
    if skipped(name) {
        return None;
    }
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" => Some("png"),
        "jpg" | "jpeg" => Some("jpg"),
        _ => None,
    }
}

/// Members ignored like a folder's hidden files: dot files and macOS resource forks.
fn skipped(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with('.') || name.starts_with("__MACOSX/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_magic_then_name() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        let p = Path::new;
        assert_eq!(ArchiveKind::detect(b"PK\x03\x04rest", p("a.bin")), Some(ArchiveKind::Zip));
        assert_eq!(ArchiveKind::detect(&[0x1F, 0x8B, 8], p("a")), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::detect(&tar, p("a")), Some(ArchiveKind::Tar));
        assert_eq!(ArchiveKind::detect(b"", p("frames.TGZ")), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::detect(b"", p("frames.tar")), Some(ArchiveKind::Tar));
        assert_eq!(ArchiveKind::detect(b"\x00\x00\x00\x18ftypisom", p("clip.mp4")), None);
        assert_eq!(frame_extension("clip/001.JPEG"), Some("jpg"));
        assert_eq!(frame_extension("clip/.001.png"), None);
        assert_eq!(frame_extension("notes.txt"), None);
        assert!(skipped("__MACOSX/clip/._001.png"));
    }
}
