// The web page in Debian's Firefox ESR (WebDriver BiDi through puppeteer-core) against a real
// `sluice serve`: the live tab with a PulseAudio null sink as the microphone, the denied
// microphone message, and the audio-file and video tabs. page.test.mjs covers the same page in
// Chromium; this file is what makes "works in Firefox" a tested claim.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import {
  launchFirefox, nullSink, artifactsDir, canvasInk, waitForDownload, speechServerSuite, assertLiveRoundTrip, assertSameWav,
  collectPageErrors, loadedVideoSizes, liveRecording, nullSinkAvailable, isBrowserHang, closeFirefox, browserProcesses,
} from './support.mjs';

const ctx = speechServerSuite('firefox-server.log');
const RATE = ctx.rate;

/** The element named `name` in role `role` (the accessibility tree, as a screen reader finds it). */
function byRole(page, role, name) {
  return page.locator(`::-p-aria([name="${name}"][role="${role}"])`);
}

/** Waits for `predicate` in the page; on timeout the error carries the text of `#statusId`. */
async function waitFor(page, predicate, timeout, statusId, ...args) {
  try {
    await page.waitForFunction(predicate, { timeout }, ...args);
  } catch (e) {
    const status = await page.$eval(`#${statusId}`, (el) => el.textContent).catch(() => '?');
    throw new Error(`${e.message}; status: ${status}`, { cause: e });
  }
}

test('firefox: live tab, a PulseAudio microphone comes back enhanced like `sluice denoise`', async (t) => {
  if (!nullSinkAvailable()) { t.skip('no PulseAudio server (set SLUICE_REQUIRE_PULSE to make this fail)'); return; }
  // Firefox ESR has, once in many CI runs, stopped answering a protocol call in this test (180 s
  // with no reply; not reproduced in 12 runs here, with and without busy CPUs). A browser that hangs
  // gets one more try with a fresh browser and sink; a failed check never does.
  try {
    await liveRoundTrip();
  } catch (e) {
    if (!isBrowserHang(e)) throw e;
    t.diagnostic(`firefox stopped answering (${e.message.split(' Increase')[0]}); one more try with a fresh browser`);
    for (const line of (e.processes || '').split('\n').filter(Boolean)) t.diagnostic(`  ${line}`);
    await liveRoundTrip();
  }
});

/** The live tab through a PulseAudio null sink: start, play the noisy speech, stop, compare. */
async function liveRoundTrip() {
  const sink = nullSink('firefox');
  const browser = await launchFirefox({ microphone: sink.monitorDescription });
  try {
    const page = await browser.newPage();
    const pageErrors = collectPageErrors(page);
    await page.goto(ctx.server.url);
    await byRole(page, 'button', 'Start microphone').click();
    await waitFor(page, () => document.getElementById('live-status').textContent.startsWith('Live'), 20_000, 'live-status');
    // Play the noisy speech into the sink whose monitor is Firefox's microphone, then let the
    // last of it come back.
    await new Promise((ok, fail) => {
      const p = spawn('paplay', [`--device=${sink.name}`, ctx.noisyPath], { stdio: 'ignore' });
      p.on('error', fail);
      p.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`paplay exited ${code}`))));
    });
    const target = await page.evaluate(() => window.sluice.live.sent);
    await waitFor(page, (n) => window.sluice.live.received >= n, 20_000, 'live-status', target + RATE);
    await page.screenshot({ path: join(artifactsDir(), 'firefox-live-tab.png'), fullPage: true });
    await byRole(page, 'button', 'Stop').click();
    await waitFor(page, () => document.getElementById('live-status').textContent === 'Stopped.', 10_000, 'live-status');

    const received = await liveRecording(page, 'recording');
    const sent = await liveRecording(page, 'sentRecording');
    // The microphone heard the WAV (through PulseAudio and Firefox's capture path), and the
    // server's answer is `sluice denoise` of what the page sent.
    assertLiveRoundTrip(ctx, 'firefox-live', sent, received);

    const columns = await page.evaluate(() => [window.sluice.specIn.columns, window.sluice.specOut.columns]);
    assert.ok(columns[0] > 100 && columns[1] > 100, `spectrogram columns ${columns}`);
    assert.ok((await canvasInk(page, 'spec-in')) > 5, 'input spectrogram drawn');
    assert.ok((await canvasInk(page, 'spec-out')) > 5, 'output spectrogram drawn');
    assert.match(await page.$eval('#snr-value', (e) => e.textContent), /dB$/, 'local SNR shown');
    assert.match(await page.$eval('#latency', (e) => e.textContent), /ms$/, 'latency shown');
    assert.deepEqual(pageErrors, []);
  } catch (e) {
    if (isBrowserHang(e)) e.processes = browserProcesses(browser);
    throw e;
  } finally {
    await closeFirefox(browser);
    sink.close();
  }
}

test('firefox: a call the page never answers counts as a hang, and the hung browser still closes', async () => {
  const browser = await launchFirefox({ protocolTimeout: 2_000 });
  try {
    const page = await browser.newPage();
    await page.goto(ctx.server.url);
    const hung = await page.evaluate(() => new Promise(() => {})).then(() => null, (e) => e);
    assert.ok(isBrowserHang(hung), `not taken for a hang: ${hung}`);
    assert.ok(isBrowserHang(new Error('wrapped', { cause: hung })), 'a wrapped hang is still one');
    assert.equal(isBrowserHang(new assert.AssertionError({ message: 'timed out' })), false, 'a failed check is not a hang');
  } finally {
    await closeFirefox(browser);
  }
  assert.notEqual(browser.process().exitCode ?? browser.process().signalCode, null, 'firefox exited');
});

test('firefox: live tab, a denied microphone says so', async () => {
  const browser = await launchFirefox({ denyMicrophone: true });
  try {
    const page = await browser.newPage();
    await page.goto(ctx.server.url);
    await byRole(page, 'button', 'Start microphone').click();
    await waitFor(page, () => document.getElementById('live-status').classList.contains('error'), 10_000, 'live-status');
    assert.match(await page.$eval('#live-status', (e) => e.textContent), /Microphone access was denied/);
    assert.equal(await page.$eval('#live-start', (b) => b.disabled), false);
  } finally {
    await closeFirefox(browser);
  }
});

test('firefox: file tab, upload, progress, before/after pictures, download', async () => {
  const downloads = mkdtempSync(join(ctx.dir, 'downloads-'));
  const browser = await launchFirefox({ downloadDir: downloads });
  try {
    const page = await browser.newPage();
    await page.goto(ctx.server.url);
    await byRole(page, 'tab', 'Audio file').click();
    const input = await page.waitForSelector('#file-input');
    await input.uploadFile(ctx.noisyPath);
    await byRole(page, 'button', 'Enhance').click();
    await waitFor(page, () => document.getElementById('file-status').textContent.startsWith('Done'), 60_000, 'file-status');
    assert.equal(await page.$eval('#file-progress', (p) => p.value), 1);
    assert.ok((await canvasInk(page, 'file-spec-before')) > 5, 'before spectrogram drawn');
    assert.ok((await canvasInk(page, 'file-spec-after')) > 5, 'after spectrogram drawn');
    await page.screenshot({ path: join(artifactsDir(), 'firefox-file-tab.png'), fullPage: true });

    await byRole(page, 'link', 'Download the enhanced WAV').click();
    const saved = await waitForDownload(downloads);
    assertSameWav(saved, ctx.reference);
  } finally {
    await closeFirefox(browser);
  }
});

test('firefox: video tab, upload, both videos play, comparison slider, download', async () => {
  const clip = join(ctx.dir, 'firefox-clip.webm');
  execFileSync('ffmpeg', ['-y', '-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'testsrc2=s=96x64:r=25:d=1',
    '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-pix_fmt', 'yuv420p', clip]);
  const downloads = mkdtempSync(join(ctx.dir, 'downloads-'));
  const browser = await launchFirefox({ downloadDir: downloads });
  try {
    const page = await browser.newPage();
    const pageErrors = collectPageErrors(page);
    await page.goto(ctx.server.url);
    await byRole(page, 'tab', 'Video').click();
    const input = await page.waitForSelector('#video-input');
    await input.uploadFile(clip);
    await page.select('#video-scale', '2');
    await byRole(page, 'button', 'Upscale').click();
    await waitFor(page, () => document.getElementById('video-status').textContent.startsWith('Done:'), 60_000, 'video-status');
    const dims = await loadedVideoSizes(page, ['video-before', 'video-after']);
    assert.deepEqual(dims, [[96, 64], [192, 128]]);
    await page.$eval('#video-split', (s) => { s.value = '20'; s.dispatchEvent(new Event('input', { bubbles: true })); });
    assert.equal(await page.$eval('#video-after', (v) => v.style.clipPath), 'inset(0px 0px 0px 20%)');
    await byRole(page, 'button', 'Play').click();
    await page.waitForFunction(() => document.getElementById('video-after').currentTime > 0.2, { timeout: 10_000 });
    await page.screenshot({ path: join(artifactsDir(), 'firefox-video-tab.png'), fullPage: true });

    await byRole(page, 'link', 'Download the upscaled video (WebM)').click();
    const saved = await waitForDownload(downloads);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', saved]));
    const v = probe.streams.find((s) => s.codec_type === 'video');
    assert.deepEqual([v.codec_name, v.width, v.height, v.nb_read_frames], ['vp9', 192, 128, '25']);
    assert.deepEqual(pageErrors, []);
  } finally {
    await closeFirefox(browser);
  }
});

test('firefox: echo tab, a simulated clip is filtered, both clips seek and play in step', async () => {
  const browser = await launchFirefox();
  try {
    const page = await browser.newPage();
    const pageErrors = collectPageErrors(page);
    await page.goto(ctx.server.url);
    await byRole(page, 'tab', 'Echo').click();
    await byRole(page, 'button', 'Try a simulated clip').click();
    await waitFor(page, () => document.getElementById('echo-status').textContent.startsWith('Done:'), 120_000, 'echo-status');
    const dims = await loadedVideoSizes(page, ['echo-before', 'echo-after']);
    assert.deepEqual(dims, [[128, 128], [128, 128]]);

    // The Position slider seeks both clips; the difference view draws that frame.
    await page.$eval('#echo-seek', (s) => { s.value = '500'; s.dispatchEvent(new Event('input', { bubbles: true })); });
    await page.waitForFunction(() => {
      const { sync, diff } = window.sluice.echo;
      return sync.settled() && diff.drawnAt !== null && Math.abs(diff.drawnAt - 0.5 * sync.duration()) < 0.002;
    }, { timeout: 10_000 });
    const times = await page.evaluate(() => ['echo-before', 'echo-after'].map((id) => document.getElementById(id).currentTime));
    assert.ok(Math.abs(times[0] - times[1]) < 0.01, `after a seek: ${times}`);
    assert.ok((await canvasInk(page, 'echo-diff')) > 3, 'the difference view is not blank');

    // One Play button plays both in step.
    await byRole(page, 'button', 'Play').click();
    await page.waitForFunction(() => document.getElementById('echo-before').currentTime > 1.0, { timeout: 10_000 });
    const playing = await page.evaluate(() => ['echo-before', 'echo-after'].map((id) => {
      const v = document.getElementById(id);
      return [v.currentTime, v.paused];
    }));
    assert.ok(Math.abs(playing[0][0] - playing[1][0]) < 0.15, `in step while playing: ${JSON.stringify(playing)}`);
    await page.screenshot({ path: join(artifactsDir(), 'firefox-echo-tab.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  } finally {
    await closeFirefox(browser);
  }
});
