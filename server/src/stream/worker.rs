//! A compute worker: a std thread that owns many streams and, every tick, gathers every ready
//! hop of every stream and runs them through the network as one batch.
//!
//! Sessions talk to it through bounded tokio channels only (`try_recv`/`try_send`, never
//! blocking): input is pulled at most `burst` ahead of real time, so a client sending faster
//! fills its queue and its socket stops being read; output that its session has not taken
//! yet stops that stream from pulling more input. Inference never touches the async reactor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice_models::dfn3::Dfn3Model;
use sluice_pipeline::denoise::{BatchStream, HopBatch};
use tokio::sync::mpsc::{self, error::TryRecvError, error::TrySendError};
use tokio_util::sync::CancellationToken;

use super::metrics as m;
use super::protocol::{ServerMessage, StreamConfig};

/// Time between batch runs. A hop waits up to one tick for its batch, so the tick is a fifth
/// of the 10 ms hop: with 100 streams over 2 workers a batch still holds about ten hops (the
/// dense layers' weights read once for them: the per-hop cost is flat from about 8 streams
/// up), while the wait stays a small part of the hop round trip. A 10 ms tick made the wait
/// alone up to a whole hop.
pub const TICK: Duration = Duration::from_millis(2);
/// Real time one 48 kHz hop (480 samples) covers: each stream brings one hop per period.
pub const HOP_PERIOD: Duration = Duration::from_millis(10);
/// Interval between `stats` events of a stream.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// A stream counts as falling behind when this much of its input waits although its real-time
/// credit is not used up (so the worker, not pacing, holds it); it then gets stats this often.
const BEHIND_SECS: f64 = 0.25;
const BEHIND_STATS_EVERY: Duration = Duration::from_millis(250);
/// Frames decoded from the wire per step (bounded scratch).
const DECODE_FRAMES: usize = 4_096;
/// Encoded output a stream may hold back (client not reading) before it stops pulling input.
const PENDING_MAX_BYTES: usize = 1 << 20;
/// Output buffer grown at a time: 16 KiB holds 17 mono 16-bit hops.
const PENDING_BLOCK: usize = 16 << 10;

/// Socket → worker.
#[derive(Debug)]
pub(crate) enum Input {
    /// Whole frames of PCM, validated by the session.
    Pcm(Bytes),
    /// End of input: flush the tail, then `Done`.
    Stop,
}

/// Worker → socket.
#[derive(Debug)]
pub(crate) enum Output {
    /// Enhanced PCM in the stream's format.
    Pcm(Bytes),
    /// A `stats` event.
    Stats(ServerMessage),
    /// The tail is out; samples per channel received.
    Done(u64),
    /// Processing failed (a bug, logged here); the session closes with 1011.
    Failed,
}

/// A stream handed to a worker.
pub(crate) struct Job {
    pub stream: BatchStream,
    pub config: StreamConfig,
    pub input: mpsc::Receiver<Input>,
    pub output: mpsc::Sender<Output>,
    /// Frames the session has queued and the worker not yet taken.
    pub queued: Arc<AtomicU64>,
    /// The service's drain: once cancelled, queued input is processed without pacing.
    pub drain: CancellationToken,
}

/// A worker's stream.
struct Slot {
    stream: BatchStream,
    config: StreamConfig,
    input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
    queued: Arc<AtomicU64>,
    drain: CancellationToken,
    /// The input message being decoded and the bytes of it already decoded.
    current: Bytes,
    current_pos: usize,
    /// Decoded samples and how far they have been pushed.
    decoded: Vec<f32>,
    dec_len: usize,
    dec_pos: usize,
    /// Frames taken from the input, and raw output frames encoded.
    received: u64,
    sent: u64,
    /// After `Stop`: flush zeros left to push, and the raw output length to send in all
    /// (received + latency).
    flush_left: Option<usize>,
    out_limit: Option<u64>,
    /// Encoded output not yet handed to the session. Hops are split off its front as `Bytes` that share
    /// one allocation, which `reserve` reuses once the session has written them all: no
    /// allocation per hop.
    pending: BytesMut,
    /// Frames that may still be processed ahead of real time.
    credit: f64,
    credit_max: f64,
    lsnr_sum: f64,
    lsnr_n: u32,
    last_stats: Instant,
    behind: bool,
    finished: bool,
}

impl AsMut<BatchStream> for Slot {
    fn as_mut(&mut self) -> &mut BatchStream {
        &mut self.stream
    }
}

impl Slot {
    fn new(job: Job, burst: Duration) -> Self {
        let credit_max = (job.config.sample_rate as f64 * burst.as_secs_f64()).max(job.stream.unit_frames() as f64);
        Self {
            decoded: vec![0.0; DECODE_FRAMES * job.config.channels],
            stream: job.stream,
            config: job.config,
            input: job.input,
            output: job.output,
            queued: job.queued,
            drain: job.drain,
            current: Bytes::new(),
            current_pos: 0,
            dec_len: 0,
            dec_pos: 0,
            received: 0,
            sent: 0,
            flush_left: None,
            out_limit: None,
            pending: BytesMut::new(),
            credit: credit_max,
            credit_max,
            lsnr_sum: 0.0,
            lsnr_n: 0,
            last_stats: Instant::now(),
            behind: false,
            finished: false,
        }
    }

    /// Pushes input (or flush zeros) into the stream until a hop is ready, the input or the
    /// real-time credit runs out, or output waits.
    fn feed(&mut self, zeros: &[f32]) {
        let nch = self.config.channels;
        while !self.finished && self.pending.len() < PENDING_MAX_BYTES {
            if let Some(left) = self.flush_left {
                if left == 0 {
                    return;
                }
                let n = left.min(zeros.len() / nch);
                match self.stream.push(&zeros[..n * nch]) {
                    Ok(0) => return,
                    Ok(c) => self.flush_left = Some(left - c / nch),
                    Err(e) => return self.fail(&e.to_string()),
                }
                continue;
            }
            if self.dec_pos < self.dec_len {
                let credit = if self.drain.is_cancelled() { usize::MAX } else { self.credit as usize };
                let frames = ((self.dec_len - self.dec_pos) / nch).min(credit);
                if frames == 0 {
                    return;
                }
                match self.stream.push(&self.decoded[self.dec_pos..self.dec_pos + frames * nch]) {
                    Ok(0) => return,
                    Ok(c) => {
                        let f = (c / nch) as u64;
                        self.dec_pos += c;
                        self.credit = (self.credit - f as f64).max(0.0);
                        self.received += f;
                        self.queued.fetch_sub(f, Ordering::Relaxed);
                    }
                    Err(e) => return self.fail(&e.to_string()),
                }
                continue;
            }
            if self.current_pos < self.current.len() {
                let frame_bytes = self.config.frame_bytes();
                let end = self.current.len().min(self.current_pos + DECODE_FRAMES * frame_bytes);
                match self.config.format.decode(&self.current[self.current_pos..end], &mut self.decoded) {
                    Some(n) => {
                        self.dec_len = n;
                        self.dec_pos = 0;
                        self.current_pos = end;
                    }
                    None => return self.fail("a non-finite sample passed validation"),
                }
                continue;
            }
            match self.input.try_recv() {
                Ok(Input::Pcm(b)) => {
                    self.current = b;
                    self.current_pos = 0;
                }
                Ok(Input::Stop) => {
                    self.flush_left = Some(self.stream.flush_frames());
                    self.out_limit = Some(self.received + self.stream.latency() as u64);
                }
                Err(TryRecvError::Empty) => return,
                // The session went away without `stop`: nothing more to do for it.
                Err(TryRecvError::Disconnected) => {
                    self.finished = true;
                    return;
                }
            }
        }
    }

    /// Moves the stream's finished output into `pending`, cut at the output limit.
    fn collect(&mut self) {
        let out = self.stream.output();
        if out.is_empty() {
            return;
        }
        let nch = self.config.channels;
        let frames = (out.len() / nch) as u64;
        let keep = self.out_limit.map_or(frames, |l| frames.min(l.saturating_sub(self.sent)));
        let samples = &out[..keep as usize * nch];
        let need = samples.len() * self.config.format.bytes();
        if self.pending.capacity() - self.pending.len() < need {
            self.pending.reserve(need.max(PENDING_BLOCK));
        }
        self.config.format.encode(samples, &mut self.pending);
        self.sent += keep;
        self.lsnr_sum += f64::from(self.stream.lsnr());
        self.lsnr_n += 1;
        self.stream.clear_output();
    }

    /// Hands pending output, stats and the end of the stream to the session.
    fn send(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if !self.pending.is_empty() {
            match self.output.try_reserve() {
                Ok(permit) => permit.send(Output::Pcm(self.pending.split().freeze())),
                Err(TrySendError::Full(())) => {}
                Err(TrySendError::Closed(())) => return self.finished = true,
            }
        }
        let behind = self.queue_seconds() > BEHIND_SECS && self.credit >= self.stream.unit_frames() as f64;
        if behind != self.behind {
            self.behind = behind;
            if behind {
                tracing::warn!(queue_ms = self.queue_seconds() * 1e3, "a live stream is falling behind real time");
            }
        }
        let every = if behind { BEHIND_STATS_EVERY } else { STATS_EVERY };
        if now.duration_since(self.last_stats) >= every && self.lsnr_n > 0 {
            let stats = ServerMessage::Stats {
                lsnr_db: (self.lsnr_sum / f64::from(self.lsnr_n)) as f32,
                processed_samples: self.received,
                queue_ms: self.queue_seconds() * 1e3,
            };
            if self.output.try_send(Output::Stats(stats)).is_ok() {
                self.last_stats = now;
                self.lsnr_sum = 0.0;
                self.lsnr_n = 0;
            }
        }
        let flushed = self.flush_left == Some(0) && !self.stream.ready() && self.stream.output().is_empty();
        if flushed && self.pending.is_empty() {
            if self.out_limit.is_some_and(|l| self.sent < l) {
                return self.fail("the flush ended short of the stream's latency");
            }
            if self.output.try_send(Output::Done(self.received)).is_ok() {
                self.finished = true;
            }
        }
    }

    /// Audio queued for this stream and not yet processed, in seconds.
    fn queue_seconds(&self) -> f64 {
        self.queued.load(Ordering::Relaxed) as f64 / self.config.sample_rate as f64
    }

    fn fail(&mut self, why: &str) {
        tracing::error!(error = why, "live stream failed");
        let _ = self.output.try_send(Output::Failed);
        self.finished = true;
    }
}

/// A worker's handle for the scheduler.
pub(crate) struct WorkerHandle {
    pub jobs: std::sync::mpsc::Sender<Job>,
    pub active: Arc<AtomicUsize>,
}

/// Starts worker `index` on its own thread.
pub(crate) fn spawn(
    index: usize,
    model: Arc<Dfn3Model>,
    batch: Option<usize>,
    burst: Duration,
) -> std::io::Result<WorkerHandle> {
    let (jobs, rx) = std::sync::mpsc::channel();
    let active = Arc::new(AtomicUsize::new(0));
    let count = active.clone();
    let runner = match batch {
        Some(cap) => HopBatch::new(model, cap),
        None => HopBatch::unbatched(model),
    };
    std::thread::Builder::new()
        .name(format!("sluice-stream-{index}"))
        .spawn(move || Worker::new(index, runner, burst, rx, count).run())?;
    Ok(WorkerHandle { jobs, active })
}

struct Worker {
    batch: HopBatch,
    burst: Duration,
    jobs: std::sync::mpsc::Receiver<Job>,
    active: Arc<AtomicUsize>,
    slots: Vec<Slot>,
    zeros: Vec<f32>,
    rtf: metrics::Gauge,
    queue: metrics::Gauge,
}

impl Worker {
    fn new(
        index: usize,
        batch: HopBatch,
        burst: Duration,
        jobs: std::sync::mpsc::Receiver<Job>,
        active: Arc<AtomicUsize>,
    ) -> Self {
        let label = index.to_string();
        Self {
            batch,
            burst,
            jobs,
            active,
            slots: Vec::new(),
            zeros: vec![0.0; DECODE_FRAMES],
            rtf: metrics::gauge!(m::REALTIME_FACTOR, "worker" => label.clone()),
            queue: metrics::gauge!(m::QUEUE_DEPTH, "worker" => label),
        }
    }

    fn run(mut self) {
        let hops = metrics::counter!(m::HOPS);
        let decoders_skipped = metrics::counter!(m::DECODERS_SKIPPED);
        let hop_seconds = metrics::histogram!(m::HOP_SECONDS);
        let batch_streams = metrics::histogram!(m::BATCH_STREAMS);
        let mut last = Instant::now();
        let mut next = last + TICK;
        loop {
            if !self.take_jobs() {
                return;
            }
            let now = Instant::now();
            let dt = now.duration_since(last).as_secs_f64();
            last = now;
            for s in &mut self.slots {
                s.credit = (s.credit + dt * s.config.sample_rate as f64).min(s.credit_max);
            }
            let busy_from = Instant::now();
            let mut tick_hops = 0;
            loop {
                for s in &mut self.slots {
                    s.feed(&self.zeros);
                }
                let run = match self.batch.run(&mut self.slots) {
                    Ok(run) => run,
                    Err(e) => {
                        for s in self.slots.iter_mut().filter(|s| s.stream.ready()) {
                            s.fail(&e.to_string());
                        }
                        break;
                    }
                };
                if run.streams == 0 {
                    break;
                }
                tick_hops += run.streams;
                // Counted before the results go out, so a client that has its output sees it in
                // /metrics (counting at the tick's end raced a client reading it at once).
                hops.increment(run.streams as u64);
                decoders_skipped.increment(run.decoders_skipped as u64);
                batch_streams.record(run.streams as f64);
                // Out as soon as computed: a tick catching up on a backlog runs several batches,
                // and holding every result until its end added that whole tick to each hop.
                let now = Instant::now();
                for s in &mut self.slots {
                    s.collect();
                    s.send(now);
                }
            }
            let busy = busy_from.elapsed();
            if tick_hops > 0 {
                hop_seconds.record(busy.as_secs_f64() / tick_hops as f64);
                self.rtf.set(busy.as_secs_f64() / TICK.as_secs_f64());
            }
            let now = Instant::now();
            let mut queued = 0.0;
            for s in &mut self.slots {
                s.send(now);
                queued += s.queue_seconds();
            }
            self.queue.set(queued);
            let before = self.slots.len();
            self.slots.retain(|s| !s.finished);
            self.active.fetch_sub(before - self.slots.len(), Ordering::Relaxed);
            next += TICK;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                // Behind: run the next tick at once rather than losing another 10 ms.
                next = now;
            }
        }
    }

    /// Adopts new streams; with none to run, sleeps until one arrives. Returns false once the
    /// service is gone and nothing is left to finish.
    fn take_jobs(&mut self) -> bool {
        if self.slots.is_empty() {
            match self.jobs.recv() {
                Ok(job) => self.slots.push(Slot::new(job, self.burst)),
                Err(_) => return false,
            }
        }
        while let Ok(job) = self.jobs.try_recv() {
            self.slots.push(Slot::new(job, self.burst));
        }
        true
    }
}
