// The web page in a real browser (Debian chromium + playwright-core) against a real `sluice serve`:
// the live tab with a WAV as the fake microphone, the file and video tabs, and the failure messages.
// Run with `npm test` in web/tests after building the workspace (scripts/test.sh does both).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import {
  startServer, launchChromium, artifactsDir, canvasInk, downloadVideo, speechServerSuite, assertLiveRoundTrip, assertSameWav,
  collectPageErrors, denoiseWithCli, liveRecording,
} from './support.mjs';

const ctx = speechServerSuite('server.log');
const RATE = ctx.rate;

test('live tab: the browser microphone comes back enhanced like `sluice denoise`', async () => {
  const browser = await launchChromium({ microphoneWav: ctx.noisyPath });
  try {
    const page = await browser.newPage();
    const pageErrors = collectPageErrors(page);
    // The `start` messages the page sends on its live-audio WebSockets.
    const starts = [];
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => {
      if (typeof payload === 'string' && payload.includes('"start"')) starts.push(JSON.parse(payload));
    }));
    await page.goto(ctx.server.url);
    await page.getByRole('button', { name: 'Start microphone' }).click();
    await page.waitForFunction(() => document.getElementById('live-status').textContent.startsWith('Live'), null, { timeout: 20_000 });
    const seconds = ctx.reference.length / RATE;
    // The fake microphone plays the file once; wait until it has all come back.
    await page.waitForFunction(
      (n) => window.sluice.live && window.sluice.live.received >= n, Math.round((seconds + 0.5) * RATE), { timeout: (seconds + 20) * 1000 },
    );
    await page.screenshot({ path: join(artifactsDir(), 'live-tab.png'), fullPage: true });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.waitForFunction(() => document.getElementById('live-status').textContent === 'Stopped.', null, { timeout: 10_000 })
      .catch(async (e) => { throw new Error(`${e.message}; status: ${await page.locator('#live-status').textContent()}`); });

    const received = await liveRecording(page, 'recording');
    // Chromium's fake microphone plays the WAV on a wall clock and, on a loaded machine, can
    // skip or repeat a little of it: the server is judged on what the page really sent, which
    // must itself be the WAV (looser bound), and `sluice denoise` of that must match.
    const sent = await liveRecording(page, 'sentRecording');
    assertLiveRoundTrip(ctx, 'live', sent, received);

    const columns = await page.evaluate(() => [window.sluice.specIn.columns, window.sluice.specOut.columns]);
    assert.ok(columns[0] > 100 && columns[1] > 100, `spectrogram columns ${columns}`);
    assert.ok((await canvasInk(page, 'spec-in')) > 5, 'input spectrogram drawn');
    assert.ok((await canvasInk(page, 'spec-out')) > 5, 'output spectrogram drawn');
    const snr = await page.locator('#snr-value').textContent();
    assert.match(snr, /dB$/, 'local SNR shown');
    assert.match(await page.locator('#latency').textContent(), /ms$/, 'latency shown');
    assert.deepEqual(starts.map((s) => s.gating), ['off']);

    // Ticking "Mute noise-only moments" starts the next stream with gating lsnr, which the server takes.
    await page.getByLabel('Mute noise-only moments', { exact: true }).check();
    await page.getByRole('button', { name: 'Start microphone' }).click();
    await page.waitForFunction(() => document.getElementById('live-status').textContent.startsWith('Live'), null, { timeout: 20_000 });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.waitForFunction(() => document.getElementById('live-status').textContent === 'Stopped.', null, { timeout: 10_000 });
    assert.deepEqual(starts.map((s) => s.gating), ['off', 'lsnr']);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});

test('file tab: upload, progress, before/after players and pictures, download', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(ctx.server.url);
    await page.getByRole('tab', { name: 'Audio file' }).press('Enter');
    await page.getByRole('tab', { name: 'Audio file' }).click();
    await page.getByLabel('Audio file (WAV, FLAC, Ogg Vorbis, MP3)').setInputFiles(ctx.noisyPath);
    await page.getByRole('button', { name: 'Enhance' }).click();
    await page.waitForFunction(() => document.getElementById('file-status').textContent.startsWith('Done'), null, { timeout: 60_000 });
    assert.equal(await page.locator('#file-progress').evaluate((p) => p.value), 1);
    assert.ok((await canvasInk(page, 'file-spec-before')) > 5, 'before spectrogram drawn');
    assert.ok((await canvasInk(page, 'file-spec-after')) > 5, 'after spectrogram drawn');
    await page.screenshot({ path: join(artifactsDir(), 'file-tab.png'), fullPage: true });

    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download the enhanced WAV' }).click();
    const saved = join(ctx.dir, 'downloaded.wav');
    await (await download).saveAs(saved);
    assertSameWav(saved, ctx.reference);

    // With the gating box ticked the file comes back as `sluice denoise --gating lsnr` writes it.
    await page.getByLabel(/lsnr gating/).check();
    const firstHref = await page.locator('#file-download').getAttribute('href');
    await page.getByRole('button', { name: 'Enhance' }).click();
    await page.waitForFunction((old) => document.getElementById('file-status').textContent.startsWith('Done')
      && document.getElementById('file-download').getAttribute('href') !== old, firstHref, { timeout: 60_000 });
    const gatedDownload = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download the enhanced WAV' }).click();
    const gated = join(ctx.dir, 'downloaded-gated.wav');
    await (await gatedDownload).saveAs(gated);
    assertSameWav(gated, denoiseWithCli(ctx.noisyPath, join(ctx.dir, 'reference-gated.wav'), ['--gating', 'lsnr']));
  } finally {
    await browser.close();
  }
});

test('live tab: a denied microphone says so', async () => {
  const browser = await launchChromium({ denyMicrophone: true });
  try {
    const page = await browser.newPage();
    await page.goto(ctx.server.url);
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
  const browser = await launchChromium({ microphoneWav: ctx.noisyPath });
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
  try { writeFileSync(join(artifactsDir(), 'noisy-input.wav'), readFileSync(ctx.noisyPath)); } catch { /* best effort */ }
});

test('video tab: upload, progress, before/after comparison slider, download', async () => {
  // A 96×64, 25 fps, 1 s VP9 test pattern (a codec every Chromium build plays).
  const clip = join(ctx.dir, 'clip.webm');
  execFileSync('ffmpeg', ['-y', '-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'testsrc2=s=96x64:r=25:d=1',
    '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-pix_fmt', 'yuv420p', clip]);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const pageErrors = collectPageErrors(page);
    await page.goto(ctx.server.url);
    await page.getByRole('tab', { name: 'Video' }).click();
    await page.getByLabel('Video file (MP4, WebM, MKV, …)').setInputFiles(clip);
    await page.getByLabel('Enlarge').selectOption('2');
    await page.getByRole('button', { name: 'Upscale' }).click();
    await page.waitForFunction(() => document.getElementById('video-status').textContent.startsWith('Done:'), null, { timeout: 60_000 })
      .catch(async (e) => { throw new Error(`${e.message}; status: ${await page.locator('#video-status').textContent()}`); });
    assert.equal(await page.locator('#video-progress').evaluate((p) => p.value), 1);

    // Both videos load; the upscaled one is twice the size and as long.
    // The upscaled WebM was muxed into a stream, so it has no duration field: Chromium reports
    // Infinity until its demuxer has found the last cluster (a moment later, on a busy machine).
    await page.waitForFunction(() => ['video-before', 'video-after'].every((id) => {
      const v = document.getElementById(id);
      return v.readyState >= 2 && Number.isFinite(v.duration);
    }),
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

    const v = await downloadVideo(page, 'Download the upscaled video (WebM)', join(ctx.dir, 'downloaded.webm'));
    assert.deepEqual([v.codec_name, v.width, v.height, v.nb_read_frames], ['vp9', 192, 128, '25']);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});

test('video tab: a file that is not a video gets a clear message', async () => {
  const notVideo = join(ctx.dir, 'notes.txt');
  writeFileSync(notVideo, 'not a video');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(ctx.server.url);
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
