// Spectrograms for the page: a small radix-2 FFT, a scrolling live view and a still picture of a
// whole signal. Magnitudes are shown in dB over a fixed 90 dB range with a perceptual colour map.

export const FFT_SIZE = 1024;

/** In-place iterative radix-2 FFT over separate real/imaginary arrays (length a power of two). */
export function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang), wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1, ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k, b = a + len / 2;
        const tr = re[b] * cr - im[b] * ci, ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr; im[b] = im[a] - ti;
        re[a] += tr; im[a] += ti;
        const nr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr; cr = nr;
      }
    }
  }
}

const hann = new Float32Array(FFT_SIZE).map((_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE));

/** Power in dB of the first FFT_SIZE/2 bins of `frame` (FFT_SIZE samples, windowed here). */
export function spectrumDb(frame, re, im, outDb) {
  for (let i = 0; i < FFT_SIZE; i++) { re[i] = frame[i] * hann[i]; im[i] = 0; }
  fft(re, im);
  for (let k = 0; k < FFT_SIZE / 2; k++) {
    outDb[k] = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
  }
}

// Dark blue → purple → orange → yellow, sampled at 256 levels.
const STOPS = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]];
export const PALETTE = Array.from({ length: 256 }, (_, i) => {
  const x = (i / 255) * (STOPS.length - 1), k = Math.min(Math.floor(x), STOPS.length - 2), f = x - k;
  return STOPS[k].map((c, j) => Math.round(c + (STOPS[k + 1][j] - c) * f));
});

const FLOOR_DB = -40, RANGE_DB = 90;
function level(db) { return Math.max(0, Math.min(255, Math.round(((db - FLOOR_DB) / RANGE_DB) * 255))); }

/** Spectrogram that scrolls left by one column per analysed frame. */
export class ScrollingSpectrogram {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.history = new Float32Array(FFT_SIZE);
    this.re = new Float32Array(FFT_SIZE);
    this.im = new Float32Array(FFT_SIZE);
    this.db = new Float32Array(FFT_SIZE / 2);
    this.column = this.ctx.createImageData(1, canvas.height);
    this.columns = 0; // columns drawn so far (read by tests)
    this.pending = 0;
    this.clear();
  }

  clear() { this.ctx.fillStyle = '#000'; this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height); }

  /** Appends Float32 samples, of any count; one column per 480 new samples (10 ms). */
  push(samples) {
    const h = this.history;
    for (let start = 0; start < samples.length; start += 480) {
      const chunk = samples.subarray(start, Math.min(samples.length, start + 480));
      h.copyWithin(0, chunk.length);
      h.set(chunk, FFT_SIZE - chunk.length);
      this.pending += chunk.length;
      while (this.pending >= 480) { this.pending -= 480; this.drawColumn(); }
    }
  }

  drawColumn() {
    spectrumDb(this.history, this.re, this.im, this.db);
    const { width, height } = this.canvas;
    const px = this.column.data, bins = FFT_SIZE / 2;
    for (let y = 0; y < height; y++) {
      // low frequencies at the bottom; a mildly logarithmic axis gives speech room
      const frac = (height - 1 - y) / (height - 1);
      const k = Math.min(bins - 1, Math.floor(Math.pow(frac, 1.6) * bins));
      const c = PALETTE[level(this.db[k])];
      px[4 * y] = c[0]; px[4 * y + 1] = c[1]; px[4 * y + 2] = c[2]; px[4 * y + 3] = 255;
    }
    this.ctx.drawImage(this.canvas, -1, 0);
    this.ctx.putImageData(this.column, width - 1, 0);
    this.columns++;
  }
}

/** Draws the whole of `samples` (mono Float32) as one spectrogram picture filling `canvas`. */
export function drawSpectrogram(canvas, samples) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const image = ctx.createImageData(width, height);
  const re = new Float32Array(FFT_SIZE), im = new Float32Array(FFT_SIZE), db = new Float32Array(FFT_SIZE / 2);
  const frame = new Float32Array(FFT_SIZE);
  const bins = FFT_SIZE / 2;
  const span = Math.max(0, samples.length - FFT_SIZE);
  for (let x = 0; x < width; x++) {
    const start = Math.round((x / Math.max(1, width - 1)) * span);
    frame.fill(0);
    frame.set(samples.subarray(start, Math.min(samples.length, start + FFT_SIZE)));
    spectrumDb(frame, re, im, db);
    for (let y = 0; y < height; y++) {
      const frac = (height - 1 - y) / (height - 1);
      const k = Math.min(bins - 1, Math.floor(Math.pow(frac, 1.6) * bins));
      const c = PALETTE[level(db[k])];
      const o = 4 * (y * width + x);
      image.data[o] = c[0]; image.data[o + 1] = c[1]; image.data[o + 2] = c[2]; image.data[o + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}
