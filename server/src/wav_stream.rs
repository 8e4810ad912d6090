//! A WAV encoded into memory piece by piece, for responses streamed while they are produced.
//!
//! The length is known before the first sample (the file route counts the input's frames first
//! and the output is exactly as long), so the header is final from the start and no seek back is
//! needed. Header and sample encoding match what [`WavSink`](sluice_pipeline::audio::WavSink)
//! writes to a file, so the HTTP route's bytes equal `sluice denoise`'s.

use sluice_pipeline::audio::{WavSampleFormat, to_i16};
use std::io::Cursor;

/// Why a header could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WavHeaderError {
    /// The data would not fit a RIFF file's 32-bit sizes (about 4 GiB).
    #[error("{frames} frames of {channels} channels do not fit in a WAV file (4 GiB at most)")]
    TooLong {
        /// Frames asked for.
        frames: u64,
        /// Channels asked for.
        channels: usize,
    },
    /// The channel count or the rate cannot be written (e.g. more than 65535 channels).
    #[error("cannot write a WAV header: {0}")]
    Spec(String),
}

/// Bytes per encoded sample.
pub fn sample_bytes(format: WavSampleFormat) -> usize {
    match format {
        WavSampleFormat::Int16 => 2,
        WavSampleFormat::Float32 => 4,
    }
}

/// The complete header of a WAV holding `frames` frames, as `hound` writes it.
pub fn header(
    sample_rate: u32,
    channels: usize,
    format: WavSampleFormat,
    frames: u64,
) -> Result<Vec<u8>, WavHeaderError> {
    let too_long = || WavHeaderError::TooLong { frames, channels };
    let data_len = frames
        .checked_mul(channels as u64)
        .and_then(|n| n.checked_mul(sample_bytes(format) as u64))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(too_long)?;
    let spec_channels = u16::try_from(channels).map_err(|_| WavHeaderError::Spec(format!("{channels} channels")))?;
    let spec = match format {
        WavSampleFormat::Int16 => hound::WavSpec {
            channels: spec_channels,
            sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
        WavSampleFormat::Float32 => hound::WavSpec {
            channels: spec_channels,
            sample_rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        },
    };
    // Let hound write an empty file, then patch its two sizes: the format chunk stays hound's.
    let mut cursor = Cursor::new(Vec::new());
    let writer = hound::WavWriter::new(&mut cursor, spec).map_err(|e| WavHeaderError::Spec(e.to_string()))?;
    writer.finalize().map_err(|e| WavHeaderError::Spec(e.to_string()))?;
    let mut head = cursor.into_inner();
    let data_at = data_chunk_offset(&head).ok_or_else(|| WavHeaderError::Spec("no data chunk".into()))?;
    let riff_len = u32::try_from(head.len() - 8).ok().and_then(|h| h.checked_add(data_len)).ok_or_else(too_long)?;
    head[4..8].copy_from_slice(&riff_len.to_le_bytes());
    head[data_at + 4..data_at + 8].copy_from_slice(&data_len.to_le_bytes());
    Ok(head)
}

/// Offset of the `data` chunk's id in a RIFF/WAVE header.
fn data_chunk_offset(head: &[u8]) -> Option<usize> {
    let mut pos = 12;
    while let Some(chunk) = head.get(pos..pos + 8) {
        if &chunk[..4] == b"data" {
            return Some(pos);
        }
        let len = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]) as usize;
        pos = pos.checked_add(8 + len + (len & 1))?;
    }
    None
}

/// Appends `samples` to `out` in `format`, little-endian (the same rounding as `WavSink`).
pub fn encode(format: WavSampleFormat, samples: &[f32], out: &mut Vec<u8>) {
    match format {
        WavSampleFormat::Int16 => out.extend(samples.iter().flat_map(|&x| to_i16(x).to_le_bytes())),
        WavSampleFormat::Float32 => out.extend(samples.iter().flat_map(|&x| x.to_le_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_pipeline::audio::WavSink;

    /// The file `WavSink` writes for `samples`.
    fn via_sink(rate: u32, channels: usize, format: WavSampleFormat, samples: &[f32]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("x.wav");
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut sink = WavSink::new(file, &path, rate, channels, format).unwrap_or_else(|e| panic!("{e}"));
        sink.write(samples).unwrap_or_else(|e| panic!("{e}"));
        sink.finish().unwrap_or_else(|e| panic!("{e}"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn streamed_bytes_equal_the_file_sinks() {
        let samples: Vec<f32> = (0..600).map(|i| ((i as f32) * 0.05).sin() * 1.2).collect();
        for (rate, channels, format) in [
            (48_000, 1, WavSampleFormat::Int16),
            (16_000, 2, WavSampleFormat::Int16),
            (44_100, 3, WavSampleFormat::Int16),
            (44_100, 2, WavSampleFormat::Float32),
            (8_000, 6, WavSampleFormat::Float32),
        ] {
            let frames = samples.len() / channels;
            let samples = &samples[..frames * channels];
            let mut streamed = header(rate, channels, format, frames as u64).unwrap_or_else(|e| panic!("{e}"));
            encode(format, samples, &mut streamed);
            assert_eq!(streamed, via_sink(rate, channels, format, samples), "{rate} Hz, {channels} ch, {format:?}");
        }
    }

    #[test]
    fn oversized_data_is_refused() {
        assert!(matches!(header(48_000, 2, WavSampleFormat::Float32, 1 << 30), Err(WavHeaderError::TooLong { .. })));
        assert!(matches!(header(48_000, 70_000, WavSampleFormat::Int16, 1), Err(WavHeaderError::Spec(_))));
        assert!(header(48_000, 1, WavSampleFormat::Int16, 0).is_ok());
    }
}
