//! Reading a model's files from a `.tar.gz` archive or a directory.
//!
//! Official DeepFilterNet exports are tarballs whose entries sit under a build path
//! (`tmp/export/enc.onnx`, ...), so archive entries are matched by their file name alone.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

use crate::WeightsError;

/// Largest file accepted from an archive or directory. DFN3 files are at most 3.4 MB;
/// the limit stops a corrupt or hostile archive from decompressing without bound.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// The contents of named files, read from an archive or a directory.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    source: String,
    files: Vec<(&'static str, Vec<u8>)>,
}

impl ModelFiles {
    /// Reads `names` from `path`: a directory holding those files, or a `.tar.gz` archive
    /// holding entries with those file names (in any folder). Every name must be present.
    pub fn read(path: &Path, names: &[&'static str]) -> Result<Self, WeightsError> {
        let meta = std::fs::metadata(path).map_err(|source| WeightsError::Io { path: path.to_owned(), source })?;
        if meta.is_dir() {
            return Self::read_dir(path, names);
        }
        let file = File::open(path).map_err(|source| WeightsError::Io { path: path.to_owned(), source })?;
        Self::read_tar_gz(BufReader::new(file), &path.display().to_string(), names)
    }

    /// Reads `names` from an in-memory `.tar.gz` archive.
    pub fn from_tar_gz_bytes(bytes: &[u8], names: &[&'static str]) -> Result<Self, WeightsError> {
        Self::read_tar_gz(bytes, "<in-memory archive>", names)
    }

    /// Wraps files already in memory; `source` names them in error messages.
    pub fn from_memory(source: &str, files: Vec<(&'static str, Vec<u8>)>) -> Self {
        Self { source: source.to_owned(), files }
    }

    /// The source these files came from (archive path or directory), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The bytes of file `name`, if it was requested.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.iter().find(|(n, _)| *n == name).map(|(_, b)| b.as_slice())
    }

    fn read_dir(dir: &Path, names: &[&'static str]) -> Result<Self, WeightsError> {
        let source = dir.display().to_string();
        let mut files = Vec::with_capacity(names.len());
        for &name in names {
            let path = dir.join(name);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(WeightsError::MissingFile { archive: source, file: name });
                }
                Err(source) => return Err(WeightsError::Io { path, source }),
            };
            let bytes = read_limited(file, &source, name).map_err(|e| match e {
                LimitedReadError::Io(source) => WeightsError::Io { path: path.clone(), source },
                LimitedReadError::TooLarge(e) => e,
            })?;
            files.push((name, bytes));
        }
        Ok(Self { source, files })
    }

    fn read_tar_gz<R: Read>(reader: R, source: &str, names: &[&'static str]) -> Result<Self, WeightsError> {
        let corrupt = |e: io::Error| WeightsError::Archive { archive: source.to_owned(), source: e };
        let mut archive = tar::Archive::new(GzDecoder::new(reader));
        let mut found: Vec<Option<Vec<u8>>> = vec![None; names.len()];
        for entry in archive.entries().map_err(corrupt)? {
            let entry = entry.map_err(corrupt)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(corrupt)?;
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(slot) = names.iter().position(|n| *n == file_name) else { continue };
            let name = names[slot];
            if found[slot].is_some() {
                return Err(WeightsError::DuplicateFile { archive: source.to_owned(), file: name });
            }
            let bytes = read_limited(entry, source, name).map_err(|e| match e {
                LimitedReadError::Io(e) => corrupt(e),
                LimitedReadError::TooLarge(e) => e,
            })?;
            found[slot] = Some(bytes);
        }
        // Read to the end of the gzip stream so its CRC and length trailer are checked:
        // tar stops at its end-of-archive blocks, before the trailer.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(corrupt)?;

        let mut files = Vec::with_capacity(names.len());
        for (&name, bytes) in names.iter().zip(found) {
            let bytes = bytes.ok_or_else(|| WeightsError::MissingFile { archive: source.to_owned(), file: name })?;
            files.push((name, bytes));
        }
        Ok(Self { source: source.to_owned(), files })
    }
}

enum LimitedReadError {
    Io(io::Error),
    TooLarge(WeightsError),
}

fn read_limited<R: Read>(reader: R, source: &str, name: &'static str) -> Result<Vec<u8>, LimitedReadError> {
    let mut bytes = Vec::new();
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(LimitedReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LimitedReadError::TooLarge(WeightsError::FileTooLarge {
            archive: source.to_owned(),
            file: name,
            limit: MAX_FILE_BYTES,
        }));
    }
    Ok(bytes)
}
