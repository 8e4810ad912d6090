//! A live-video stream's compute side: a one-frame mailbox (latest frame wins) and a blocking
//! thread that takes frames from it in order, runs them through the stage, and queues the
//! results for the session's writer.
//!
//! The mailbox holds at most one frame: one arriving while another waits replaces it (the old
//! one is dropped and counted), so a client sending faster than the model runs gets the newest
//! frames processed, never a growing backlog. Output goes through a bounded channel: when the
//! client does not read, the thread waits on it (frames keep being replaced meanwhile) until
//! the writer's timeout ends the session. The thread owns every FFmpeg context and model
//! runner (they stay on the thread that made them); frames run on the engine pool shared by
//! every stream. Every buffer of the stage is made once per stream; the one allocation per
//! frame is the outgoing message itself (it is handed to the socket).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_engine::Threads;
use sluice_pipeline::echo::{DeclutterError, DeclutterStage};
use sluice_pipeline::video::{
    BicubicUpscaler, Colour, EspcnUpscaler, JpegDecoder, JpegEncoder, LumaUpscaler, Matrix, UpscaleStage, VideoError,
};
use tokio::sync::{mpsc, oneshot};

use super::metrics as m;
use super::protocol::{FrameFormat, FrameHeader, HEADER_BYTES, Op, ServerMessage, UpscaleModel, VideoConfig};
use crate::stream::protocol::{Refusal, close};

/// Interval between `stats` events.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// A frame as received: header parsed, the whole message kept (payload after the header).
#[derive(Debug)]
pub(crate) struct Frame {
    pub header: FrameHeader,
    pub message: Bytes,
}

/// Worker → writer.
#[derive(Debug)]
pub(crate) enum Output {
    /// A processed frame: header + payload, ready to send.
    Frame(Bytes),
    /// A `stats` event.
    Stats(ServerMessage),
    /// After stop: everything is out.
    Done(ServerMessage),
    /// A frame the client must fix (bad JPEG): error + close 1003.
    Refused(Refusal),
}

#[derive(Debug, Default)]
struct Slot {
    pending: Option<Frame>,
    received: u64,
    dropped: u64,
    stop: bool,
    closed: bool,
}

/// The one-frame mailbox between the session's reader and the worker.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    slot: Mutex<Slot>,
    wake: Condvar,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leaves `frame` for the worker; true if it replaced (dropped) a waiting one.
    pub fn put(&self, frame: Frame) -> bool {
        let mut s = self.lock();
        s.received += 1;
        let replaced = s.pending.replace(frame).is_some();
        if replaced {
            s.dropped += 1;
        }
        drop(s);
        self.wake.notify_one();
        replaced
    }

    /// No more frames: the worker finishes the waiting one and reports `done`.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_one();
    }

    /// The session is over: the worker exits without finishing.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// Frames received and waiting (0 or 1).
    fn queue(&self) -> usize {
        usize::from(self.lock().pending.is_some())
    }
}

/// What the worker takes next.
enum Next {
    Frame(Frame),
    /// Stopped with nothing waiting: (received, dropped).
    Finished(u64, u64),
    Closed,
}

impl Mailbox {
    fn next(&self) -> Next {
        let mut s = self.lock();
        loop {
            if s.closed {
                return Next::Closed;
            }
            if let Some(f) = s.pending.take() {
                return Next::Frame(f);
            }
            if s.stop {
                return Next::Finished(s.received, s.dropped);
            }
            s = self.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Why a frame could not be processed.
enum FrameError {
    /// The client's data (close 1003).
    Bad(String),
    /// Ours (close 1011).
    Internal(String),
}

impl From<VideoError> for FrameError {
    fn from(e: VideoError) -> Self {
        match e {
            VideoError::BadPicture { reason } => Self::Bad(reason),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<DeclutterError> for FrameError {
    fn from(e: DeclutterError) -> Self {
        match e {
            DeclutterError::Video(v) => v.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

enum Model {
    Upscale(UpscaleStage),
    Declutter(DeclutterStage),
}

/// One stream's stage, codecs and frame buffers, all made once.
struct Processor {
    config: VideoConfig,
    model: Model,
    colour: Colour,
    decoder: Option<JpegDecoder>,
    encoder: Option<JpegEncoder>,
    /// A decoded JPEG input frame (packed 4:2:0).
    decoded: Vec<u8>,
    /// The output frame (packed 4:2:0); declutter's chroma stays neutral.
    output: Vec<u8>,
}

impl Processor {
    fn new(config: VideoConfig, threads: Arc<Threads>) -> Result<Self, String> {
        let colour = match config.format {
            FrameFormat::Jpeg => Colour::JPEG,
            FrameFormat::I420 => Colour { matrix: Matrix::Bt601, range: config.range },
        };
        let (w, h) = config.size;
        let (in_layout, out_layout) = (config.in_layout(), config.out_layout());
        let model = match config.op {
            Op::Upscale { scale, model } => {
                let upscaler: Box<dyn LumaUpscaler> = match model {
                    UpscaleModel::Bicubic => Box::new(BicubicUpscaler::new(scale).map_err(|e| e.to_string())?),
                    UpscaleModel::Espcn => {
                        Box::new(EspcnUpscaler::new(crate::http::video::espcn_model(scale)?, threads))
                    }
                };
                Model::Upscale(UpscaleStage::new(upscaler, colour, in_layout, out_layout).map_err(|e| e.to_string())?)
            }
            Op::Declutter => {
                let clutter = crate::http::echo::clutter_model()?;
                Model::Declutter(DeclutterStage::new(&clutter, w, h, threads).map_err(|e| e.to_string())?)
            }
        };
        let (decoder, encoder) = match config.format {
            FrameFormat::I420 => (None, None),
            FrameFormat::Jpeg => {
                let (ow, oh) = config.out_size();
                (
                    Some(JpegDecoder::new(w, h).map_err(|e| e.to_string())?),
                    Some(JpegEncoder::new(ow, oh, config.quality).map_err(|e| e.to_string())?),
                )
            }
        };
        let mut output = vec![0u8; out_layout.packed_len()];
        output[out_layout.luma.0 * out_layout.luma.1..].fill(128);
        Ok(Self {
            config,
            model,
            colour,
            decoded: vec![0u8; if decoder.is_some() { in_layout.packed_len() } else { 0 }],
            decoder,
            encoder,
            output,
        })
    }

    /// Processes one payload and appends the output frame's bytes to `out`.
    fn process(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        let input = match &mut self.decoder {
            Some(d) => {
                d.decode(payload, &mut self.decoded)?;
                &self.decoded[..]
            }
            None => payload,
        };
        let (in_layout, out_layout) = (self.config.in_layout(), self.config.out_layout());
        let src = in_layout.packed(input).ok_or_else(|| {
            FrameError::Bad(format!(
                "{} bytes is not one {}×{} i420 frame",
                input.len(),
                in_layout.luma.0,
                in_layout.luma.1
            ))
        })?;
        let internal = || FrameError::Internal("output buffer layout".into());
        let mut dst = out_layout.packed_mut(&mut self.output).ok_or_else(internal)?;
        match &mut self.model {
            Model::Upscale(stage) => stage.process(src, &mut dst)?,
            Model::Declutter(stage) => {
                // Grey out in the input's range; the chroma planes stay neutral.
                stage.process_ycbcr(src, self.colour, &mut dst[0], self.colour.range)?;
            }
        }
        match &mut self.encoder {
            Some(e) => e.encode(out_layout.packed(&self.output).ok_or_else(internal)?, out)?,
            None => out.extend_from_slice(&self.output),
        }
        Ok(())
    }
}

/// The op's metric label.
fn op_label(op: Op) -> &'static str {
    match op {
        Op::Upscale { .. } => "upscale",
        Op::Declutter => "declutter",
    }
}

/// Starts a stream's worker on a blocking thread. `ready` gets `Ok` once the stage is built
/// (models loaded) or the refusal to send; afterwards output flows into `output`.
pub(crate) fn spawn(
    config: VideoConfig,
    threads: Arc<Threads>,
    mailbox: Arc<Mailbox>,
    output: mpsc::Sender<Output>,
    ready: oneshot::Sender<Result<(), Refusal>>,
) {
    tokio::task::spawn_blocking(move || {
        let mut p = match Processor::new(config, threads) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot start a live-video stream");
                let r = Refusal { close: close::INTERNAL, code: "internal", message: format!("cannot start: {e}") };
                let _ = ready.send(Err(r));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        run(&mut p, &mailbox, &output);
    });
}

fn run(p: &mut Processor, mailbox: &Mailbox, output: &mpsc::Sender<Output>) {
    let op = op_label(p.config.op);
    let frames = metrics::counter!(m::FRAMES, "op" => op);
    let seconds = metrics::histogram!(m::FRAME_SECONDS, "op" => op);
    let mut processed = 0u64;
    let mut last_stats = Instant::now();
    loop {
        let frame = match mailbox.next() {
            Next::Frame(f) => f,
            Next::Finished(received, dropped) => {
                let done = ServerMessage::Done { frames_in: received, frames_out: processed, dropped };
                let _ = output.blocking_send(Output::Done(done));
                return;
            }
            Next::Closed => return,
        };
        let started = Instant::now();
        let mut out = Vec::with_capacity(HEADER_BYTES + p.output.len());
        frame.header.write(&mut out);
        match p.process(&frame.message[HEADER_BYTES..], &mut out) {
            Ok(()) => {}
            Err(FrameError::Bad(why)) => {
                let _ = output.blocking_send(Output::Refused(Refusal::bad_data("bad_frame", why)));
                return;
            }
            Err(FrameError::Internal(why)) => {
                tracing::error!(error = %why, "a live-video frame failed");
                let r = Refusal { close: close::INTERNAL, code: "internal", message: "processing failed".into() };
                let _ = output.blocking_send(Output::Refused(r));
                return;
            }
        }
        let took = started.elapsed();
        let last_ms = took.as_secs_f64() * 1e3;
        seconds.record(took.as_secs_f64());
        frames.increment(1);
        processed += 1;
        if output.blocking_send(Output::Frame(Bytes::from(out))).is_err() {
            return;
        }
        if last_stats.elapsed() >= STATS_EVERY {
            let dropped = mailbox.lock().dropped;
            let stats = ServerMessage::Stats { processed, dropped, last_ms, queue: mailbox.queue() };
            // Stats are advisory: skipped when the client is behind on reading.
            if output.try_send(Output::Stats(stats)).is_ok() {
                last_stats = Instant::now();
            }
        }
    }
}
