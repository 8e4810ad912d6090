//! Audio files: streaming decode of WAV, FLAC, Ogg Vorbis and MP3 (`symphonia`, only those
//! formats and codecs compiled in) to interleaved f32, and WAV output (`hound`).
//!
//! Reading is packet by packet, so a file of any length is processed in constant memory.

mod error;
mod reader;
mod writer;

pub use error::AudioError;
pub use reader::{AudioInfo, AudioReader};
pub use writer::{WavSampleFormat, WavSink, to_i16};
