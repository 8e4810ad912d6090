//! Why a video or image could not be upscaled.

use std::path::PathBuf;

/// A video pipeline error. Input problems (the caller should fix the file) are kept apart
/// from output and internal ones.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The input could not be opened or is not a media file FFmpeg recognises.
    #[error("{}: not a video or image FFmpeg can read (or cut short before its header ended): {reason}", path.display())]
    NotMedia {
        /// The input.
        path: PathBuf,
        /// FFmpeg's message.
        reason: String,
    },
    /// The file holds no video stream (audio only, subtitles, data).
    #[error("{}: the file has no video stream", path.display())]
    NoVideo {
        /// The input.
        path: PathBuf,
    },
    /// The video codec has no decoder in this FFmpeg build.
    #[error("{}: unsupported video codec `{codec}`: this FFmpeg build has no decoder for it", path.display())]
    UnsupportedCodec {
        /// The input.
        path: PathBuf,
        /// The codec's name as FFmpeg reports it.
        codec: String,
    },
    /// The frame size is zero or beyond the documented cap.
    #[error("{width}×{height} → {out_width}×{out_height}: {reason}")]
    BadDimensions {
        /// Input width in pixels.
        width: usize,
        /// Input height in pixels.
        height: usize,
        /// Output width in pixels.
        out_width: usize,
        /// Output height in pixels.
        out_height: usize,
        /// Which limit is broken.
        reason: String,
    },
    /// The video stream decoded to no frame at all.
    #[error("{}: the video stream holds no frames", path.display())]
    ZeroFrames {
        /// The input.
        path: PathBuf,
    },
    /// The file ends (or breaks) before the frames its header announces.
    #[error("{}: truncated or corrupt: {reason}", path.display())]
    Truncated {
        /// The input.
        path: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// The output's extension names no container this pipeline writes.
    #[error("{}: {reason}", path.display())]
    UnsupportedOutput {
        /// The output.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image output was asked for a video with several frames.
    #[error("an image output takes a single-frame input; this one has {frames} or more frames (write .mp4 or .webm)")]
    ImageNeedsOneFrame {
        /// Frames the input announces.
        frames: u64,
    },
    /// A setting is out of range (scale factor, CRF, buffer sizes).
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// An FFmpeg call failed while decoding, converting, encoding or writing.
    #[error("{context}: {source}")]
    Ffmpeg {
        /// What was being done.
        context: String,
        /// FFmpeg's error.
        source: ffmpeg_next::Error,
    },
    /// The audio track could not be denoised.
    #[error("audio denoising failed: {0}")]
    Denoise(#[from] crate::denoise::DenoiseError),
    /// An in-memory picture (a live stream's JPEG frame) is not one, is damaged, or is not
    /// the stream's size.
    #[error("bad picture: {reason}")]
    BadPicture {
        /// What is wrong.
        reason: String,
    },
    /// The luma upscaler failed.
    #[error("upscaler: {0}")]
    Upscaler(String),
}

/// Adds what was being done to an FFmpeg error.
pub(crate) trait FfmpegContext<T> {
    /// Wraps the error as [`VideoError::Ffmpeg`] with `context` (a closure, so the happy path
    /// builds no string).
    fn ff(self, context: impl FnOnce() -> String) -> Result<T, VideoError>;
}

impl<T> FfmpegContext<T> for Result<T, ffmpeg_next::Error> {
    fn ff(self, context: impl FnOnce() -> String) -> Result<T, VideoError> {
        self.map_err(|source| VideoError::Ffmpeg { context: context(), source })
    }
}
