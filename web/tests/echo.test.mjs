// The web page's Echo tab in a real browser (Debian chromium + playwright-core) against a real
// `sluice serve`: a simulated clip from GET /v1/echo/sample through the clutter filter, the two
// clips played in step, the difference view, the download; and the messages for a non-video, a
// missing API key, a clip too large and a server at capacity.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import {
  startServer, tempDir, removeTempDir, launchChromium, artifactsDir, canvasInk, downloadVideo, collectPageErrors,
} from './support.mjs';

let dir, server;

before(async () => {
  dir = tempDir();
  server = await startServer();
});

after(async () => {
  if (server) {
    await server.stop();
    writeFileSync(join(artifactsDir(), 'echo-server.log'), server.log());
  }
  removeTempDir(dir);
});

/** Seeks with the page's Position slider to `fraction` of the clip; resolves once the difference view shows that frame. */
async function seek(page, fraction) {
  await page.getByLabel('Position').fill(String(Math.round(fraction * 1000)));
  await page.waitForFunction((f) => {
    const { sync, diff } = window.sluice.echo;
    return sync.settled() && diff.drawnAt !== null && Math.abs(diff.drawnAt - f * sync.duration()) < 0.002;
  }, fraction, { timeout: 10_000 });
  return page.evaluate(() => {
    const [a, b] = ['echo-before', 'echo-after'].map((id) => document.getElementById(id));
    const c = document.getElementById('echo-diff');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return { times: [a.currentTime, b.currentTime], duration: window.sluice.echo.sync.duration(), pixels: Array.from(d) };
  });
}

test('echo tab: a simulated clip is filtered and shown in step with the clutter it lost', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const pageErrors = collectPageErrors(page);
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Echo' }).click();
    await page.getByRole('button', { name: 'Try a simulated clip' }).click();
    await page.waitForFunction(() => document.getElementById('echo-status').textContent.startsWith('Done:'), null, { timeout: 120_000 })
      .catch(async (e) => { throw new Error(`${e.message}; status: ${await page.locator('#echo-status').textContent()}`); });
    assert.equal(await page.locator('#echo-progress').evaluate((p) => p.value), 1);

    // Both clips load: 128×128, 48 frames at 30 fps. A WebM without a duration field can reach
    // HAVE_CURRENT_DATA while its duration is still Infinity (Chromium finds it by parsing to the
    // end; the page shows 0 until then), so wait for both.
    await page.waitForFunction(() => ['echo-before', 'echo-after'].every((id) => {
      const v = document.getElementById(id);
      return v.readyState >= 2 && Number.isFinite(v.duration);
    }), null, { timeout: 20_000 });
    const dims = await page.evaluate(() => ['echo-before', 'echo-after'].map((id) => {
      const v = document.getElementById(id);
      return [v.videoWidth, v.videoHeight, v.duration];
    }));
    assert.deepEqual(dims.map((d) => d.slice(0, 2)), [[128, 128], [128, 128]]);
    // 1.6 s; a WebM streamed through a pipe has no duration field, so the browser may end it at
    // its last frame's start (1.567 s).
    for (const [, , duration] of dims) assert.ok(duration > 1.5 && duration < 1.65, `duration ${duration}`);

    // One slider seeks both; the difference view follows the frame.
    const early = await seek(page, 0.25);
    const late = await seek(page, 0.75);
    for (const [at, s] of [[0.25, early], [0.75, late]]) {
      assert.ok(Math.abs(s.times[0] - at * s.duration) < 0.01 && Math.abs(s.times[1] - s.times[0]) < 0.01,
        `after a seek to ${at}: input at ${s.times[0]} s, filtered at ${s.times[1]} s`);
    }
    assert.ok((await canvasInk(page, 'echo-diff')) > 3, 'the difference view is not blank');
    const changed = early.pixels.reduce((n, v, i) => n + (v !== late.pixels[i] ? 1 : 0), 0);
    assert.ok(changed > early.pixels.length / 20, `the difference view changed in ${changed} of ${early.pixels.length} values`);
    assert.match(await page.locator('#echo-diff-stats').textContent(), /mean \d+\.\d, largest \d+ grey levels/);

    // One Play button plays both in step.
    await seek(page, 0);
    const drawsBefore = await page.evaluate(() => window.sluice.echo.diff.draws);
    await page.getByRole('button', { name: 'Play' }).click();
    await page.waitForFunction(() => document.getElementById('echo-before').currentTime > 0.6, null, { timeout: 10_000 });
    const playing = await page.evaluate(() => ['echo-before', 'echo-after'].map((id) => {
      const v = document.getElementById(id);
      return [v.currentTime, v.paused];
    }));
    assert.ok(!playing[0][1] && !playing[1][1], `both play: ${JSON.stringify(playing)}`);
    assert.ok(Math.abs(playing[0][0] - playing[1][0]) < 0.15, `in step while playing: ${JSON.stringify(playing)}`);
    assert.ok((await page.evaluate(() => window.sluice.echo.diff.draws)) > drawsBefore + 3, 'the difference view follows playback');
    await page.screenshot({ path: join(artifactsDir(), 'echo-tab.png'), fullPage: true });
    await page.getByRole('button', { name: 'Pause' }).click();
    assert.deepEqual(await page.evaluate(() => ['echo-before', 'echo-after'].map((id) => document.getElementById(id).paused)), [true, true]);

    // The filtered clip downloads as the grey WebM the server made.
    const v = await downloadVideo(page, 'Download the filtered clip (WebM)', join(dir, 'filtered.webm'));
    assert.deepEqual([v.codec_name, v.width, v.height, v.nb_read_frames], ['vp9', 128, 128, '48']);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});

test('echo tab: a file that is not a video gets a clear message', async () => {
  const notVideo = join(dir, 'notes.txt');
  writeFileSync(notVideo, 'not a video');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Echo' }).click();
    await page.getByLabel('Echo clip (any video: MP4, WebM, AVI, …)').setInputFiles(notVideo);
    await page.getByRole('button', { name: 'Remove clutter' }).click();
    await page.waitForFunction(() => document.getElementById('echo-status').classList.contains('error'), null, { timeout: 20_000 });
    assert.match(await page.locator('#echo-status').textContent(), /not a video the server can read/);
    assert.equal(await page.getByRole('button', { name: 'Remove clutter' }).isEnabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Try a simulated clip' }).isEnabled(), true);
    assert.equal(await page.locator('#echo-results').isHidden(), true);
  } finally {
    await browser.close();
  }
});

/**
 * Holds the one file-job slot of the server at `url`: an upload to the declutter route whose body
 * never finishes (the slot is taken before the body is read). Resolves with the socket once a
 * small sample request is refused for capacity (tried again if the probe won the slot).
 */
async function holdSlot(url, key) {
  const { hostname, port } = new URL(url);
  for (let attempt = 0; attempt < 20; attempt++) {
    const socket = connect(Number(port), hostname);
    await new Promise((ok, fail) => { socket.once('connect', ok); socket.once('error', fail); });
    let answered = false;
    socket.on('data', () => { answered = true; });
    socket.write(`POST /v1/echo/declutter HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${key}\r\n`
      + 'Content-Length: 1000\r\n\r\nnot all of it');
    const probe = await fetch(`${url}v1/echo/sample?frames=2&size=32`, { headers: { Authorization: `Bearer ${key}` } });
    await probe.arrayBuffer();
    if (probe.status === 503 && !answered) return socket;
    socket.destroy();
  }
  throw new Error('could not hold the file-job slot');
}

test('echo tab: a missing key, a clip too large and a server at capacity each say so', async () => {
  const key = 'echo-test-key';
  const strict = await startServer(['--api-key', key, '--file-jobs', '1', '--max-upload', '16KiB']);
  const browser = await launchChromium();
  let held = null;
  try {
    const page = await browser.newPage();
    await page.goto(strict.url);
    await page.getByRole('tab', { name: 'Echo' }).click();
    const tryIt = async () => {
      await page.getByRole('button', { name: 'Try a simulated clip' }).click();
      await page.waitForFunction(() => document.getElementById('echo-status').classList.contains('error'), null, { timeout: 60_000 });
      assert.equal(await page.getByRole('button', { name: 'Try a simulated clip' }).isEnabled(), true);
      return page.locator('#echo-status').textContent();
    };
    assert.match(await tryIt(), /needs a valid API key/);

    await page.getByText('API key', { exact: true }).click();
    await page.getByLabel('Key (only if the server asks for one)').fill(key);
    // The simulated clip comes, but is larger than this server takes as an upload.
    assert.match(await tryIt(), /too large for the server/);

    held = await holdSlot(strict.url, key);
    assert.match(await tryIt(), /at capacity/);
    await page.screenshot({ path: join(artifactsDir(), 'echo-at-capacity.png'), fullPage: true });
  } finally {
    if (held) held.destroy();
    await browser.close();
    await strict.stop();
  }
});
