//! [`UpscaleJob`]: the whole file pass — demux, decode, upscale, encode, mux — packet by packet,
//! so memory stays bounded (one decoded frame, two frames in the stage, codec queues) whatever
//! the length.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next::Packet;
use sluice_models::dfn3::Dfn3Model;

use super::VideoError;
use super::audio::{AudioMode, AudioTrack};
use super::decode::VideoDecoder;
use super::encode::{Container, Output, OutputTarget, VideoEncoder, VideoSettings};
pub use super::source::MediaInfo;
use super::source::VideoSource;
use super::stage::{FrameLayout, Rotation, UpscaleStage};
use super::upscaler::LumaUpscaler;

/// Largest output frame, either orientation: 8K UHD (7680×4320). Larger requests are refused
/// before anything is decoded (an H.264 level-6.2 frame is 8192×4320).
pub const MAX_OUTPUT: (usize, usize) = (7680, 4320);

/// Options of a job.
#[derive(Clone, Default)]
pub struct UpscaleOptions {
    /// Constant rate factor for video outputs (H.264 0–51, VP9 0–63); `None` = the codec's default here.
    pub crf: Option<u8>,
    /// Denoise the audio track with this DFN3 model (re-encodes it).
    pub denoise_audio: Option<Arc<Dfn3Model>>,
}

/// What a finished job did.
#[derive(Debug, Clone)]
pub struct UpscaleSummary {
    /// Frames encoded (= decoded).
    pub frames: u64,
    /// Input size.
    pub input_size: (usize, usize),
    /// Output size as displayed (rotation applied; even for 4:2:0 video).
    pub output_size: (usize, usize),
    /// What happened to the audio.
    pub audio: AudioMode,
    /// The luma model used.
    pub model: &'static str,
    /// Damaged video packets or frames skipped (the decoder's concealment covers them).
    pub skipped: u64,
    /// Wall time of the pass.
    pub elapsed: Duration,
}

impl UpscaleSummary {
    /// Frames per second of wall time.
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// An opened input, ready to be upscaled into an output.
pub struct UpscaleJob {
    source: VideoSource,
    upscaler: Box<dyn LumaUpscaler>,
    options: UpscaleOptions,
}

impl UpscaleJob {
    /// Opens `input` and checks it can be upscaled by `upscaler` (dimension cap included).
    pub fn open(input: &Path, upscaler: Box<dyn LumaUpscaler>, options: UpscaleOptions) -> Result<Self, VideoError> {
        let source = VideoSource::open(input)?;
        check_size(source.info.size, upscaler.scale())?;
        Ok(Self { source, upscaler, options })
    }

    /// What the input holds.
    pub fn info(&self) -> &MediaInfo {
        &self.source.info
    }

    /// Runs the pass into `target` as `container`, calling `on_frame(frames_done)` after each
    /// frame. On error the target holds a partial result: callers writing files use a
    /// temporary path and rename it on success.
    pub fn run(
        mut self,
        target: OutputTarget,
        container: Container,
        on_frame: &mut dyn FnMut(u64),
    ) -> Result<UpscaleSummary, VideoError> {
        let start = Instant::now();
        let scale = self.upscaler.scale();
        let layout = self.source.decoder.layout();
        let (w, h) = layout.luma;
        let (ow, oh) = (w * scale, h * scale);
        if let Some(frames) = self.source.info.frames.filter(|n| container.is_image() && *n > 1) {
            return Err(VideoError::ImageNeedsOneFrame { frames });
        }
        let out_layout = if container.is_image() {
            FrameLayout::subsampled(ow, oh, 0, 0)
        } else {
            FrameLayout::subsampled(ow, oh, 1, 1)
        };
        let colour = self.source.decoder.colour();
        let model = self.upscaler.name();
        // FFmpeg 5.1's muxers take a display matrix only as stream side data, which the safe
        // API cannot set: the rotation is baked into the pixels instead (same picture shown).
        let rotation = Rotation::from_degrees(self.source.info.rotation);
        let mut stage = UpscaleStage::new(self.upscaler, colour, layout, out_layout)?.with_rotation(rotation);
        let (ow, oh) = rotation.apply((ow, oh));

        let mut out = Output::open(target, container)?;
        let settings = VideoSettings {
            width: ow,
            height: oh,
            time_base: self.source.time_base,
            frame_rate: self.source.info.frame_rate,
            crf: self.options.crf,
            colour,
        };
        let mut encoder = VideoEncoder::new(&mut out, &settings)?;
        let demuxer = self.source.input.format().name().to_string();
        let (mut audio, audio_mode) = match self.source.audio_index.filter(|_| !container.is_image()) {
            Some(i) => match self.source.input.stream(i) {
                Some(stream) => {
                    let (t, m) = AudioTrack::new(
                        &stream,
                        &demuxer,
                        &mut out,
                        self.options.denoise_audio.clone(),
                        self.source.start_us,
                    )?;
                    (Some(t), m)
                }
                None => (None, AudioMode::None),
            },
            None => (None, AudioMode::None),
        };
        out.write_header()?;

        let mut frames = Frames::new(self.source.shift());
        let mut video_packets = 0u64;
        let mut packet = Packet::empty();
        let mut read_error = None;
        loop {
            match packet.read(&mut self.source.input) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => break,
                Err(e) => {
                    // A read error mid-file: decode what came, then report it below.
                    read_error = Some(e);
                    break;
                }
            }
            let index = packet.stream();
            if index == self.source.video_index {
                video_packets += 1;
                self.source.decoder.send(&packet);
                frames.upscale_ready(&mut self.source.decoder, &mut stage, &mut encoder, &mut out, on_frame)?;
                // Inputs that do not announce their length (an animated GIF) are caught here.
                if container.is_image() && frames.decoded > 1 {
                    return Err(VideoError::ImageNeedsOneFrame { frames: frames.decoded });
                }
            } else if Some(index) == self.source.audio_index
                && let Some(a) = &mut audio
            {
                a.packet(&mut packet, &mut out)?;
            }
        }
        self.source.decoder.send_eof()?;
        frames.upscale_ready(&mut self.source.decoder, &mut stage, &mut encoder, &mut out, on_frame)?;
        while frames.encode_oldest(&mut stage, &mut encoder, &mut out, on_frame)? {}
        let frames = frames.encoded;
        self.source.check_end(frames, video_packets, read_error)?;
        encoder.finish(&mut out)?;
        if let Some(a) = &mut audio {
            a.finish(&mut out)?;
        }
        out.write_trailer()?;
        drop(out);
        Ok(UpscaleSummary {
            frames,
            input_size: (w, h),
            output_size: if container.is_image() { (ow, oh) } else { (ow & !1, oh & !1) },
            audio: audio_mode,
            model,
            skipped: self.source.decoder.damage().0,
            elapsed: start.elapsed(),
        })
    }
}

/// Frames between the decoder and the encoder. The stage upscales frame n+1's luma on its
/// own thread while frame n's chroma, store and encode run here (and the decoder works on
/// n+2), so both cores stay busy; at most [`UpscaleStage::DEPTH`] frames are in the stage.
struct Frames {
    /// Timestamp shift of the input (see `VideoSource::shift`).
    shift: i64,
    /// Frames handed to the stage.
    decoded: u64,
    /// Frames written to the encoder.
    encoded: u64,
    /// (pts, duration) of the frames in the stage, oldest first.
    times: VecDeque<(Option<i64>, Option<i64>)>,
}

impl Frames {
    fn new(shift: i64) -> Self {
        Self { shift, decoded: 0, encoded: 0, times: VecDeque::with_capacity(UpscaleStage::DEPTH) }
    }

    /// Submits every frame the decoder has ready, encoding the oldest whenever the stage is
    /// full (after the new frame is on its way, so the two overlap).
    fn upscale_ready(
        &mut self,
        decoder: &mut VideoDecoder,
        stage: &mut UpscaleStage,
        encoder: &mut VideoEncoder,
        out: &mut Output,
        on_frame: &mut dyn FnMut(u64),
    ) -> Result<(), VideoError> {
        while let Some(frame) = decoder.receive()? {
            let (pts, duration) = (frame.pts.map(|t| t - self.shift), frame.duration);
            stage.submit(frame.planes)?;
            self.times.push_back((pts, duration));
            self.decoded += 1;
            if stage.pending() == UpscaleStage::DEPTH {
                self.encode_oldest(stage, encoder, out, on_frame)?;
            }
        }
        Ok(())
    }

    /// Completes and encodes the oldest frame in the stage; `false` when there is none.
    fn encode_oldest(
        &mut self,
        stage: &mut UpscaleStage,
        encoder: &mut VideoEncoder,
        out: &mut Output,
        on_frame: &mut dyn FnMut(u64),
    ) -> Result<bool, VideoError> {
        if !stage.complete(encoder)? {
            return Ok(false);
        }
        let (pts, duration) = self.times.pop_front().unwrap_or_default();
        encoder.encode(pts, duration, out)?;
        self.encoded += 1;
        on_frame(self.encoded);
        Ok(true)
    }
}

/// Refuses empty inputs and outputs beyond [`MAX_OUTPUT`] (either orientation).
pub fn check_size((w, h): (usize, usize), scale: usize) -> Result<(), VideoError> {
    let (ow, oh) = (w.saturating_mul(scale), h.saturating_mul(scale));
    let err = |reason: String| VideoError::BadDimensions { width: w, height: h, out_width: ow, out_height: oh, reason };
    if w == 0 || h == 0 {
        return Err(err("the frame is empty".into()));
    }
    let (long, short) = (ow.max(oh), ow.min(oh));
    if long > MAX_OUTPUT.0 || short > MAX_OUTPUT.1 {
        return Err(err(format!(
            "the output would exceed the {}×{} cap (8K UHD, either orientation)",
            MAX_OUTPUT.0, MAX_OUTPUT.1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_cap_is_8k_either_way() {
        assert!(check_size((640, 360), 3).is_ok());
        assert!(check_size((2560, 1440), 3).is_ok());
        assert!(check_size((1440, 2560), 3).is_ok());
        assert!(check_size((2561, 1440), 3).is_err());
        assert!(check_size((1441, 1441), 3).is_err());
        assert!(check_size((0, 10), 2).is_err());
        assert!(check_size((usize::MAX / 2, 1), 4).is_err());
    }
}
