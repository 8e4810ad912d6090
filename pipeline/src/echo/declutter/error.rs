//! Why a clip could not be decluttered.

use std::path::PathBuf;

use sluice_engine::EngineError;
use sluice_models::WeightsError;

use crate::video::VideoError;

/// A declutter error. Input problems (the caller should fix the clip) are kept apart from
/// output, set-up and internal ones.
#[derive(Debug, thiserror::Error)]
pub enum DeclutterError {
    /// The bundled (or given) clutter-filter weights could not be loaded.
    #[error("cannot load the clutter-filter weights: {0}")]
    Weights(#[from] WeightsError),
    /// The frame size is empty or beyond [`super::MAX_PIXELS`].
    #[error("frame {width}×{height}: {reason}")]
    BadDimensions {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Which limit is broken.
        reason: String,
    },
    /// A buffer handed to the stage does not match its frame size (a caller bug).
    #[error("{what}: {reason}")]
    BufferSize {
        /// Which buffer.
        what: &'static str,
        /// Its size against the expected one.
        reason: String,
    },
    /// The network could not be planned or run.
    #[error("clutter filter: {0}")]
    Model(#[from] EngineError),
    /// A frame folder holds no PNG or JPEG file.
    #[error("{}: no PNG or JPEG frames in this folder", path.display())]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },
    /// A frame of a folder differs in size from the first one.
    #[error("{}: frame is {}×{}, but {} is {}×{} (every frame of a folder must have one size)",
        path.display(), size.0, size.1, first.display(), first_size.0, first_size.1)]
    MixedSizes {
        /// The odd frame.
        path: PathBuf,
        /// Its (width, height).
        size: (usize, usize),
        /// The folder's first frame.
        first: PathBuf,
        /// Its (width, height).
        first_size: (usize, usize),
    },
    /// An image of a frame folder could not be decoded.
    #[error("{}: unreadable image: {reason}", path.display())]
    BadImage {
        /// The image.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A DICOM input is not a readable DICOM file, or is damaged: no `DICM` marker, a cut or
    /// broken data set, missing pixel attributes or pixel data, a frame count that does not
    /// match the pixel data.
    #[error("{}: bad DICOM file: {reason}", path.display())]
    BadDicom {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A DICOM input this reader does not take: its transfer syntax, bit depth, sign or
    /// photometric interpretation.
    #[error("{}: unsupported DICOM file: {reason}", path.display())]
    UnsupportedDicom {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        reason: String,
    },
    /// A frame archive cannot be read, holds no frame, or holds something other than frames.
    #[error("{}: bad frame archive: {reason}", path.display())]
    BadArchive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The output path names neither a video container nor a folder.
    #[error("{}: {reason}", path.display())]
    UnsupportedOutput {
        /// The output.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading a folder or writing a frame failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Decoding, encoding or muxing video failed (or the input is not a video).
    #[error(transparent)]
    Video(#[from] VideoError),
}
