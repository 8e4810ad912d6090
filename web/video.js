// Video jobs and playback shared by the Video and Echo tabs: a request whose answer is a video
// streamed back by the server (POST /v1/video/upscale, POST /v1/echo/declutter, GET
// /v1/echo/sample) with progress from the job route, and videos played in step by one control.
// The Video tab's before/after comparison slider is here too.

/**
 * Sends one video request; resolves with the answered video as a Blob. `body` (a Blob) is
 * uploaded, if given: the first fifth of the bar, the frames done (from GET /v1/video/jobs/{id})
 * the rest. `working(size)` names the work for the status line; `progress(fraction, text)`.
 */
export function videoJob({ method = 'POST', path, params = {}, body = null, token, working, progress }) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, window.location.href);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.responseType = 'blob';
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    if (body) xhr.setRequestHeader('Content-Type', body.type || 'application/octet-stream');
    const uploadShare = body ? 0.2 : 0;
    let poll = null;
    // `ended` also stops a poll already in flight when the reply arrives: its late answer
    // would otherwise move the bar back from 100 %.
    let ended = false;
    const stopPolling = () => { ended = true; if (poll) { clearInterval(poll); poll = null; } };
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(uploadShare * (e.loaded / e.total), 'Uploading…');
    };
    xhr.onreadystatechange = () => {
      if (xhr.readyState !== XMLHttpRequest.HEADERS_RECEIVED || xhr.status !== 200) return;
      const job = xhr.getResponseHeader('Sluice-Job');
      const label = working(xhr.getResponseHeader('Sluice-Output-Size') || '…');
      progress(uploadShare, `${label}…`);
      if (!job) return;
      poll = setInterval(async () => {
        try {
          const r = await fetch(new URL(`v1/video/jobs/${job}`, window.location.href), {
            headers: token ? { Authorization: `Bearer ${token}` } : {},
          });
          if (!r.ok) return;
          const s = await r.json();
          if (ended) return;
          const total = s.frames_total || 0;
          const done = total ? Math.min(1, s.frames_done / total) : 0;
          progress(uploadShare + (1 - uploadShare) * done,
            `${label}: frame ${s.frames_done}${total ? ` of ${total}` : ''}, ${s.fps.toFixed(1)} fps`);
        } catch { /* the next poll tries again */ }
      }, 300);
    };
    xhr.onload = async () => {
      stopPolling();
      if (xhr.status === 200) { progress(1, 'Done.'); resolve(xhr.response); return; }
      reject(new Error(await errorText(xhr)));
    };
    xhr.onerror = () => { stopPolling(); reject(new Error('The connection to the server was lost.')); };
    xhr.send(body);
  });
}

/** Uploads `file`; resolves with the upscaled WebM Blob. `progress(fraction, text)`. */
export function upscaleVideo(file, { scale, token, progress }) {
  return videoJob({
    path: 'v1/video/upscale', params: { scale, format: 'webm' }, body: file, token, progress,
    working: (size) => `Upscaling to ${size}`,
  });
}

/** The server's JSON error as one sentence for the status line. */
export async function errorText(xhr) {
  let detail = '';
  try {
    const body = JSON.parse(await xhr.response.text());
    detail = body.message || '';
  } catch { /* not JSON */ }
  const what = {
    400: 'The server could not process this video',
    401: 'The server needs a valid API key (enter it under "API key")',
    408: 'The upload took too long',
    413: 'The file is too large for the server',
    415: 'This is not a video the server can read',
    503: 'The server is at capacity; try again in a moment',
  }[xhr.status] || `The server answered ${xhr.status}`;
  return detail ? `${what}: ${detail}` : `${what}.`;
}

/**
 * Videos played in step: the first leads, the others follow it within `tolerance` seconds. One
 * play button drives all; an optional range input (`seek`, 0…max) shows and sets the position,
 * and `time` shows it as text. `onFrame(fn)` calls `fn` whenever the pictures may have changed
 * (each animation frame while playing, after a seek once every video has its frame).
 */
export class SyncedVideos {
  constructor(videos, { play, seek = null, time = null, tolerance = 0.05 }) {
    Object.assign(this, { videos, play, seek, time, tolerance, leader: videos[0], listeners: [], dragging: false });
    play.addEventListener('click', () => this.toggle());
    this.leader.addEventListener('timeupdate', () => { this.follow(); this.showTime(); });
    this.leader.addEventListener('ended', () => this.pause());
    this.leader.addEventListener('loadedmetadata', () => this.showTime());
    for (const v of videos) {
      v.addEventListener('seeked', () => this.changed());
      v.addEventListener('loadeddata', () => this.changed());
    }
    if (seek) {
      seek.addEventListener('input', () => this.seekTo((Number(seek.value) / Number(seek.max)) * this.duration()));
    }
  }

  /** The leader's duration in seconds (0 until known). */
  duration() {
    const d = this.leader.duration;
    return Number.isFinite(d) ? d : 0;
  }

  /** Shows `blobs` (one per video), paused at the start. */
  load(blobs) {
    this.pause();
    this.videos.forEach((video, i) => {
      if (video.src) URL.revokeObjectURL(video.src);
      video.src = URL.createObjectURL(blobs[i]);
    });
    if (this.seek) this.seek.value = '0';
  }

  onFrame(fn) { this.listeners.push(fn); }

  /** Whether every video shows the leader's position. */
  settled() {
    return this.videos.every((v) => !v.seeking && v.readyState >= 2);
  }

  changed() {
    if (this.settled()) for (const fn of this.listeners) fn();
  }

  follow() {
    const t = this.leader.currentTime;
    for (const v of this.videos.slice(1)) {
      if (Math.abs(v.currentTime - t) > this.tolerance) v.currentTime = t;
    }
  }

  showTime() {
    const t = this.leader.currentTime, d = this.duration();
    if (this.seek && d > 0) this.seek.value = String(Math.round((t / d) * Number(this.seek.max)));
    if (this.time) this.time.textContent = `${t.toFixed(2)} s of ${d.toFixed(2)} s`;
  }

  seekTo(seconds) {
    for (const v of this.videos) v.currentTime = seconds;
    this.showTime();
  }

  async toggle() {
    if (this.leader.paused) await this.start();
    else this.pause();
  }

  async start() {
    if (this.leader.ended) this.seekTo(0);
    for (const v of this.videos.slice(1)) v.currentTime = this.leader.currentTime;
    this.play.textContent = 'Pause';
    await Promise.all(this.videos.map((v) => v.play())).catch(() => {});
    const tick = () => {
      if (this.leader.paused) return;
      this.follow();
      this.showTime();
      for (const fn of this.listeners) fn();
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause() {
    for (const v of this.videos) v.pause();
    this.follow();
    this.play.textContent = 'Play';
  }
}

/**
 * Before/after comparison: the upscaled video lies over the original, clipped to the right of
 * the slider's position; one play button drives both and keeps them in step.
 */
export class Comparison {
  constructor({ before, after, slider, play, stage }) {
    Object.assign(this, { before, after, slider, stage });
    this.sync = new SyncedVideos([after, before], { play, tolerance: 0.1 });
    slider.addEventListener('input', () => this.clip());
    this.clip();
  }

  /** Shows `original` and `upscaled` (Blobs). */
  show(original, upscaled) {
    this.sync.load([upscaled, original]);
    this.stage.hidden = false;
  }

  clip() {
    const pct = Number(this.slider.value);
    this.after.style.clipPath = `inset(0 0 0 ${pct}%)`;
    this.stage.style.setProperty('--split', `${pct}%`);
  }
}
