// The Echo tab: an echo clip (uploaded, or simulated by GET /v1/echo/sample) through
// POST /v1/echo/declutter, then the input and the filtered clip side by side in step, and a
// third view of the clutter removed, |input − filtered| per pixel, in colour.

import { videoJob } from './video.js';

/** Filters `clip` (a Blob); resolves with the grey WebM. `progress(fraction, text)`. */
export function declutterClip(clip, { token, progress }) {
  return videoJob({
    path: 'v1/echo/declutter', params: { format: 'webm' }, body: clip, token, progress,
    working: (size) => `Removing clutter (${size})`,
  });
}

/** A simulated cluttered clip from the server (grey WebM, near-lossless). */
export function sampleClip({ seed, token, progress }) {
  return videoJob({
    method: 'GET', path: 'v1/echo/sample', params: { seed, format: 'webm', crf: 10 }, token, progress,
    working: (size) => `Simulating a ${size} clip`,
  });
}

/** Grey levels at which the colour scale saturates. */
export const SCALE_MAX = 64;

// A perceptually ordered dark-to-bright scale (black, violet, red, orange, pale yellow).
const STOPS = [[0, 0, 0], [80, 18, 123], [182, 54, 121], [251, 136, 97], [252, 253, 191]];

/** 256 RGB entries of the colour scale. */
function colourTable() {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (STOPS.length - 1);
    const k = Math.min(STOPS.length - 2, Math.floor(x)), f = x - k;
    for (let c = 0; c < 3; c++) lut[3 * i + c] = STOPS[k][c] + f * (STOPS[k + 1][c] - STOPS[k][c]);
  }
  return lut;
}

/**
 * Draws |a − b| of two videos' current frames (grey: their first channel) on `canvas`, scaled
 * so that SCALE_MAX grey levels and more are the brightest colour; `legend` (a canvas) gets
 * the scale, `stats` the frame's mean and largest difference.
 */
export class DifferenceView {
  constructor(canvas, legend, stats) {
    Object.assign(this, { canvas, stats, lut: colourTable(), draws: 0, drawnAt: null });
    this.frames = [document.createElement('canvas'), document.createElement('canvas')];
    const ctx = legend.getContext('2d');
    const bar = ctx.createImageData(legend.width, 1);
    for (let x = 0; x < legend.width; x++) {
      const i = Math.round((x / (legend.width - 1)) * 255);
      bar.data.set([this.lut[3 * i], this.lut[3 * i + 1], this.lut[3 * i + 2], 255], 4 * x);
    }
    ctx.putImageData(bar, 0, 0);
  }

  /** Pixels of `video`'s current frame, `w`×`h` from the top left, through canvas `k`. */
  pixels(video, k, w, h) {
    const c = this.frames[k];
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, w, h, 0, 0, w, h);
    return ctx.getImageData(0, 0, w, h).data;
  }

  draw(a, b) {
    // The filtered clip can be a row or column smaller (4:2:0 needs even sides): compare the overlap.
    const w = Math.min(a.videoWidth, b.videoWidth), h = Math.min(a.videoHeight, b.videoHeight);
    if (!w || !h) return;
    const pa = this.pixels(a, 0, w, h), pb = this.pixels(b, 1, w, h);
    if (this.canvas.width !== w || this.canvas.height !== h) { this.canvas.width = w; this.canvas.height = h; }
    const ctx = this.canvas.getContext('2d');
    const out = ctx.createImageData(w, h);
    let sum = 0, max = 0;
    for (let i = 0; i < pa.length; i += 4) {
      const d = Math.abs(pa[i] - pb[i]);
      sum += d;
      if (d > max) max = d;
      const k = 3 * Math.min(255, Math.round((d * 255) / SCALE_MAX));
      out.data[i] = this.lut[k]; out.data[i + 1] = this.lut[k + 1]; out.data[i + 2] = this.lut[k + 2]; out.data[i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    this.draws += 1;
    this.drawnAt = a.currentTime;
    this.stats.textContent = `This frame: mean ${(sum / (w * h)).toFixed(1)}, largest ${max} grey levels.`;
  }
}
