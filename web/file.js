// The file tab: upload an audio file to POST /v1/audio/denoise with upload and download progress,
// then show before/after players and spectrogram pictures, and offer the result for download.

import { drawSpectrogram } from './spectrogram.js';

/** Uploads `file`; resolves with the enhanced WAV as a Blob. `progress(fraction, phase)`. */
export function enhanceFile(file, { attenLimDb, gating = 'off', token, progress }) {
  return new Promise((resolve, reject) => {
    const url = new URL('v1/audio/denoise', window.location.href);
    if (attenLimDb !== null) url.searchParams.set('atten_lim_db', String(attenLimDb));
    if (gating !== 'off') url.searchParams.set('gating', gating);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.responseType = 'blob';
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    // Uploading is the first half of the bar, receiving the enhanced audio the second.
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress(0.5 * (e.loaded / e.total), 'uploading'); };
    xhr.onprogress = (e) => {
      const total = e.lengthComputable ? e.total : file.size * 2;
      progress(0.5 + 0.5 * Math.min(1, e.loaded / Math.max(1, total)), 'enhancing');
    };
    xhr.onload = async () => {
      if (xhr.status === 200) { progress(1, 'done'); resolve(xhr.response); return; }
      reject(new Error(await errorText(xhr)));
    };
    xhr.onerror = () => reject(new Error('Cannot reach the server.'));
    xhr.send(file);
  });
}

async function errorText(xhr) {
  let detail = '';
  try {
    const body = JSON.parse(await xhr.response.text());
    detail = body.message || body.error || '';
  } catch { /* not JSON */ }
  const what = {
    400: 'The server could not read this file',
    401: 'The server needs a valid API key',
    413: 'The file is too large for the server',
    415: 'This file type is not supported',
    503: 'The server is busy; try again in a moment',
  }[xhr.status] || `The server answered ${xhr.status}`;
  return detail ? `${what}: ${detail}` : `${what}.`;
}

/** Decodes an audio Blob to mono Float32 samples (first channel) for the pictures. */
export async function decodeMono(blob) {
  const ctx = new OfflineAudioContext(1, 1, 48000);
  const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
  return audio.getChannelData(0);
}

/** Shows both files: players, spectrograms, download link. */
export async function showResults(file, enhanced, els) {
  for (const [audio, blob] of [[els.before, file], [els.after, enhanced]]) {
    if (audio.src) URL.revokeObjectURL(audio.src);
    audio.src = URL.createObjectURL(blob);
  }
  if (els.download.href.startsWith('blob:')) URL.revokeObjectURL(els.download.href);
  els.download.href = URL.createObjectURL(enhanced);
  els.download.download = `${file.name.replace(/\.[^.]+$/, '')}-enhanced.wav`;
  els.results.hidden = false;
  const [a, b] = await Promise.all([decodeMono(file), decodeMono(enhanced)]);
  drawSpectrogram(els.specBefore, a);
  drawSpectrogram(els.specAfter, b);
}
