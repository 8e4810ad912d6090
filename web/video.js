// The video tab: upload a video to POST /v1/video/upscale, show progress from the job route
// while the upscaled WebM streams back, then compare before and after with a slider.

/** Uploads `file`; resolves with the upscaled WebM Blob. `progress(fraction, text)`. */
export function upscaleVideo(file, { scale, token, progress }) {
  return new Promise((resolve, reject) => {
    const url = new URL('v1/video/upscale', window.location.href);
    url.searchParams.set('scale', String(scale));
    url.searchParams.set('format', 'webm');
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.responseType = 'blob';
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    let poll = null;
    const stopPolling = () => { if (poll) { clearInterval(poll); poll = null; } };
    // Uploading is the first fifth of the bar; frames done (from the job route) the rest.
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(0.2 * (e.loaded / e.total), 'Uploading…');
    };
    xhr.onreadystatechange = () => {
      if (xhr.readyState !== XMLHttpRequest.HEADERS_RECEIVED || xhr.status !== 200) return;
      const job = xhr.getResponseHeader('Sluice-Job');
      const size = xhr.getResponseHeader('Sluice-Output-Size');
      progress(0.2, `Upscaling to ${size || '…'}…`);
      if (!job) return;
      poll = setInterval(async () => {
        try {
          const r = await fetch(new URL(`v1/video/jobs/${job}`, window.location.href), {
            headers: token ? { Authorization: `Bearer ${token}` } : {},
          });
          if (!r.ok) return;
          const s = await r.json();
          const total = s.frames_total || 0;
          const done = total ? Math.min(1, s.frames_done / total) : 0;
          progress(0.2 + 0.8 * done, `Upscaling to ${size}: frame ${s.frames_done}${total ? ` of ${total}` : ''}, ${s.fps.toFixed(1)} fps`);
        } catch { /* the next poll tries again */ }
      }, 300);
    };
    xhr.onload = async () => {
      stopPolling();
      if (xhr.status === 200) { progress(1, 'Done.'); resolve(xhr.response); return; }
      reject(new Error(await errorText(xhr)));
    };
    xhr.onerror = () => { stopPolling(); reject(new Error('The connection to the server was lost.')); };
    xhr.send(file);
  });
}

async function errorText(xhr) {
  let detail = '';
  try {
    const body = JSON.parse(await xhr.response.text());
    detail = body.message || '';
  } catch { /* not JSON */ }
  const what = {
    400: 'The server could not process this video',
    401: 'The server needs a valid API key',
    413: 'The file is too large for the server',
    415: 'This is not a video the server can read',
    503: 'The server is busy; try again in a moment',
  }[xhr.status] || `The server answered ${xhr.status}`;
  return detail ? `${what}: ${detail}` : `${what}.`;
}

/**
 * Before/after comparison: the upscaled video lies over the original, clipped to the right of
 * the slider's position; one play button drives both and keeps them in step.
 */
export class Comparison {
  constructor({ before, after, slider, play, stage }) {
    Object.assign(this, { before, after, slider, play, stage });
    slider.addEventListener('input', () => this.clip());
    play.addEventListener('click', () => this.toggle());
    after.addEventListener('timeupdate', () => {
      if (Math.abs(before.currentTime - after.currentTime) > 0.1) before.currentTime = after.currentTime;
    });
    after.addEventListener('ended', () => { before.pause(); play.textContent = 'Play'; });
    this.clip();
  }

  /** Shows `original` and `upscaled` (Blobs). */
  show(original, upscaled) {
    for (const [video, blob] of [[this.before, original], [this.after, upscaled]]) {
      if (video.src) URL.revokeObjectURL(video.src);
      video.src = URL.createObjectURL(blob);
    }
    this.play.textContent = 'Play';
    this.stage.hidden = false;
  }

  clip() {
    const pct = Number(this.slider.value);
    this.after.style.clipPath = `inset(0 0 0 ${pct}%)`;
    this.stage.style.setProperty('--split', `${pct}%`);
  }

  async toggle() {
    if (this.after.paused) {
      this.before.currentTime = this.after.currentTime;
      await Promise.all([this.before.play(), this.after.play()]).catch(() => {});
      this.play.textContent = 'Pause';
    } else {
      this.before.pause();
      this.after.pause();
      this.play.textContent = 'Play';
    }
  }
}
