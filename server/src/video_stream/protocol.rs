//! The live-video WebSocket protocol (README "Live video"): JSON control messages, the binary
//! frame header, frame formats and sizes. Errors and close codes are the live-audio protocol's
//! ([`crate::stream::protocol`]).

use serde::{Deserialize, Serialize};
use sluice_pipeline::echo::declutter::MAX_PIXELS;
use sluice_pipeline::video::transcode::check_size;
use sluice_pipeline::video::{FrameLayout, Range};

use crate::stream::protocol::{Refusal, close};

/// Bytes of the header before every binary frame, both ways: the client's sequence number
/// (u64) and timestamp in microseconds (i64), little-endian; the server echoes both.
pub const HEADER_BYTES: usize = 16;

/// Room allowed for a JPEG frame beyond its raw RGB size (markers, tables).
const JPEG_SLACK: usize = 4096;

/// The header of a binary frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHeader {
    /// The client's frame number (echoed; the server does not interpret it).
    pub sequence: u64,
    /// The client's timestamp, microseconds (echoed).
    pub timestamp_us: i64,
}

impl FrameHeader {
    /// Splits a binary message into its header and payload; `None` if it is shorter than
    /// [`HEADER_BYTES`].
    pub fn parse(msg: &[u8]) -> Option<(Self, &[u8])> {
        let head: &[u8; HEADER_BYTES] = msg.get(..HEADER_BYTES)?.try_into().ok()?;
        let (seq, ts) = head.split_at(8);
        let sequence = u64::from_le_bytes(seq.try_into().ok()?);
        let timestamp_us = i64::from_le_bytes(ts.try_into().ok()?);
        Some((Self { sequence, timestamp_us }, &msg[HEADER_BYTES..]))
    }

    /// Appends the 16 header bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.timestamp_us.to_le_bytes());
    }
}

/// What a stream does to each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Super-resolution ×`scale` (luma through `model`, chroma bicubic).
    Upscale {
        /// 2, 3 or 4.
        scale: usize,
        /// The luma model.
        model: UpscaleModel,
    },
    /// The echo clutter filter: grey frames out, same size.
    Declutter,
}

/// Luma model of an upscale stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpscaleModel {
    /// ESPCN, trained by this project.
    Espcn,
    /// Separable bicubic.
    Bicubic,
}

/// How frames travel, both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFormat {
    /// Raw planar 4:2:0: Y, then Cb, then Cr, no padding (`W·H·3/2` bytes for even sizes).
    I420,
    /// One JPEG picture (baseline or progressive; full-range BT.601).
    Jpeg,
}

impl FrameFormat {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::I420 => "i420",
            Self::Jpeg => "jpeg",
        }
    }
}

/// A client's text message.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMessage {
    /// Opens the stream.
    Start(StartRequest),
    /// Ends the stream: the frame waiting (if any) is processed, then `done`.
    Stop,
}

/// `{"type":"start",…}` as sent; [`StartRequest::validate`] checks it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct StartRequest {
    /// `upscale` or `declutter`.
    #[serde(default)]
    pub op: String,
    /// Input frame width in pixels.
    #[serde(default)]
    pub width: u32,
    /// Input frame height in pixels.
    #[serde(default)]
    pub height: u32,
    /// `i420` (default) or `jpeg`.
    #[serde(default)]
    pub format: Option<String>,
    /// Upscale factor 2–4 (upscale only; default 2).
    #[serde(default)]
    pub scale: Option<u32>,
    /// `espcn` (default) or `bicubic` (upscale only).
    #[serde(default)]
    pub model: Option<String>,
    /// JPEG output quality 1–100 (jpeg only; default [`DEFAULT_QUALITY`]).
    #[serde(default)]
    pub quality: Option<u32>,
    /// Range of i420 frames: `limited` (16–235, default) or `full` (i420 only; JPEG is full).
    #[serde(default)]
    pub range: Option<String>,
}

/// JPEG quality when `start` names none.
pub const DEFAULT_QUALITY: u8 = 85;

/// A validated `start`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoConfig {
    /// The operation.
    pub op: Op,
    /// Input (width, height).
    pub size: (usize, usize),
    /// Wire format both ways.
    pub format: FrameFormat,
    /// JPEG output quality.
    pub quality: u8,
    /// Code-value range of the frames (JPEG: full).
    pub range: Range,
}

impl VideoConfig {
    /// Output (width, height).
    pub fn out_size(&self) -> (usize, usize) {
        match self.op {
            Op::Upscale { scale, .. } => (self.size.0 * scale, self.size.1 * scale),
            Op::Declutter => self.size,
        }
    }

    /// The input planes (4:2:0).
    pub fn in_layout(&self) -> FrameLayout {
        FrameLayout::subsampled(self.size.0, self.size.1, 1, 1)
    }

    /// The output planes (4:2:0).
    pub fn out_layout(&self) -> FrameLayout {
        let (w, h) = self.out_size();
        FrameLayout::subsampled(w, h, 1, 1)
    }

    /// The largest binary message a client may send: header + the raw frame (i420, exactly
    /// that long), or header + the frame's raw RGB size + 4 KiB (jpeg).
    pub fn max_message(&self) -> usize {
        let (w, h) = self.size;
        HEADER_BYTES
            + match self.format {
                FrameFormat::I420 => self.in_layout().packed_len(),
                FrameFormat::Jpeg => w * h * 3 + JPEG_SLACK,
            }
    }
}

impl StartRequest {
    /// Checks every field; `max_message` is the server's message cap.
    pub fn validate(&self, max_message: usize) -> Result<VideoConfig, Refusal> {
        let bad = |code, msg: String| Err(Refusal::bad_data(code, msg));
        let format = match self.format.as_deref().unwrap_or("i420") {
            "i420" => FrameFormat::I420,
            "jpeg" => FrameFormat::Jpeg,
            other => return bad("unsupported_format", format!("format {other:?}: use \"i420\" or \"jpeg\"")),
        };
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || h == 0 {
            return bad("bad_dimensions", format!("width and height must be > 0, got {w}×{h}"));
        }
        if format == FrameFormat::I420 && (w % 2 != 0 || h % 2 != 0) {
            return bad("bad_dimensions", format!("i420 frames need an even width and height, got {w}×{h}"));
        }
        let op = match self.op.as_str() {
            "upscale" => {
                let scale = match self.scale.unwrap_or(2) {
                    s @ 2..=4 => s as usize,
                    s => return bad("bad_setting", format!("scale must be 2, 3 or 4, got {s}")),
                };
                let model = match self.model.as_deref().unwrap_or("espcn") {
                    "espcn" => UpscaleModel::Espcn,
                    "bicubic" => UpscaleModel::Bicubic,
                    other => return bad("bad_setting", format!("model {other:?}: use \"espcn\" or \"bicubic\"")),
                };
                if let Err(e) = check_size((w, h), scale) {
                    return bad("bad_dimensions", e.to_string());
                }
                Op::Upscale { scale, model }
            }
            "declutter" => {
                if self.scale.is_some() || self.model.is_some() {
                    return bad("bad_setting", "scale and model apply to upscale only".into());
                }
                if w.saturating_mul(h) > MAX_PIXELS {
                    return bad(
                        "bad_dimensions",
                        format!("{w}×{h} is more than the clutter filter's {MAX_PIXELS} pixels (640×480)"),
                    );
                }
                Op::Declutter
            }
            "" => return bad("bad_setting", "op is required: \"upscale\" or \"declutter\"".into()),
            other => return bad("bad_setting", format!("op {other:?}: use \"upscale\" or \"declutter\"")),
        };
        let quality = match (format, self.quality) {
            (FrameFormat::Jpeg, None) => DEFAULT_QUALITY,
            (FrameFormat::Jpeg, Some(q @ 1..=100)) => q as u8,
            (FrameFormat::Jpeg, Some(q)) => return bad("bad_setting", format!("quality must be 1..=100, got {q}")),
            (FrameFormat::I420, None) => DEFAULT_QUALITY,
            (FrameFormat::I420, Some(_)) => return bad("bad_setting", "quality applies to jpeg frames only".into()),
        };
        let range = match (format, self.range.as_deref()) {
            (FrameFormat::I420, None | Some("limited")) => Range::Limited,
            (_, Some("full")) | (FrameFormat::Jpeg, None) => Range::Full,
            (FrameFormat::Jpeg, Some(_)) => return bad("bad_setting", "jpeg frames are full range".into()),
            (FrameFormat::I420, Some(other)) => {
                return bad("bad_setting", format!("range {other:?}: use \"limited\" or \"full\""));
            }
        };
        let config = VideoConfig { op, size: (w, h), format, quality, range };
        if config.max_message() > max_message {
            return Err(Refusal {
                close: close::POLICY,
                code: "frame_too_big",
                message: format!(
                    "{w}×{h} {} frames may need {} bytes, more than this server's {max_message}-byte message limit",
                    format.name(),
                    config.max_message()
                ),
            });
        }
        Ok(config)
    }
}

/// A server text message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    /// The stream is open: what comes back, and the largest message the server takes.
    Ready {
        /// Output frame width.
        width: usize,
        /// Output frame height.
        height: usize,
        /// Output format (the input's).
        format: String,
        /// Frames the output lags the input (0: each output answers its input).
        latency_frames: usize,
        /// Bytes of the frame header (both ways).
        header_bytes: usize,
        /// Largest binary message accepted (larger → close 1009).
        max_message_bytes: usize,
    },
    /// Now and then while streaming.
    Stats {
        /// Frames processed so far.
        processed: u64,
        /// Frames dropped so far (replaced by a newer frame while the worker was busy).
        dropped: u64,
        /// Processing time of the last frame, ms (decode, model, encode).
        last_ms: f64,
        /// Frames received and waiting for the worker (0 or 1).
        queue: usize,
    },
    /// After `stop`: every frame received was processed or dropped.
    Done {
        /// Frames received.
        frames_in: u64,
        /// Frames sent back.
        frames_out: u64,
        /// Frames dropped.
        dropped: u64,
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
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","message":"serialisation"}"#.to_owned())
    }
}

/// Parses a client text message.
pub fn parse_client(text: &str) -> Result<ClientMessage, Refusal> {
    serde_json::from_str(text).map_err(|e| Refusal::bad_data("bad_message", format!("not a valid message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(json: &str) -> Result<VideoConfig, Refusal> {
        match parse_client(json) {
            Ok(ClientMessage::Start(s)) => s.validate(64 << 20),
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn starts_get_their_defaults_and_sizes() {
        let c = start(r#"{"type":"start","op":"upscale","width":64,"height":48}"#).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            c,
            VideoConfig {
                op: Op::Upscale { scale: 2, model: UpscaleModel::Espcn },
                size: (64, 48),
                format: FrameFormat::I420,
                quality: DEFAULT_QUALITY,
                range: Range::Limited
            }
        );
        assert_eq!((c.out_size(), c.max_message()), ((128, 96), 16 + 64 * 48 * 3 / 2));
        let c = start(r#"{"type":"start","op":"declutter","width":33,"height":31,"format":"jpeg","quality":50}"#)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((c.op, c.out_size(), c.quality, c.range), (Op::Declutter, (33, 31), 50, Range::Full));
        assert_eq!(parse_client(r#"{"type":"stop"}"#), Ok(ClientMessage::Stop));
    }

    #[test]
    fn bad_starts_are_refused() {
        for (json, code) in [
            (r#"{"type":"start","width":64,"height":48}"#, "bad_setting"),
            (r#"{"type":"start","op":"sharpen","width":64,"height":48}"#, "bad_setting"),
            (r#"{"type":"start","op":"upscale","width":0,"height":48}"#, "bad_dimensions"),
            (r#"{"type":"start","op":"upscale","width":63,"height":48}"#, "bad_dimensions"),
            (r#"{"type":"start","op":"upscale","width":4000,"height":2000}"#, "bad_dimensions"),
            (r#"{"type":"start","op":"upscale","width":64,"height":48,"scale":5}"#, "bad_setting"),
            (r#"{"type":"start","op":"upscale","width":64,"height":48,"model":"srgan"}"#, "bad_setting"),
            (r#"{"type":"start","op":"upscale","width":64,"height":48,"format":"png"}"#, "unsupported_format"),
            (r#"{"type":"start","op":"upscale","width":64,"height":48,"quality":80}"#, "bad_setting"),
            (r#"{"type":"start","op":"upscale","width":64,"height":48,"format":"jpeg","quality":0}"#, "bad_setting"),
            (r#"{"type":"start","op":"upscale","width":64,"height":48,"range":"tv"}"#, "bad_setting"),
            (r#"{"type":"start","op":"declutter","width":642,"height":480}"#, "bad_dimensions"),
            (r#"{"type":"start","op":"declutter","width":64,"height":48,"scale":2}"#, "bad_setting"),
        ] {
            let r = start(json).err().unwrap_or_else(|| panic!("{json} accepted"));
            assert_eq!((r.close, r.code), (close::UNSUPPORTED, code), "{json}");
        }
        let small = parse_client(r#"{"type":"start","op":"upscale","width":640,"height":480}"#);
        let Ok(ClientMessage::Start(s)) = small else { panic!("{small:?}") };
        let r = s.validate(1 << 16).err().unwrap_or_else(|| panic!("over the message cap accepted"));
        assert_eq!((r.close, r.code), (close::POLICY, "frame_too_big"));
        for text in ["{", r#"{"type":"go"}"#, r#"{"type":"start","width":"wide"}"#] {
            assert_eq!(parse_client(text).err().map(|r| r.code), Some("bad_message"), "{text}");
        }
    }

    #[test]
    fn headers_round_trip() {
        let h = FrameHeader { sequence: u64::MAX - 3, timestamp_us: -42 };
        let mut msg = Vec::new();
        h.write(&mut msg);
        msg.extend_from_slice(b"pix");
        assert_eq!(msg.len(), HEADER_BYTES + 3);
        assert_eq!(FrameHeader::parse(&msg), Some((h, &b"pix"[..])));
        assert_eq!(FrameHeader::parse(&msg[..15]), None);
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        assert_eq!(
            ServerMessage::Done { frames_in: 5, frames_out: 3, dropped: 2 }.to_json(),
            r#"{"type":"done","frames_in":5,"frames_out":3,"dropped":2}"#
        );
    }
}
