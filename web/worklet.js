// AudioWorklet processor for the live tab: frames the microphone into 10 ms Int16 hops for the
// WebSocket and plays back either the enhanced stream (from a jitter buffer) or the original.
// Runs on the audio rendering thread: no allocation after start-up except the hop posted out.

const HOP = 480; // 10 ms at 48 kHz, the server's hop
const RING = 48000 * 2; // 2 s of playback buffer
const PREFILL = HOP * 3; // wait for 30 ms before (re)starting playback, to ride out jitter

class SluiceIo extends AudioWorkletProcessor {
  constructor() {
    super();
    this.hop = new Int16Array(HOP);
    this.fill = 0;
    this.ring = new Float32Array(RING);
    this.read = 0;
    this.write = 0;
    this.buffered = 0;
    this.playing = false;
    this.mode = 'enhanced';
    this.underruns = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'audio') this.push(m.samples);
      else if (m.type === 'mode') this.mode = m.mode;
      else if (m.type === 'reset') { this.read = this.write = this.buffered = 0; this.playing = false; }
    };
  }

  push(samples) {
    for (let i = 0; i < samples.length; i++) {
      if (this.buffered === RING) { this.read = (this.read + 1) % RING; this.buffered--; } // drop oldest
      this.ring[this.write] = samples[i];
      this.write = (this.write + 1) % RING;
      this.buffered++;
    }
  }

  process(inputs, outputs) {
    const input = inputs[0] && inputs[0][0];
    const out = outputs[0];
    const n = out[0].length;
    if (input) {
      for (let i = 0; i < input.length; i++) {
        const s = Math.max(-1, Math.min(1, input[i]));
        this.hop[this.fill++] = s < 0 ? s * 32768 : s * 32767;
        if (this.fill === HOP) {
          const hop = this.hop.slice();
          this.port.postMessage({ type: 'hop', samples: hop }, [hop.buffer]);
          this.fill = 0;
        }
      }
    }
    const ch = out[0];
    if (this.mode === 'original' && input) {
      ch.set(input.subarray(0, n));
    } else if (this.mode === 'enhanced') {
      if (!this.playing && this.buffered >= PREFILL) this.playing = true;
      if (this.playing && this.buffered < n) { this.playing = false; this.underruns++; this.port.postMessage({ type: 'underrun', count: this.underruns }); }
      if (this.playing) {
        for (let i = 0; i < n; i++) { ch[i] = this.ring[this.read]; this.read = (this.read + 1) % RING; }
        this.buffered -= n;
      } else ch.fill(0);
    } else ch.fill(0);
    for (let c = 1; c < out.length; c++) out[c].set(ch);
    return true;
  }
}

registerProcessor('sluice-io', SluiceIo);
