// The web page in a real browser (Debian chromium + playwright-core) against a real `sluice serve`:
// the live tab with a WAV as the fake microphone, the file and video tabs, and the failure messages.
// Run with `npm test` in web/tests after building the workspace (scripts/test.sh does both).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import {
  startServer, tempDir, writeWav, readWav, noisySpeech, denoiseWithCli, launchChromium, bestCorrelation, artifactsDir,
  canvasInk, downloadVideo,
} from './support.mjs';

const RATE = 48000;
let dir, noisyPath, reference, server;

before(async () => {
  dir = tempDir();
  noisyPath = join(dir, 'noisy.wav');
  writeWav(noisyPath, noisySpeech(), RATE);
  reference = denoiseWithCli(noisyPath, join(dir, 'reference.wav'));
  server = await startServer();
});

after(async () => {
  if (server) {
    await server.stop();
    writeFileSync(join(artifactsDir(), 'server.log'), server.log());
  }
});

test('live tab: the browser microphone comes back enhanced like `sluice denoise`', async () => {
  const browser = await launchChromium({ microphoneWav: noisyPath });
  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e.stack || e)));
    await page.goto(server.url);
    await page.getByRole('button', { name: 'Start microphone' }).click();
    await page.waitForFunction(() => document.getElementById('live-status').textContent.startsWith('Live'), null, { timeout: 20_000 });
    const seconds = reference.length / RATE;
    // The fake microphone plays the file once; wait until it has all come back.
    await page.waitForFunction(
      (n) => window.sluice.live && window.sluice.live.received >= n, Math.round((seconds + 0.5) * RATE), { timeout: (seconds + 20) * 1000 },
    );
    await page.screenshot({ path: join(artifactsDir(), 'live-tab.png'), fullPage: true });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.waitForFunction(() => document.getElementById('live-status').textContent === 'Stopped.', null, { timeout: 10_000 })
      .catch(async (e) => { throw new Error(`${e.message}; status: ${await page.locator('#live-status').textContent()}`); });

    const received = await page.evaluate(() => Array.from(window.sluice.live.recording()));
    const enhanced = Float32Array.from(received, (s) => s / 32768);
    // Chromium's fake microphone plays the WAV on a wall clock and, on a loaded machine, can
    // skip or repeat a little of it: the server is judged on what the page really sent, which
    // must itself be the WAV (looser bound), and `sluice denoise` of that must match.
    const sentPcm = await page.evaluate(() => Array.from(window.sluice.live.sentRecording()));
    const sent = Float32Array.from(sentPcm, (s) => s / 32768);
    const mic = bestCorrelation(sent, readWav(noisyPath).samples, 2 * RATE);
    assert.ok(mic.corr >= 0.5, `the microphone did not play the WAV: correlation ${mic.corr.toFixed(3)}`);
    const sentPath = join(dir, 'sent.wav');
    writeWav(sentPath, sent, RATE);
    const expected = denoiseWithCli(sentPath, join(dir, 'sent-denoised.wav'));
    const { corr, lag } = bestCorrelation(enhanced, expected, 2 * RATE);
    console.log(`live: server vs sluice denoise ${corr.toFixed(4)} at lag ${lag}; microphone vs WAV ${mic.corr.toFixed(4)}`);
    assert.ok(corr >= 0.9, `correlation with sluice denoise of the sent audio ${corr.toFixed(3)} at lag ${lag} `
      + `(microphone vs WAV ${mic.corr.toFixed(3)})`);

    const columns = await page.evaluate(() => [window.sluice.specIn.columns, window.sluice.specOut.columns]);
    assert.ok(columns[0] > 100 && columns[1] > 100, `spectrogram columns ${columns}`);
    assert.ok((await canvasInk(page, 'spec-in')) > 5, 'input spectrogram drawn');
    assert.ok((await canvasInk(page, 'spec-out')) > 5, 'output spectrogram drawn');
    const snr = await page.locator('#snr-value').textContent();
    assert.match(snr, /dB$/, 'local SNR shown');
    assert.match(await page.locator('#latency').textContent(), /ms$/, 'latency shown');
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});

test('file tab: upload, progress, before/after players and pictures, download', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Audio file' }).press('Enter');
    await page.getByRole('tab', { name: 'Audio file' }).click();
    await page.getByLabel('Audio file (WAV, FLAC, Ogg Vorbis, MP3)').setInputFiles(noisyPath);
    await page.getByRole('button', { name: 'Enhance' }).click();
    await page.waitForFunction(() => document.getElementById('file-status').textContent.startsWith('Done'), null, { timeout: 60_000 });
    assert.equal(await page.locator('#file-progress').evaluate((p) => p.value), 1);
    assert.ok((await canvasInk(page, 'file-spec-before')) > 5, 'before spectrogram drawn');
    assert.ok((await canvasInk(page, 'file-spec-after')) > 5, 'after spectrogram drawn');
    await page.screenshot({ path: join(artifactsDir(), 'file-tab.png'), fullPage: true });

    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download the enhanced WAV' }).click();
    const saved = join(dir, 'downloaded.wav');
    await (await download).saveAs(saved);
    const got = readWav(saved).samples;
    assert.equal(got.length, reference.length, 'same length as sluice denoise');
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - reference[i]));
    assert.ok(maxDiff <= 2 / 32768, `downloaded WAV differs from sluice denoise by ${maxDiff}`);
  } finally {
    await browser.close();
  }
});

test('live tab: a denied microphone says so', async () => {
  const browser = await launchChromium({ denyMicrophone: true });
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByRole('button', { name: 'Start microphone' }).click();
    await page.waitForFunction(() => document.getElementById('live-status').classList.contains('error'), null, { timeout: 10_000 });
    assert.match(await page.locator('#live-status').textContent(), /Microphone access was denied/);
    assert.equal(await page.getByRole('button', { name: 'Start microphone' }).isEnabled(), true);
  } finally {
    await browser.close();
  }
});

test('live tab: a server at capacity says so', async () => {
  const full = await startServer(['--max-streams', '1']);
  const browser = await launchChromium({ microphoneWav: noisyPath });
  try {
    const first = await browser.newPage();
    await first.goto(full.url);
    await first.getByRole('button', { name: 'Start microphone' }).click();
    await first.waitForFunction(() => document.getElementById('live-status').textContent.startsWith('Live'), null, { timeout: 20_000 });
    const second = await browser.newPage();
    await second.goto(full.url);
    await second.getByRole('button', { name: 'Start microphone' }).click();
    await second.waitForFunction(() => document.getElementById('live-status').classList.contains('error'), null, { timeout: 20_000 });
    assert.match(await second.locator('#live-status').textContent(), /at capacity/);
    await second.screenshot({ path: join(artifactsDir(), 'live-at-capacity.png'), fullPage: true });
  } finally {
    await browser.close();
    await full.stop();
  }
});

// Keep the generated input next to the screenshots for whoever looks at a failure.
after(() => {
  try { writeFileSync(join(artifactsDir(), 'noisy-input.wav'), readFileSync(noisyPath)); } catch { /* best effort */ }
});

test('video tab: upload, progress, before/after comparison slider, download', async () => {
  // A 96×64, 25 fps, 1 s VP9 test pattern (a codec every Chromium build plays).
  const clip = join(dir, 'clip.webm');
  execFileSync('ffmpeg', ['-y', '-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'testsrc2=s=96x64:r=25:d=1',
    '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-pix_fmt', 'yuv420p', clip]);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e.stack || e)));
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Video' }).click();
    await page.getByLabel('Video file (MP4, WebM, MKV, …)').setInputFiles(clip);
    await page.getByLabel('Enlarge').selectOption('2');
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.waitForFunction(() => document.getElementById('video-status').textContent.startsWith('Done:'), null, { timeout: 60_000 })
      .catch(async (e) => { throw new Error(`${e.message}; status: ${await page.locator('#video-status').textContent()}`); });
    assert.equal(await page.locator('#video-progress').evaluate((p) => p.value), 1);

    // Both videos load; the upscaled one is twice the size and as long.
    await page.waitForFunction(() => ['video-before', 'video-after'].every((id) => document.getElementById(id).readyState >= 2),
      null, { timeout: 20_000 });
    const dims = await page.evaluate(() => ['video-before', 'video-after'].map((id) => {
      const v = document.getElementById(id);
      return [v.videoWidth, v.videoHeight, Math.round(v.duration * 10) / 10];
    }));
    assert.deepEqual(dims[0].slice(0, 2), [96, 64]);
    assert.deepEqual(dims[1].slice(0, 2), [192, 128]);
    assert.ok(Math.abs(dims[0][2] - dims[1][2]) <= 0.1, `durations ${dims[0][2]} vs ${dims[1][2]}`);

    // The slider moves the split between before (left) and after (right).
    const clipPath = () => page.locator('#video-after').evaluate((v) => v.style.clipPath);
    assert.equal(await clipPath(), 'inset(0px 0px 0px 50%)');
    await page.getByLabel('Before ◀ ▶ After').fill('20');
    assert.equal(await clipPath(), 'inset(0px 0px 0px 20%)');
    await page.getByRole('button', { name: 'Play' }).click();
    await page.waitForFunction(() => document.getElementById('video-after').currentTime > 0.2, null, { timeout: 10_000 });
    await page.screenshot({ path: join(artifactsDir(), 'video-tab.png'), fullPage: true });

    const v = await downloadVideo(page, 'Download the upscaled video (WebM)', join(dir, 'downloaded.webm'));
    assert.deepEqual([v.codec_name, v.width, v.height, v.nb_read_frames], ['vp9', 192, 128, '25']);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});

test('video tab: a file that is not a video gets a clear message', async () => {
  const notVideo = join(dir, 'notes.txt');
  writeFileSync(notVideo, 'not a video');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Video' }).click();
    await page.getByLabel('Video file (MP4, WebM, MKV, …)').setInputFiles(notVideo);
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.waitForFunction(() => document.getElementById('video-status').classList.contains('error'), null, { timeout: 20_000 });
    assert.match(await page.locator('#video-status').textContent(), /not a video the server can read/);
    assert.equal(await page.getByRole('button', { name: 'Upscale' }).isEnabled(), true);
  } finally {
    await browser.close();
  }
});
