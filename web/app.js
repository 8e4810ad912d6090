// Wires the page: accessible tabs, the live tab's controls around LiveSession, the file tab's
// form around enhanceFile, the video and echo tabs around their video jobs. `window.sluice`
// exposes the live session and the echo views for inspection and tests.

import { LiveSession, wavBlob } from './live.js';
import { ScrollingSpectrogram } from './spectrogram.js';
import { enhanceFile, showResults } from './file.js';
import { Comparison, SyncedVideos, upscaleVideo } from './video.js';
import { DifferenceView, declutterClip, sampleClip } from './echo.js';

const $ = (id) => document.getElementById(id);
/** `bytes` as kB or MB for status lines. */
const sizeText = (bytes) => (bytes < 1e6 ? `${Math.max(1, Math.round(bytes / 1e3))} kB` : `${(bytes / 1e6).toFixed(1)} MB`);
const state = { live: null, specIn: null, specOut: null, comparison: null, echo: null };
window.sluice = state;

function setStatus(el, text, kind) {
  el.textContent = text;
  el.className = `status${kind ? ` ${kind}` : ''}`;
}

// ---- tabs (WAI-ARIA tabs pattern: arrows move between tabs, Enter/Space or click selects)
const tabs = [...document.querySelectorAll('[role="tab"]')];
function selectTab(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  tab.focus();
}
tabs.forEach((tab, i) => {
  tab.addEventListener('click', () => selectTab(tab));
  tab.addEventListener('keydown', (e) => {
    const next = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (next) { e.preventDefault(); selectTab(tabs[(i + next + tabs.length) % tabs.length]); }
    if (e.key === 'Home') selectTab(tabs[0]);
    if (e.key === 'End') selectTab(tabs[tabs.length - 1]);
  });
});

// ---- API key, remembered in this browser
const keyInput = $('api-key');
keyInput.value = localStorage.getItem('sluice-api-key') || '';
keyInput.addEventListener('change', () => localStorage.setItem('sluice-api-key', keyInput.value));
const token = () => keyInput.value.trim() || null;

// ---- attenuation sliders: 100 means "no limit" (null)
function attenValue(input) { return Number(input.value) >= 100 ? null : Number(input.value); }
function bindAtten(input, output) {
  const show = () => { const v = attenValue(input); output.textContent = v === null ? 'none' : `${v} dB`; };
  input.addEventListener('input', show);
  show();
}
bindAtten($('atten'), $('atten-value'));
bindAtten($('file-atten'), $('file-atten-value'));

// ---- live tab
const liveStatus = $('live-status');
const listenMode = () => document.querySelector('input[name="listen"]:checked').value;

async function startLive() {
  $('live-start').disabled = true;
  $('live-save').disabled = true;
  state.specIn = state.specIn || new ScrollingSpectrogram($('spec-in'));
  state.specOut = state.specOut || new ScrollingSpectrogram($('spec-out'));
  const session = new LiveSession({
    status: (text, kind) => setStatus(liveStatus, text, kind),
    stats: ({ lsnrDb, latencyMs, underruns }) => {
      if (lsnrDb !== null && Number.isFinite(lsnrDb)) { $('snr').value = lsnrDb; $('snr-value').textContent = `${lsnrDb.toFixed(1)} dB`; }
      $('latency').textContent = latencyMs === null ? '–' : `≈ ${latencyMs} ms`;
      $('underruns').textContent = String(underruns);
    },
    inputSamples: (s) => state.specIn.push(s),
    outputSamples: (s) => state.specOut.push(s),
    ended: () => {
      $('live-start').disabled = false;
      $('live-stop').disabled = true;
      $('live-save').disabled = session.recordedLength === 0;
    },
  });
  state.live = session;
  try {
    await session.start({
      attenLimDb: attenValue($('atten')), gating: $('gating').checked ? 'lsnr' : 'off', token: token(), mode: listenMode(),
    });
    $('live-stop').disabled = false;
  } catch (err) {
    setStatus(liveStatus, err.message, 'error');
    $('live-start').disabled = false;
  }
}

async function stopLive() {
  $('live-stop').disabled = true;
  if (state.live) await state.live.stop();
}

$('live-start').addEventListener('click', startLive);
$('live-stop').addEventListener('click', stopLive);
for (const radio of document.querySelectorAll('input[name="listen"]')) {
  radio.addEventListener('change', () => state.live && state.live.setMode(listenMode()));
}
for (const id of ['atten', 'gating']) {
  $(id).addEventListener('change', async () => {
    if (!state.live || $('live-stop').disabled) return;
    await stopLive();
    await startLive();
  });
}
$('live-save').addEventListener('click', () => {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(wavBlob(state.live.recording(), 48000));
  a.download = 'sluice-live-enhanced.wav';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
});

// ---- file tab
const fileStatus = $('file-status');
$('file-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = $('file-input').files[0];
  if (!file) { setStatus(fileStatus, 'Choose a file first.', 'error'); return; }
  $('file-go').disabled = true;
  $('file-progress').value = 0;
  setStatus(fileStatus, `Uploading ${file.name}…`);
  try {
    const enhanced = await enhanceFile(file, {
      attenLimDb: attenValue($('file-atten')),
      gating: $('file-gating').checked ? 'lsnr' : 'off',
      token: token(),
      progress: (fraction, phase) => {
        $('file-progress').value = fraction;
        if (phase === 'enhancing') setStatus(fileStatus, 'Enhancing…');
      },
    });
    await showResults(file, enhanced, {
      before: $('file-before'), after: $('file-after'), download: $('file-download'),
      specBefore: $('file-spec-before'), specAfter: $('file-spec-after'), results: $('file-results'),
    });
    setStatus(fileStatus, `Done: ${file.name} enhanced (${sizeText(enhanced.size)} WAV).`, 'ok');
  } catch (err) {
    setStatus(fileStatus, err.message, 'error');
  } finally {
    $('file-go').disabled = false;
  }
});

// ---- video tab
const videoStatus = $('video-status');
state.comparison = new Comparison({
  before: $('video-before'), after: $('video-after'), slider: $('video-split'), play: $('video-play'), stage: $('video-results'),
});
$('video-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = $('video-input').files[0];
  if (!file) { setStatus(videoStatus, 'Choose a video first.', 'error'); return; }
  $('video-go').disabled = true;
  $('video-progress').value = 0;
  setStatus(videoStatus, `Uploading ${file.name}…`);
  try {
    const upscaled = await upscaleVideo(file, {
      scale: Number($('video-scale').value),
      token: token(),
      progress: (fraction, text) => { $('video-progress').value = fraction; setStatus(videoStatus, text); },
    });
    state.comparison.show(file, upscaled);
    const link = $('video-download');
    if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(upscaled);
    link.download = `${file.name.replace(/\.[^.]+$/, '')}-x${$('video-scale').value}.webm`;
    setStatus(videoStatus, `Done: ${file.name} upscaled (${sizeText(upscaled.size)} WebM).`, 'ok');
  } catch (err) {
    setStatus(videoStatus, err.message, 'error');
  } finally {
    $('video-go').disabled = false;
  }
});

// ---- echo tab
const echoStatus = $('echo-status');
const echoButtons = [$('echo-go'), $('echo-sample')];
state.echo = {
  sync: new SyncedVideos([$('echo-before'), $('echo-after')], { play: $('echo-play'), seek: $('echo-seek'), time: $('echo-time') }),
  diff: new DifferenceView($('echo-diff'), $('echo-legend'), $('echo-diff-stats')),
};
state.echo.sync.onFrame(() => state.echo.diff.draw($('echo-before'), $('echo-after')));

/** `clip` (a Blob called `name`) through the clutter filter, shown beside the filtered clip. */
async function declutterAndShow(clip, name, { from = 0, note = '' } = {}) {
  const span = 1 - from;
  const filtered = await declutterClip(clip, {
    token: token(),
    progress: (fraction, text) => { $('echo-progress').value = from + span * fraction; setStatus(echoStatus, text); },
  });
  state.echo.sync.load([clip, filtered]);
  $('echo-results').hidden = false;
  const link = $('echo-download');
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(filtered);
  link.download = `${name.replace(/\.[^.]+$/, '')}-declutter.webm`;
  setStatus(echoStatus, `Done: ${name}${note} filtered (${sizeText(filtered.size)} WebM).`, 'ok');
}

/** Runs `work` with the echo buttons disabled, showing its error if it fails. */
async function echoTask(work) {
  echoButtons.forEach((b) => { b.disabled = true; });
  $('echo-progress').value = 0;
  try {
    await work();
  } catch (err) {
    setStatus(echoStatus, err.message, 'error');
  } finally {
    echoButtons.forEach((b) => { b.disabled = false; });
  }
}

$('echo-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const file = $('echo-input').files[0];
  if (!file) { setStatus(echoStatus, 'Choose an echo clip first.', 'error'); return; }
  echoTask(async () => {
    setStatus(echoStatus, `Uploading ${file.name}…`);
    await declutterAndShow(file, file.name);
  });
});
$('echo-sample').addEventListener('click', () => echoTask(async () => {
  const seed = Math.floor(Math.random() * 10000);
  setStatus(echoStatus, 'Asking the server for a simulated clip…');
  // Simulating is the first third of the bar, filtering the rest.
  const clip = await sampleClip({
    seed,
    token: token(),
    progress: (fraction, text) => { $('echo-progress').value = fraction / 3; setStatus(echoStatus, text); },
  });
  await declutterAndShow(clip, `simulated-echo-${seed}.webm`, { from: 1 / 3, note: ` (seed ${seed})` });
}));
