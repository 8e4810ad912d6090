//! Why an audio file could not be read or written.

use std::path::PathBuf;

/// An audio file error; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened, read or written.
    #[error("{}: cannot open or read the file", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// No supported container was recognised (not audio, or empty).
    #[error("{}: not an audio file this build reads (WAV, FLAC, Ogg Vorbis, MP3): {reason}", path.display())]
    NotAudio {
        /// The file.
        path: PathBuf,
        /// What the prober said.
        reason: String,
    },
    /// The container holds audio in a codec this build does not decode, or no audio track.
    #[error("{}: unsupported audio: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Which codec or parameter.
        reason: String,
    },
    /// The stream declares no channels (or a channel count that changes mid-stream).
    #[error("{}: {reason}", path.display())]
    BadChannels {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The stream declares no sample rate, or 0 Hz.
    #[error("{}: the stream has no valid sample rate ({rate:?} Hz)", path.display())]
    BadSampleRate {
        /// The file.
        path: PathBuf,
        /// The declared rate, if any.
        rate: Option<u32>,
    },
    /// The file ends before the audio its header announces.
    #[error("{}: truncated: the header announces {expected} frames, the file holds {got}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Frames (samples per channel) announced.
        expected: u64,
        /// Frames decoded.
        got: u64,
    },
    /// A packet could not be decoded (corrupt data).
    #[error("{}: corrupt audio after {frames} frames: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Frames decoded before the bad packet.
        frames: u64,
        /// The decoder's message.
        reason: String,
    },
    /// The WAV writer failed.
    #[error("{}: cannot write WAV: {reason}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The writer's message.
        reason: String,
    },
}
