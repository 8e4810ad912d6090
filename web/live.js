// The live tab's session: microphone → AudioWorklet (10 ms Int16 hops) → WebSocket (the server's
// /v1/audio/stream protocol) → enhanced hops → AudioWorklet playback, with spectrograms, the
// local-SNR meter and a latency estimate. One LiveSession per start; stop() ends it cleanly.

const RATE = 48000;
const HOP = 480;
/** Hops kept while the server is not ready yet (2 s); older ones are dropped. */
const MAX_PENDING_HOPS = 200;
/** Above this much unsent data the socket is not keeping up: drop hops rather than grow. */
const MAX_BUFFERED_BYTES = RATE * 2; // 1 s of s16le
/** Enhanced audio kept for "save recording" (10 min). */
const MAX_RECORDED_SAMPLES = RATE * 600;

/** Messages for the WebSocket close codes of the protocol (DESIGN §5). */
const CLOSE_MESSAGES = {
  1001: 'The server is restarting. Start again in a moment.',
  1003: 'The server could not use the audio it was sent.',
  1008: 'The server refused the connection: check the API key.',
  1009: 'A message was too large for the server.',
  1011: 'The server hit an internal error.',
  1013: 'The server is at capacity right now. Please try again in a moment.',
};

export function streamUrl(token) {
  const url = new URL('v1/audio/stream', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token) url.searchParams.set('token', token);
  return url.toString();
}

/** Explains a microphone failure from getUserMedia. */
export function microphoneMessage(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Microphone access was denied. Allow the microphone for this page in the browser\'s site settings, then start again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found. Connect one and start again.';
    case 'NotReadableError':
      return 'The microphone is in use by another program or could not be opened.';
    default:
      return `The microphone could not be opened (${err && err.message ? err.message : err}).`;
  }
}

export class LiveSession {
  /**
   * @param {object} ui callbacks: status(text, kind), stats({lsnrDb, latencyMs, underruns}),
   *   inputSamples(Float32Array), outputSamples(Float32Array), ended()
   */
  constructor(ui) {
    this.ui = ui;
    this.ws = null;
    this.ctx = null;
    this.ctxClosing = null;
    this.node = null;
    this.stream = null;
    this.ready = false;
    this.pending = [];
    this.sent = 0;
    this.received = 0;
    this.dropped = 0;
    this.underruns = 0;
    this.latencySamples = 0;
    this.recorded = [];
    this.recordedLength = 0;
    this.sentRecorded = [];
    this.sentLength = 0;
    this.lastStats = null;
    this.done = null;
    this.stopping = false;
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });
  }

  async start({ attenLimDb, gating = 'off', token, mode }) {
    this.ui.status('Asking for the microphone…');
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      });
    } catch (err) {
      this.finish();
      throw new Error(microphoneMessage(err));
    }
    this.ctx = new AudioContext({ sampleRate: RATE, latencyHint: 'interactive' });
    await this.ctx.audioWorklet.addModule(new URL('worklet.js', import.meta.url));
    this.node = new AudioWorkletNode(this.ctx, 'sluice-io', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [2] });
    this.node.port.onmessage = (e) => this.onWorklet(e.data);
    this.ctx.createMediaStreamSource(this.stream).connect(this.node);
    this.node.connect(this.ctx.destination);
    this.setMode(mode);
    await this.ctx.resume();

    this.ui.status('Connecting to the server…');
    this.ws = new WebSocket(streamUrl(token));
    this.ws.binaryType = 'arraybuffer';
    this.opened = false;
    this.ws.onopen = () => {
      this.opened = true;
      this.ws.send(JSON.stringify({
        type: 'start', sample_rate: RATE, channels: 1, format: 's16le',
        atten_lim_db: attenLimDb, post_filter_beta: 0, gating,
      }));
    };
    this.ws.onmessage = (e) => this.onMessage(e);
    this.ws.onclose = (e) => this.onClose(e);
  }

  setMode(mode) {
    if (this.node) this.node.port.postMessage({ type: 'mode', mode });
  }

  onWorklet(m) {
    if (m.type === 'underrun') { this.underruns = m.count; return; }
    if (m.type !== 'hop') return;
    const hop = m.samples;
    this.ui.inputSamples(Float32Array.from(hop, (s) => s / 32768));
    if (this.stopping) return;
    if (!this.ready) {
      this.pending.push(hop);
      if (this.pending.length > MAX_PENDING_HOPS) { this.pending.shift(); this.dropped++; }
      return;
    }
    this.send(hop);
  }

  send(hop) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) { this.dropped++; return; }
    this.ws.send(hop.buffer);
    this.sent += hop.length;
    if (this.sentLength + hop.length <= MAX_RECORDED_SAMPLES) { this.sentRecorded.push(hop); this.sentLength += hop.length; }
  }

  onMessage(e) {
    if (typeof e.data !== 'string') {
      const pcm = new Int16Array(e.data);
      const samples = Float32Array.from(pcm, (s) => s / 32768);
      this.received += pcm.length;
      if (this.recordedLength + pcm.length <= MAX_RECORDED_SAMPLES) { this.recorded.push(pcm); this.recordedLength += pcm.length; }
      this.node.port.postMessage({ type: 'audio', samples }, [samples.buffer.slice(0)]);
      this.ui.outputSamples(samples);
      this.report();
      return;
    }
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    if (msg.type === 'ready') {
      this.ready = true;
      this.latencySamples = msg.latency_samples || 0;
      for (const hop of this.pending) this.send(hop);
      this.pending = [];
      this.ui.status('Live: speak into the microphone.', 'ok');
    } else if (msg.type === 'stats') {
      this.lastStats = msg;
      this.report();
    } else if (msg.type === 'error') {
      this.error = msg;
    } else if (msg.type === 'done') {
      this.done = msg;
    }
  }

  /** Latency the user hears: audio still in flight (sent, not yet back) plus the device buffers. */
  latencyMs() {
    const inFlight = Math.max(0, this.sent - this.received) / RATE;
    const device = (this.ctx ? (this.ctx.baseLatency || 0) + (this.ctx.outputLatency || 0) : 0);
    return Math.round((inFlight + device + (3 * HOP) / RATE) * 1000);
  }

  report() {
    this.ui.stats({
      lsnrDb: this.lastStats ? this.lastStats.lsnr_db : null,
      latencyMs: this.ready ? this.latencyMs() : null,
      underruns: this.underruns,
    });
  }

  onClose(e) {
    let text, kind = 'error';
    if (this.error && this.error.message) text = `${CLOSE_MESSAGES[e.code] || 'The stream ended.'} (${this.error.message})`;
    else if (e.code === 1000) { text = 'Stopped.'; kind = 'ok'; }
    else text = CLOSE_MESSAGES[e.code];
    this.finish();
    if (text) { this.ui.status(text, kind); this.resolveClosed(); this.ui.ended(); return; }
    // No close code we know: the handshake itself failed (e.g. 503 at capacity, 401). Ask why.
    explainRefusal(this.opened).then((why) => { this.ui.status(why, 'error'); this.resolveClosed(); this.ui.ended(); });
  }

  /** Ends the stream: stop → wait for the flushed tail and `done` → close. */
  async stop() {
    this.stopping = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: 'stop' }));
      const timeout = new Promise((resolve) => setTimeout(resolve, 5000));
      await Promise.race([this.closed, timeout]);
      if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    } else if (this.ws && this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close();
    }
    this.finish();
  }

  finish() {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    // close() settles later and a second call rejects (Firefox): close once, whoever asks first.
    if (this.ctx && !this.ctxClosing) this.ctxClosing = this.ctx.close().catch(() => {});
    this.stream = null;
  }

  /** The enhanced audio received so far, as one Int16Array. */
  recording() { return joined(this.recorded, this.recordedLength); }

  /** The microphone audio sent so far, as one Int16Array (what the server was given). */
  sentRecording() { return joined(this.sentRecorded, this.sentLength); }
}

function joined(chunks, length) {
  const out = new Int16Array(length);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

/** After a failed handshake: the server's readiness says whether it is full or draining. */
async function explainRefusal(opened) {
  if (opened) return 'The connection to the server was lost.';
  try {
    const r = await fetch(new URL('readyz', window.location.href));
    if (r.status === 503) {
      const body = await r.json().catch(() => ({}));
      if (body.status === 'draining') return CLOSE_MESSAGES[1001];
      return CLOSE_MESSAGES[1013];
    }
    const probe = await fetch(new URL('v1/info', window.location.href));
    if (probe.status === 401) return CLOSE_MESSAGES[1008];
    const info = await probe.json().catch(() => null);
    const live = info && info.stream;
    if (live && typeof live.active_streams === 'number' && typeof live.max_streams === 'number'
        && live.active_streams >= live.max_streams) {
      return CLOSE_MESSAGES[1013];
    }
    return 'The server refused the stream. Try again in a moment.';
  } catch {
    return 'Cannot reach the server.';
  }
}

/** A mono 16-bit PCM WAV file of `pcm` at `rate`. */
export function wavBlob(pcm, rate) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (o, s) => [...s].forEach((c, i) => header.setUint8(o + i, c.charCodeAt(0)));
  text(0, 'RIFF'); header.setUint32(4, 36 + pcm.byteLength, true); text(8, 'WAVE');
  text(12, 'fmt '); header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
  header.setUint32(24, rate, true); header.setUint32(28, rate * 2, true); header.setUint16(32, 2, true); header.setUint16(34, 16, true);
  text(36, 'data'); header.setUint32(40, pcm.byteLength, true);
  return new Blob([header.buffer, pcm.buffer], { type: 'audio/wav' });
}
