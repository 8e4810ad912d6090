//! [`WavSink`]: a WAV file written sample by sample.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{AudioError, AudioInfo};

/// Sample encoding of a written WAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavSampleFormat {
    /// 16-bit integer PCM: `round(x·32768)` clamped to `i16` (the inverse of the decoder's
    /// `i / 32768`, so a 16-bit sample that passes through unchanged is written back exactly).
    Int16,
    /// 32-bit IEEE float, unclipped.
    Float32,
}

impl WavSampleFormat {
    /// The format that keeps an input's precision without inflating it: 16-bit PCM for
    /// integer inputs of ≤ 16 bits and for lossy codecs (MP3, Vorbis: their decoders' output
    /// has no more than 16 bits of meaning), 32-bit float for 24/32-bit integer and float inputs.
    pub fn for_input(info: &AudioInfo) -> Self {
        match info.bits_per_sample {
            _ if info.float => Self::Float32,
            Some(bits) if bits > 16 => Self::Float32,
            _ => Self::Int16,
        }
    }
}

/// A WAV file being written from interleaved f32 samples; [`WavSink::finish`] writes the final
/// header. The caller picks the path (e.g. a temporary file to rename on success).
pub struct WavSink {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    format: WavSampleFormat,
}

impl WavSink {
    /// Writes a WAV with `channels` channels at `sample_rate` Hz into the already-created `file`
    /// (`path` names it in errors).
    pub fn new(
        file: File,
        path: impl AsRef<Path>,
        sample_rate: u32,
        channels: usize,
        format: WavSampleFormat,
    ) -> Result<Self, AudioError> {
        let path = path.as_ref().to_path_buf();
        let write_err = |reason: String| AudioError::Write { path: path.clone(), reason };
        let channels = u16::try_from(channels).map_err(|_| write_err(format!("{channels} channels do not fit WAV")))?;
        let spec = match format {
            WavSampleFormat::Int16 => {
                hound::WavSpec { channels, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int }
            }
            WavSampleFormat::Float32 => {
                hound::WavSpec { channels, sample_rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float }
            }
        };
        let writer = hound::WavWriter::new(BufWriter::new(file), spec).map_err(|e| write_err(e.to_string()))?;
        Ok(Self { path, writer, format })
    }

    /// The sample encoding.
    pub fn format(&self) -> WavSampleFormat {
        self.format
    }

    /// Appends interleaved samples (whole frames).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        let result = match self.format {
            WavSampleFormat::Int16 => samples.iter().try_for_each(|&x| self.writer.write_sample(to_i16(x))),
            WavSampleFormat::Float32 => samples.iter().try_for_each(|&x| self.writer.write_sample(x)),
        };
        result.map_err(|e| AudioError::Write { path: self.path.clone(), reason: e.to_string() })
    }

    /// Writes the header's final lengths and flushes the file.
    pub fn finish(self) -> Result<(), AudioError> {
        self.writer.finalize().map_err(|e| AudioError::Write { path: self.path, reason: e.to_string() })
    }
}

/// `round(x·32768)` saturated to `i16`.
pub fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}
