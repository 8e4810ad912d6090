// Helpers for the page tests: the sluice binary, a server on a free port, WAV files, Chromium,
// and alignment by cross-correlation.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, readdirSync, statSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fft } from '../spectrogram.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');

/** The `sluice` binary under test: $SLUICE_BIN, else the workspace's debug build. */
export function sluiceBinary() {
  const target = process.env.CARGO_TARGET_DIR || join(repo, 'target');
  return process.env.SLUICE_BIN || join(target, 'debug', 'sluice');
}

/** A fresh temp dir for one test file's WAVs and downloads; `removeTempDir` deletes it after. */
export function tempDir() {
  return mkdtempSync(join(tmpdir(), 'sluice-web-'));
}

/** Deletes a `tempDir` (logs and screenshots live among the artifacts, not here). */
export function removeTempDir(dir) {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Where screenshots go: $SLUICE_ARTIFACTS, else web/tests/artifacts. */
export function artifactsDir() {
  const dir = process.env.SLUICE_ARTIFACTS || join(here, 'artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

/** Starts `sluice serve` on a free loopback port and waits until /readyz answers 200. */
export async function startServer(extraArgs = []) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const child = spawn(sluiceBinary(), ['serve', '--addr', `127.0.0.1:${port}`, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SLUICE_LOG: process.env.SLUICE_LOG || 'warn' },
  });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sluice serve exited ${child.exitCode}: ${log}`);
    try {
      const r = await fetch(`${url}readyz`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`server not ready: ${log}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Reads a PCM16 or float32 WAV into mono Float32 samples (first channel) and its rate. */
export function readWav(path) {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path}: not a WAV`);
  let off = 12, fmt = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
      if (fmt.format === 0xfffe) fmt.format = b.readUInt16LE(body + 24);
    } else if (id === 'data') {
      if (!fmt) throw new Error(`${path}: data before fmt`);
      const bytes = fmt.bits / 8, frame = bytes * fmt.channels;
      const end = Math.min(b.length, body + size);
      const n = Math.floor((end - body) / frame);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const p = body + i * frame;
        out[i] = fmt.format === 3 ? b.readFloatLE(p) : b.readInt16LE(p) / 32768;
      }
      return { samples: out, rate: fmt.rate };
    }
    off = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Writes mono 16-bit PCM. */
export function writeWav(path, samples, rate) {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples.length * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(samples.length * 2, 40);
  samples.forEach((s, i) => b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(s * 32767))), 44 + 2 * i));
  writeFileSync(path, b);
}

/**
 * Noisy speech at 48 kHz: three ALSA test phrases with gaps, plus white noise at about 10 dB SNR
 * (seeded, so every run is the same).
 */
export function noisySpeech() {
  const parts = ['Front_Center', 'Front_Left', 'Rear_Right'].map((n) => readWav(`/usr/share/sounds/alsa/${n}.wav`).samples);
  const gap = 12_000;
  const total = gap + parts.reduce((a, p) => a + p.length + gap, 0);
  const out = new Float32Array(total);
  let o = gap;
  for (const p of parts) { out.set(p, o); o += p.length + gap; }
  let power = 0;
  for (const s of out) power += s * s;
  const noiseRms = Math.sqrt(power / out.length) / Math.sqrt(10);
  let seed = 12345;
  const uniform = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; };
  for (let i = 0; i < out.length; i++) out[i] += noiseRms * Math.sqrt(3) * (2 * uniform() - 1);
  return out;
}

/** `sluice denoise IN OUT [FLAGS…]` and the result's samples. */
export function denoiseWithCli(input, output, flags = []) {
  execFileSync(sluiceBinary(), ['denoise', ...flags, input, output], { stdio: 'pipe' });
  return readWav(output).samples;
}

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
  '--autoplay-policy=no-user-gesture-required',
];

/** Debian's chromium with `wav` as the microphone (or with microphone prompts denied). */
export async function launchChromium({ microphoneWav = null, denyMicrophone = false } = {}) {
  const args = [...CHROMIUM_ARGS, '--use-fake-device-for-media-stream'];
  args.push(denyMicrophone ? '--deny-permission-prompts' : '--use-fake-ui-for-media-stream');
  if (microphoneWav) args.push(`--use-file-for-fake-audio-capture=${microphoneWav}%noloop`);
  return chromium.launch({ executablePath: process.env.SLUICE_CHROMIUM || '/usr/bin/chromium', args, ignoreDefaultArgs: ['--headless'] });
}

/**
 * Debian's Firefox ESR, driven over WebDriver BiDi by puppeteer-core (Playwright drives only its
 * own patched Firefox builds). Firefox has no WAV-file microphone: `microphone` names the
 * PulseAudio source it captures (see nullSink), with prompts granted — or, with
 * `denyMicrophone`, refused as by a user who blocks the site. Downloads land in `downloadDir`.
 */
export async function launchFirefox({ microphone = null, denyMicrophone = false, downloadDir = null, protocolTimeout = 60_000 } = {}) {
  const prefs = {
    'media.navigator.streams.fake': false,
    'media.autoplay.default': 0, // allowed: the page plays the enhanced audio back
  };
  if (microphone) prefs['media.audio_loopback_dev'] = microphone;
  if (denyMicrophone) prefs['permissions.default.microphone'] = 2;
  else prefs['media.navigator.permission.disabled'] = true;
  if (downloadDir) {
    Object.assign(prefs, { 'browser.download.folderList': 2, 'browser.download.dir': downloadDir, 'browser.download.useDownloadDir': true });
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.SLUICE_FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: prefs,
    // The slowest call these tests make answers in well under a second even on a loaded
    // machine; a call unanswered for a minute is a hung browser (see isBrowserHang), not a slow
    // one, and waiting puppeteer's default three minutes for it only delays the verdict.
    protocolTimeout,
  });
}

/** Whether `error` (or what it wraps) is a protocol call the browser never answered. */
export function isBrowserHang(error) {
  for (let e = error; e; e = e.cause) {
    if (e.name === 'ProtocolError' && /timed out/.test(e.message)) return true;
  }
  return false;
}

/** `ps` lines of `browser`'s process and all its descendants (Firefox's content processes are
 *  its fork server's children): state, CPU share and memory, to tell a hung browser that spins
 *  from one that waits; '' when ps fails. */
export function browserProcesses(browser) {
  const root = browser.process()?.pid;
  if (!root) return '';
  let rows;
  try {
    rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,stat=,pcpu=,rss=,etime=,args='], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString().trim().split('\n').map((line) => line.trim().split(/\s+/));
  } catch {
    return '';
  }
  const tree = new Set([String(root)]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of rows) if (tree.has(ppid) && !tree.has(pid)) { tree.add(pid); grew = true; }
  }
  // A child's last argument names its kind (tab, rdd, socket, utility…).
  const kind = (r) => (r[0] === String(root) ? 'main' : r.includes('-contentproc') ? r[r.length - 1] : r.slice(6).join(' '));
  const keep = rows.filter(([pid]) => tree.has(pid)).map((r) => `${r.slice(0, 6).join(' ')} ${kind(r)}`);
  return ['pid ppid stat %cpu rss etime kind', ...keep].join('\n');
}

/** Closes `browser`, or kills its process if the close is not answered in 15 s (a hung browser). */
export async function closeFirefox(browser) {
  const closed = browser.close().then(() => true, () => false);
  const gaveUp = new Promise((resolve) => { setTimeout(() => resolve(false), 15_000).unref(); });
  if (!(await Promise.race([closed, gaveUp]))) browser.process()?.kill('SIGKILL');
}

/** `pactl` with `args`, its trimmed output, or null when no PulseAudio server answers. */
function pactl(...args) {
  try {
    return execFileSync('pactl', args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return null;
  }
}

/** Whether a PulseAudio server answers (nullSink can make sinks); with SLUICE_REQUIRE_PULSE set, a
 *  missing server is an error instead of false. */
export function nullSinkAvailable() {
  if (pactl('info') !== null) return true;
  if (process.env.SLUICE_REQUIRE_PULSE) throw new Error('SLUICE_REQUIRE_PULSE is set but no PulseAudio server answers `pactl info`');
  return false;
}

/**
 * A mono 48 kHz PulseAudio null sink of the test's own (never a developer's real devices), or
 * null when no PulseAudio server answers — a failure instead when SLUICE_REQUIRE_PULSE is set,
 * as CI sets it. `close()` unloads it.
 */
export function nullSink(tag) {
  if (!nullSinkAvailable()) return null;
  const name = `sluice_web_${tag}_${process.pid}`;
  const module = pactl('load-module', 'module-null-sink', `sink_name=${name}`, 'rate=48000', 'channels=1',
    `sink_properties=device.description=${name}`);
  if (module === null) throw new Error('pactl load-module module-null-sink failed');
  // Browsers list sources by description; PulseAudio describes a monitor as "Monitor of <sink>".
  return { name, monitorDescription: `Monitor of ${name}`, close: () => pactl('unload-module', module) };
}

function nextPow2(n) { let p = 1; while (p < n) p <<= 1; return p; }

/**
 * Best normalised correlation between `a` and `b` over lags of `a` against `b` in
 * [-maxLag, maxLag] (FFT cross-correlation), with the lag that gives it.
 */
export function bestCorrelation(a, b, maxLag, { minShareA = 0.25, minShareB = 0.25 } = {}) {
  const n = nextPow2(a.length + b.length);
  const ar = new Float64Array(n), ai = new Float64Array(n), br = new Float64Array(n), bi = new Float64Array(n);
  ar.set(a); br.set(b);
  fft(ar, ai); fft(br, bi);
  // a ⋆ b = IFFT(A · conj(B)); the inverse by conjugating, forward FFT, conjugating, /n
  for (let k = 0; k < n; k++) {
    const re = ar[k] * br[k] + ai[k] * bi[k], im = ai[k] * br[k] - ar[k] * bi[k];
    ar[k] = re; ai[k] = -im;
  }
  fft(ar, ai);
  const cumA = prefixEnergy(a), cumB = prefixEnergy(b);
  const totalA = cumA[a.length], totalB = cumB[b.length];
  let best = { corr: -1, lag: 0 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    const xc = ar[(lag + n) % n] / n; // Σ a[i+lag] b[i]
    const i0 = Math.max(0, -lag), i1 = Math.min(b.length, a.length - lag);
    if (i1 - i0 < 4800) continue;
    const ea = cumA[i1 + lag] - cumA[i0 + lag], eb = cumB[i1] - cumB[i0];
    // An overlap of near silence would divide FFT rounding noise by almost nothing.
    if (ea < minShareA * totalA || eb < minShareB * totalB) continue;
    const corr = xc / Math.sqrt(ea * eb + 1e-20);
    if (corr > best.corr) best = { corr, lag };
  }
  return best;
}

/**
 * How well `b` shows up in `a` when the two clocks differ a little: the median, over `a`'s
 * windows of `win` samples that hold at least a tenth of the loudest window's energy, of each
 * window's best correlation anywhere in `b`. A browser resampling its microphone to the page's
 * clock drifts by a few samples per second, which sinks one whole-signal correlation.
 */
export function windowedCorrelation(a, b, win) {
  const energies = [];
  for (let s = 0; s + win <= a.length; s += win) {
    let e = 0;
    for (let i = s; i < s + win; i++) e += a[i] * a[i];
    energies.push(e);
  }
  const loudest = Math.max(0, ...energies);
  const corrs = [];
  energies.forEach((e, w) => {
    if (e <= 0 || e < loudest / 10) return;
    const window = a.subarray(w * win, (w + 1) * win);
    corrs.push(bestCorrelation(window, b, b.length, { minShareA: 0.9, minShareB: 0 }).corr);
  });
  if (corrs.length === 0) return -1;
  corrs.sort((x, y) => x - y);
  return corrs[Math.floor(corrs.length / 2)];
}

function prefixEnergy(x) {
  const c = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) c[i + 1] = c[i] + x[i] * x[i];
  return c;
}

/** Collects the page's uncaught errors; each test asserts the list is empty at its end. */
export function collectPageErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e.stack || e)));
  return errors;
}

/** Waits until each video element `ids` has its first frame; returns their [width, height]. */
export async function loadedVideoSizes(page, ids) {
  await page.waitForFunction((ids) => ids.every((id) => document.getElementById(id).readyState >= 2), { timeout: 20_000 }, ids);
  return page.evaluate((ids) => ids.map((id) => {
    const v = document.getElementById(id);
    return [v.videoWidth, v.videoHeight];
  }), ids);
}

/** Mean over a canvas of how far its pixels are from black: > 0 once something is drawn. */
export async function canvasInk(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
    return sum / (d.length / 4);
  }, id);
}

/** Clicks the download link named `linkName`, saves the file to `path` and returns ffprobe's
 *  description of its video stream (frames counted). */
export async function downloadVideo(page, linkName, path) {
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: linkName }).click();
  await (await download).saveAs(path);
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', path]));
  return probe.streams.find((s) => s.codec_type === 'video');
}

/**
 * Waits up to `timeoutMs` for a finished download in `dir` and returns its path. Firefox creates
 * the file empty, writes `<name>.part` and renames it over the file at the end: finished means a
 * non-empty file with no `.part` beside it and the same size on two looks in a row.
 */
export async function waitForDownload(dir, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    const names = readdirSync(dir);
    const name = names.find((n) => !n.endsWith('.part') && !names.includes(`${n}.part`));
    const size = name ? statSync(join(dir, name)).size : 0;
    if (size > 0 && last && last.name === name && last.size === size) return join(dir, name);
    last = { name, size };
    if (Date.now() > deadline) throw new Error(`no download finished in ${dir} (${names.join(', ') || 'empty'})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Registers the shared set-up of a page-test file: a temp dir with the noisy speech WAV, its
 * `sluice denoise` reference and a running server (log saved as `<logName>` among the artifacts
 * at the end). The returned object's fields are filled in before the first test.
 */
export function speechServerSuite(logName) {
  const ctx = { rate: 48000, dir: null, noisyPath: null, reference: null, server: null };
  before(async () => {
    ctx.dir = tempDir();
    ctx.noisyPath = join(ctx.dir, 'noisy.wav');
    writeWav(ctx.noisyPath, noisySpeech(), ctx.rate);
    ctx.reference = denoiseWithCli(ctx.noisyPath, join(ctx.dir, 'reference.wav'));
    ctx.server = await startServer();
  });
  after(async () => {
    if (ctx.server) {
      await ctx.server.stop();
      writeFileSync(join(artifactsDir(), logName), ctx.server.log());
    }
    removeTempDir(ctx.dir);
  });
  return ctx;
}

/**
 * Judges a live round trip: `sent` (what the page sent, 16-bit) must be the noisy WAV heard
 * through the browser's microphone (correlation >= `micMin`), and `received` (what came back)
 * must correlate >= 0.9 with `sluice denoise` of `sent`. Returns both correlations.
 */
export function assertLiveRoundTrip(ctx, tag, sentPcm, receivedPcm, micMin = 0.5) {
  const sent = Float32Array.from(sentPcm, (s) => s / 32768);
  const enhanced = Float32Array.from(receivedPcm, (s) => s / 32768);
  const mic = { corr: windowedCorrelation(sent, readWav(ctx.noisyPath).samples, ctx.rate / 2) };
  assert.ok(mic.corr >= micMin, `the microphone did not play the WAV: correlation ${mic.corr.toFixed(3)}`);
  const sentPath = join(ctx.dir, `${tag}-sent.wav`);
  writeWav(sentPath, sent, ctx.rate);
  const expected = denoiseWithCli(sentPath, join(ctx.dir, `${tag}-sent-denoised.wav`));
  const { corr, lag } = bestCorrelation(enhanced, expected, 2 * ctx.rate);
  console.log(`${tag}: server vs sluice denoise ${corr.toFixed(4)} at lag ${lag}; microphone vs WAV ${mic.corr.toFixed(4)}`);
  assert.ok(corr >= 0.9, `correlation with sluice denoise of the sent audio ${corr.toFixed(3)} at lag ${lag} `
    + `(microphone vs WAV ${mic.corr.toFixed(3)})`);
  return { mic: mic.corr, corr };
}

/**
 * The live tab's recording `which` ('recording': what came back, 'sentRecording': what the
 * microphone gave) as Int16 samples. Why one base64 string: a plain array of ~10^6 numbers
 * crosses WebDriver BiDi as one remote value per sample, which on a loaded machine kept Firefox
 * busy past puppeteer's protocol timeout (`script.callFunction timed out`).
 */
export async function liveRecording(page, which) {
  const base64 = await page.evaluate((name) => {
    const pcm = window.sluice.live[name]();
    const bytes = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }, which);
  // Copy out of Node's shared Buffer pool, whose offsets need not be 2-byte aligned.
  return new Int16Array(Uint8Array.from(Buffer.from(base64, 'base64')).buffer);
}

/** The downloaded WAV at `path` is `reference` (the same length, within 2 LSB). */
export function assertSameWav(path, reference) {
  const got = readWav(path).samples;
  assert.equal(got.length, reference.length, 'same length as sluice denoise');
  let maxDiff = 0;
  for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - reference[i]));
  assert.ok(maxDiff <= 2 / 32768, `downloaded WAV differs from sluice denoise by ${maxDiff}`);
}
