//! [`AudioReader`]: a decoded audio track, chunk by chunk.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_FLAC, CODEC_TYPE_NULL, CodecType, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::sample::SampleFormat;

use super::AudioError;

/// What a track holds, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    /// Sample rate in Hz (> 0).
    pub sample_rate: u32,
    /// Channels (> 0).
    pub channels: usize,
    /// Frames (samples per channel) the header announces, if it does.
    pub frames: Option<u64>,
    /// Bits per stored sample for lossless codecs (PCM, FLAC); `None` for lossy ones.
    pub bits_per_sample: Option<u32>,
    /// The samples are stored as floating point (float WAV).
    pub float: bool,
}

/// A decoder over the first audio track of a file: [`AudioReader::next_chunk`] yields
/// interleaved f32 samples in [-1, 1] one packet at a time.
pub struct AudioReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    info: AudioInfo,
    /// The announced frame count is exact (PCM, FLAC), so a shorter stream is truncated.
    exact_length: bool,
    buf: Option<SampleBuffer<f32>>,
    frames: u64,
}

impl AudioReader {
    /// Opens `path` and reads its header (the extension is only a hint; the content decides).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref().to_path_buf();
        let mut file = File::open(&path).map_err(|source| AudioError::Io { path: path.clone(), source })?;
        // symphonia 0.5 panics on a 0 Hz WAV header; catch that before it reads one.
        if wav_header_rate(&mut file).map_err(|source| AudioError::Io { path: path.clone(), source })? == Some(0) {
            return Err(AudioError::BadSampleRate { path, rate: Some(0) });
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        // Gapless: MP3 encoder delay and padding are trimmed (LAME/Xing tags), so the decoded
        // length is the encoded signal's.
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                mss,
                &FormatOptions { enable_gapless: true, ..Default::default() },
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymphoniaError::IoError(source) if source.kind() != ErrorKind::UnexpectedEof => {
                    AudioError::Io { path: path.clone(), source }
                }
                SymphoniaError::IoError(_) => {
                    AudioError::NotAudio { path: path.clone(), reason: "the file ends inside its header".into() }
                }
                other => AudioError::NotAudio { path: path.clone(), reason: other.to_string() },
            })?;
        let format = probed.format;
        let track = format.tracks().iter().find(|t| t.codec_params.codec != CODEC_TYPE_NULL).ok_or_else(|| {
            AudioError::Unsupported { path: path.clone(), reason: "no audio track in a supported codec".into() }
        })?;
        let params = &track.codec_params;
        let sample_rate = match params.sample_rate {
            Some(r) if r > 0 => r,
            rate => return Err(AudioError::BadSampleRate { path, rate }),
        };
        let channels = params.channels.map_or(0, |c| c.count());
        if channels == 0 {
            return Err(AudioError::BadChannels { path, reason: "the stream declares zero channels".into() });
        }
        let codec = params.codec;
        let lossless = is_pcm(codec) || codec == CODEC_TYPE_FLAC;
        let info = AudioInfo {
            sample_rate,
            channels,
            frames: params.n_frames,
            bits_per_sample: if lossless { params.bits_per_sample } else { None },
            float: matches!(params.sample_format, Some(SampleFormat::F32 | SampleFormat::F64)),
        };
        let decoder = symphonia::default::get_codecs().make(params, &DecoderOptions::default()).map_err(|e| {
            AudioError::Unsupported { path: path.clone(), reason: format!("codec {}: {e}", codec_name(codec)) }
        })?;
        Ok(Self {
            path,
            track_id: track.id,
            format,
            decoder,
            info,
            exact_length: lossless && info.frames.is_some(),
            buf: None,
            frames: 0,
        })
    }

    /// The track's parameters.
    pub fn info(&self) -> AudioInfo {
        self.info
    }

    /// Frames decoded so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// The next interleaved samples (whole frames, possibly none for an empty packet), or
    /// `None` at the end of the stream. A lossless stream that ends before the frame count
    /// its header announces is [`AudioError::Truncated`].
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, AudioError> {
        let packet = loop {
            match self.format.next_packet() {
                Ok(p) if p.track_id() == self.track_id => break p,
                Ok(_) => continue,
                // symphonia 0.5 reports the end of the stream as an unexpected EOF.
                Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    return self.end();
                }
                Err(SymphoniaError::IoError(source)) => return Err(AudioError::Io { path: self.path.clone(), source }),
                Err(e) => return Err(self.corrupt(e)),
            }
        };
        let decoded = match self.decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => return self.end(),
            Err(e) => return Err(self.corrupt(e)),
        };
        let spec = *decoded.spec();
        if spec.channels.count() != self.info.channels {
            return Err(AudioError::BadChannels {
                path: self.path.clone(),
                reason: format!(
                    "channel count changes from {} to {} mid-stream",
                    self.info.channels,
                    spec.channels.count()
                ),
            });
        }
        let capacity = decoded.capacity() as u64;
        let needed = capacity as usize * spec.channels.count();
        if self.buf.as_ref().is_none_or(|b| b.capacity() < needed) {
            self.buf = Some(SampleBuffer::new(capacity, spec));
        }
        let Some(buf) = self.buf.as_mut() else { return Ok(Some(&[])) };
        buf.copy_interleaved_ref(decoded);
        self.frames += (buf.len() / self.info.channels) as u64;
        Ok(Some(buf.samples()))
    }

    fn end(&mut self) -> Result<Option<&[f32]>, AudioError> {
        match self.info.frames {
            Some(expected) if self.exact_length && self.frames < expected => {
                Err(AudioError::Truncated { path: self.path.clone(), expected, got: self.frames })
            }
            _ => Ok(None),
        }
    }

    fn corrupt(&self, e: SymphoniaError) -> AudioError {
        AudioError::Corrupt { path: self.path.clone(), frames: self.frames, reason: e.to_string() }
    }
}

fn is_pcm(codec: CodecType) -> bool {
    use symphonia::core::codecs as c;
    [
        c::CODEC_TYPE_PCM_S8,
        c::CODEC_TYPE_PCM_U8,
        c::CODEC_TYPE_PCM_S16LE,
        c::CODEC_TYPE_PCM_S16BE,
        c::CODEC_TYPE_PCM_S24LE,
        c::CODEC_TYPE_PCM_S24BE,
        c::CODEC_TYPE_PCM_S32LE,
        c::CODEC_TYPE_PCM_S32BE,
        c::CODEC_TYPE_PCM_F32LE,
        c::CODEC_TYPE_PCM_F32BE,
        c::CODEC_TYPE_PCM_F64LE,
        c::CODEC_TYPE_PCM_F64BE,
    ]
    .contains(&codec)
}

fn codec_name(codec: CodecType) -> String {
    symphonia::default::get_codecs().get_codec(codec).map_or_else(|| format!("{codec}"), |d| d.short_name.to_string())
}

/// The sample rate in a RIFF/WAVE file's `fmt ` chunk, if the file is one and the chunk is in
/// its first 64 KiB; leaves the file at its start.
fn wav_header_rate(file: &mut File) -> std::io::Result<Option<u32>> {
    let mut head = Vec::with_capacity(1 << 16);
    file.by_ref().take(1 << 16).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Ok(None);
    }
    let mut pos = 12;
    while let Some(chunk) = head.get(pos..pos + 8) {
        let len = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]) as usize;
        if &chunk[..4] == b"fmt " {
            return Ok(head.get(pos + 12..pos + 16).map(|r| u32::from_le_bytes([r[0], r[1], r[2], r[3]])));
        }
        pos = pos.saturating_add(8).saturating_add(len).saturating_add(len & 1);
    }
    Ok(None)
}
