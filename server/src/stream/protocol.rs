//! The live-audio WebSocket protocol of DESIGN §5: JSON control messages, PCM sample formats
//! and close codes.
//!
//! Every `*_samples` count is in samples per channel (frames), at the stream's own rate.

use bytes::BufMut;
use serde::{Deserialize, Serialize};

use crate::gating::Gating;

/// Close codes the server ends a session with.
pub mod close {
    /// Normal end after `stop` → `done`.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down (after the flushed tail and `done`).
    pub const GOING_AWAY: u16 = 1001;
    /// Bad data: binary before `start`, bad JSON, unknown format, partial frames, NaN samples.
    pub const UNSUPPORTED: u16 = 1003;
    /// Authentication or policy (missing/wrong API key, idle timeout).
    pub const POLICY: u16 = 1008;
    /// A message larger than the server's limit.
    pub const TOO_BIG: u16 = 1009;
    /// Internal error.
    pub const INTERNAL: u16 = 1011;
    /// At capacity: retry later.
    pub const TRY_AGAIN: u16 = 1013;
}

/// PCM sample encodings, little-endian and interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleFormat {
    /// Signed 16-bit (full scale 32768).
    S16le,
    /// 32-bit float (full scale 1.0); NaN and infinities are refused.
    F32le,
}

impl SampleFormat {
    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            Self::S16le => 2,
            Self::F32le => 4,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::S16le => "s16le",
            Self::F32le => "f32le",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "s16le" => Some(Self::S16le),
            "f32le" => Some(Self::F32le),
            _ => None,
        }
    }

    /// Decodes whole samples of `bytes` into `out` (one f32 per sample); returns how many.
    /// `None` if a float sample is not finite.
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) -> Option<usize> {
        let n = (bytes.len() / self.bytes()).min(out.len());
        match self {
            Self::S16le => {
                for (o, b) in out[..n].iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0;
                }
            }
            Self::F32le => {
                for (o, b) in out[..n].iter_mut().zip(bytes.chunks_exact(4)) {
                    let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    if !v.is_finite() {
                        return None;
                    }
                    *o = v;
                }
            }
        }
        Some(n)
    }

    /// Whether every sample of `bytes` is acceptable (finite floats; any 16-bit value).
    pub fn validate(self, bytes: &[u8]) -> bool {
        match self {
            Self::S16le => true,
            Self::F32le => bytes.chunks_exact(4).all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
        }
    }

    /// Appends `samples` encoded (16-bit: scaled by 32768, rounded, clipped).
    pub fn encode(self, samples: &[f32], out: &mut impl BufMut) {
        match self {
            Self::S16le => {
                for &s in samples {
                    out.put_i16_le(quantize_s16(s));
                }
            }
            Self::F32le => {
                for &s in samples {
                    out.put_f32_le(s);
                }
            }
        }
    }
}

/// f32 (full scale 1.0) → i16, as the server sends it.
pub fn quantize_s16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// A client's text message, as sent (every field optional, with DESIGN's defaults).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// Opens the stream.
    Start(StartRequest),
    /// Ends the stream: the server flushes the tail and answers `done`.
    Stop,
}

/// `{"type":"start",…}` as sent; [`StartRequest::validate`] turns it into a [`StreamConfig`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct StartRequest {
    /// Hz, 8000..=192000.
    #[serde(default = "default_rate")]
    pub sample_rate: u32,
    /// Interleaved channels, 1..=the server's cap.
    #[serde(default = "default_channels")]
    pub channels: u32,
    /// `s16le` or `f32le`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Attenuation limit in dB (`null` = no limit).
    #[serde(default)]
    pub atten_lim_db: Option<f32>,
    /// Post-filter β (0 = off).
    #[serde(default)]
    pub post_filter_beta: f32,
    /// lsnr stage gating, `"off"` or `"lsnr"` (a Sluice extension of DESIGN §5's `start`).
    #[serde(default)]
    pub gating: Gating,
}

fn default_rate() -> u32 {
    48_000
}
fn default_channels() -> u32 {
    1
}
fn default_format() -> String {
    "s16le".into()
}

/// A validated `start`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamConfig {
    /// Hz.
    pub sample_rate: usize,
    /// Interleaved channels.
    pub channels: usize,
    /// Wire format of PCM both ways.
    pub format: SampleFormat,
    /// dB, 100 = no limit.
    pub atten_lim_db: f32,
    /// Post-filter β.
    pub post_filter_beta: f32,
    /// lsnr stage gating.
    pub gating: Gating,
}

impl StreamConfig {
    /// Bytes per frame (one sample of every channel).
    pub fn frame_bytes(&self) -> usize {
        self.channels * self.format.bytes()
    }
}

/// Why a message was refused: the `error` event's `code` and `message`, and the close code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// WebSocket close code.
    pub close: u16,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What the client should fix.
    pub message: String,
}

impl Refusal {
    /// A refusal closing with 1003 (bad data).
    pub fn bad_data(code: &'static str, message: impl Into<String>) -> Self {
        Self { close: close::UNSUPPORTED, code, message: message.into() }
    }
}

impl StartRequest {
    /// Checks ranges against the server's channel cap.
    pub fn validate(&self, max_channels: usize) -> Result<StreamConfig, Refusal> {
        let format = SampleFormat::parse(&self.format).ok_or_else(|| {
            Refusal::bad_data("unsupported_format", format!("format {:?}: use \"s16le\" or \"f32le\"", self.format))
        })?;
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return Err(Refusal::bad_data(
                "bad_sample_rate",
                format!("sample_rate {} is outside 8000..=192000", self.sample_rate),
            ));
        }
        let channels = self.channels as usize;
        if channels == 0 || channels > max_channels {
            return Err(Refusal::bad_data(
                "bad_channels",
                format!("channels {channels} is outside 1..={max_channels}"),
            ));
        }
        let atten = self.atten_lim_db.unwrap_or(100.0);
        if !atten.is_finite() || atten < 0.0 {
            return Err(Refusal::bad_data("bad_setting", "atten_lim_db must be a finite number ≥ 0 or null"));
        }
        if !self.post_filter_beta.is_finite() || self.post_filter_beta < 0.0 {
            return Err(Refusal::bad_data("bad_setting", "post_filter_beta must be a finite number ≥ 0"));
        }
        Ok(StreamConfig {
            sample_rate: self.sample_rate as usize,
            channels,
            format,
            atten_lim_db: atten,
            post_filter_beta: self.post_filter_beta,
            gating: self.gating,
        })
    }
}

/// A server text message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    /// The stream is open: output is the input delayed by `latency_samples`; it comes in units
    /// of `hop_samples`.
    Ready {
        /// Delay of the output stream in samples per channel.
        latency_samples: usize,
        /// Samples per channel per processing unit.
        hop_samples: usize,
    },
    /// Now and then while streaming.
    Stats {
        /// Mean local SNR estimate since the last stats, in dB.
        lsnr_db: f32,
        /// Samples per channel processed so far.
        processed_samples: u64,
        /// Audio received but not yet processed, in ms (grows when the stream falls behind or
        /// the client sends faster than real time).
        queue_ms: f64,
    },
    /// After `stop`: the flushed tail has been sent.
    Done {
        /// Samples per channel received.
        samples: u64,
    },
    /// Sent just before the close frame of a failed session.
    Error {
        /// Stable machine-readable code.
        code: String,
        /// Human-readable explanation.
        message: String,
    },
}

impl ServerMessage {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail; fall back to a fixed error just in case.
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","message":"serialisation"}"#.to_owned())
    }
}

impl From<&Refusal> for ServerMessage {
    fn from(r: &Refusal) -> Self {
        ServerMessage::Error { code: r.code.to_owned(), message: r.message.clone() }
    }
}

/// Parses a client text message.
pub fn parse_client(text: &str) -> Result<ClientMessage, Refusal> {
    serde_json::from_str(text).map_err(|e| Refusal::bad_data("bad_message", format!("not a valid message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_defaults_follow_the_design() {
        let ClientMessage::Start(s) = parse_client(r#"{"type":"start"}"#).unwrap_or_else(|e| panic!("{e:?}")) else {
            panic!("expected start")
        };
        let c = s.validate(8).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            c,
            StreamConfig {
                sample_rate: 48_000,
                channels: 1,
                format: SampleFormat::S16le,
                atten_lim_db: 100.0,
                post_filter_beta: 0.0,
                gating: Gating::Off,
            }
        );
        assert_eq!(parse_client(r#"{"type":"stop"}"#), Ok(ClientMessage::Stop));
        let ClientMessage::Start(s) =
            parse_client(r#"{"type":"start","gating":"lsnr"}"#).unwrap_or_else(|e| panic!("{e:?}"))
        else {
            panic!("expected start")
        };
        assert_eq!(s.validate(8).map(|c| c.gating), Ok(Gating::Lsnr));
    }

    #[test]
    fn bad_starts_are_refused_with_1003() {
        for (text, code) in [
            (r#"{"type":"start","format":"mp3"}"#, "unsupported_format"),
            (r#"{"type":"start","sample_rate":4000}"#, "bad_sample_rate"),
            (r#"{"type":"start","channels":9}"#, "bad_channels"),
            (r#"{"type":"start","channels":0}"#, "bad_channels"),
            (r#"{"type":"start","post_filter_beta":-1}"#, "bad_setting"),
        ] {
            let ClientMessage::Start(s) = parse_client(text).unwrap_or_else(|e| panic!("{e:?}")) else { panic!() };
            let r = s.validate(8).err().unwrap_or_else(|| panic!("{text} accepted"));
            assert_eq!((r.close, r.code), (close::UNSUPPORTED, code), "{text}");
        }
        for text in
            ["{", r#"{"type":"go"}"#, r#"{"type":"start","channels":"two"}"#, r#"{"type":"start","gating":"on"}"#, "[]"]
        {
            assert_eq!(parse_client(text).err().map(|r| (r.close, r.code)), Some((1003, "bad_message")), "{text}");
        }
    }

    #[test]
    fn pcm_round_trips() {
        let x = [0.0f32, 0.5, -0.25, 0.999, -1.0];
        for f in [SampleFormat::S16le, SampleFormat::F32le] {
            let mut bytes = Vec::new();
            f.encode(&x, &mut bytes);
            assert_eq!(bytes.len(), x.len() * f.bytes());
            let mut back = [0.0; 5];
            assert_eq!(f.decode(&bytes, &mut back), Some(5));
            for (a, b) in x.iter().zip(&back) {
                assert!((a - b).abs() < 1.0 / 32768.0, "{f:?}: {a} → {b}");
            }
        }
        assert_eq!(quantize_s16(2.0), 32767);
        assert_eq!(quantize_s16(-2.0), -32768);
        let nan = f32::NAN.to_le_bytes();
        assert!(!SampleFormat::F32le.validate(&nan));
        assert_eq!(SampleFormat::F32le.decode(&nan, &mut [0.0]), None);
    }

    #[test]
    fn server_messages_have_the_design_shape() {
        assert_eq!(
            ServerMessage::Ready { latency_samples: 1440, hop_samples: 480 }.to_json(),
            r#"{"type":"ready","latency_samples":1440,"hop_samples":480}"#
        );
        assert_eq!(ServerMessage::Done { samples: 7 }.to_json(), r#"{"type":"done","samples":7}"#);
        assert_eq!(
            ServerMessage::Error { code: "x".into(), message: "y".into() }.to_json(),
            r#"{"type":"error","code":"x","message":"y"}"#
        );
    }
}
