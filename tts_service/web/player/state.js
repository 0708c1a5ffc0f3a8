/* The page's shared state: its elements (`ui`), the record people and tests read
 * (`player`, also window.ttsPlayer), the run in progress (`current`) and the readout. Every
 * playback path reports through the functions here. */

/** The server's formats (GET /v1/audio/formats, read once at start-up; the player keeps no list
 * of its own): id → { id, media_type, extension, streams, description }. */
export const catalog = { defaultFormat: null, sampleRate: null, formats: new Map() };

/** Bare 16-bit little-endian mono samples: the one media type the player decodes itself (through
 * Web Audio, and into a WAV file to replay and download). */
export const RAW_PCM = "audio/pcm";

/** Bare samples are kept as a WAV file, the player writing its header, to replay and download. */
export const RECORDING = { mediaType: "audio/wav", extension: "wav" };

export function isRawPcm(format) {
  const info = catalog.formats.get(format);
  return Boolean(info && info.media_type === RAW_PCM);
}

export const PATH_LABEL = { mse: "MSE", webaudio: "Web Audio", blob: "Blob" };

import {
  recordArrival, recordFirstAudio, recordResponseDone, sampleTimeline, startTimeline,
} from "./timeline.js";

const $ = (id) => document.getElementById(id);
export const ui = {
  form: $("tts-form"),
  text: $("text"),
  charCount: $("char-count"),
  voice: $("voice"),
  voiceHint: $("voice-hint"),
  blend: $("blend"),
  addToBlend: $("add-to-blend"),
  format: $("format"),
  formatHint: $("format-hint"),
  speed: $("speed"),
  speedValue: $("speed-value"),
  apiKey: $("api-key"),
  play: $("play"),
  stop: $("stop"),
  download: $("download"),
  error: $("error"),
  path: $("path"),
  state: $("state"),
  ttfa: $("ttfa"),
  total: $("total"),
  received: $("received"),
  audioLength: $("audio-length"),
  requestId: $("request-id"),
  audio: $("audio"),
  liveInput: $("live-input"),
  liveHint: $("live-hint"),
  liveReply: $("live-reply"),
  liveRate: $("live-rate"),
  liveReplay: $("live-replay"),
  liveEnd: $("live-end"),
  liveStop: $("live-stop"),
  transcript: $("live-transcript"),
};

/** Everything a test or a curious person may want to read. Times are performance.now() ms. */
export const player = {
  path: null, // "mse" | "webaudio" | "blob"
  state: "idle", // idle | requesting | buffering | playing | done | stopped | error
  format: null,
  voice: null,
  requestId: null,
  streaming: false, // the response is still downloading
  clickedAt: null,
  firstByteAt: null,
  firstPlaybackAt: null,
  responseDoneAt: null,
  endedAt: null,
  ttfaMs: null,
  totalMs: null,
  bytes: 0,
  chunks: 0,
  audioSeconds: 0,
  scheduledSources: 0,
  underruns: 0, // Web Audio: times the audio ran out before the next chunk arrived ...
  gapSeconds: 0, // ... and the silence that caused
  stalls: 0, // MSE and Blob: `waiting` events after playback started
  appends: 0,
  quotaEvictions: 0,
  error: null,
  pageErrors: [],
  runs: 0,
  live: null, // live mode (player/live.js): its turns, what was sent and spoken, the replay
  timeline: null, // the run's audio received and played over time (player/timeline.js)
};

const renderHooks = []; // called after each render(): the live view draws

/** Call `hook()` after each render() (every 100 ms while a run lasts, and at each change). */
export function onRender(hook) {
  renderHooks.push(hook);
}

export let current = null; // the run in progress (one request and its playback)

export function setCurrent(run) {
  current = run;
}

/** A new run: it becomes `current` and the record starts afresh. The caller stops the run
 * before, and sets `run.engine` (its playback path) once this returns. */
export function beginRun(path, format, voice) {
  const run = {
    active: true,
    controller: new AbortController(),
    format,
    voice,
    received: [],
    engine: null,
    timer: null,
  };
  setCurrent(run);
  Object.assign(player, {
    path, format, voice, requestId: null, streaming: true,
    clickedAt: performance.now(), firstByteAt: null, firstPlaybackAt: null, responseDoneAt: null,
    endedAt: null, ttfaMs: null, totalMs: null, bytes: 0, chunks: 0, audioSeconds: 0,
    scheduledSources: 0, underruns: 0, gapSeconds: 0, stalls: 0, appends: 0, quotaEvictions: 0,
    error: null,
  });
  player.runs += 1;
  startTimeline(player);
  setState("requesting");
  run.timer = setInterval(render, 100);
  render();
  return run;
}

/** Audio bytes of `run` arrived: counted, kept for the recording, handed to its path. */
export function receiveAudio(run, bytes) {
  if (player.firstByteAt == null) player.firstByteAt = performance.now();
  run.received.push(bytes);
  player.bytes += bytes.byteLength;
  player.chunks += 1;
  recordArrival(player);
  return run.engine.push(bytes);
}

// ---------------------------------------------------------------- helpers

export function concatBytes(parts) {
  if (parts.length === 1) return parts[0];
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** A WAV file around raw 16-bit mono pcm (an odd trailing byte is dropped). */
export function wavBlob(parts) {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  length -= length % 2;
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) header.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF");
  header.setUint32(4, 36 + length, true);
  text(8, "WAVE");
  text(12, "fmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, catalog.sampleRate, true);
  header.setUint32(28, catalog.sampleRate * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, "data");
  header.setUint32(40, length, true);
  const data = concatBytes(parts).subarray(0, length);
  return new Blob([header, data], { type: RECORDING.mediaType });
}

export function audioBlob(run) {
  if (isRawPcm(run.format)) return wavBlob(run.received);
  return new Blob(run.received, { type: catalog.formats.get(run.format).media_type });
}

export function seconds(ms) {
  return ms == null ? "–" : `${(ms / 1000).toFixed(2)} s`;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

// ---------------------------------------------------------------- page state

export function setState(state) {
  player.state = state;
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  document.body.dataset.state = state;
  const busy = state === "requesting" || state === "buffering" || state === "playing";
  ui.stop.disabled = !busy;
  ui.liveStop.disabled = !busy;
}

export function showError(message, detail) {
  player.error = message;
  ui.error.textContent = "";
  const strong = document.createElement("strong");
  strong.textContent = "Error: ";
  ui.error.append(strong, message);
  if (detail) {
    const small = document.createElement("small");
    small.textContent = detail;
    ui.error.append(small);
  }
  ui.error.hidden = false;
}

export function clearError() {
  player.error = null;
  ui.error.hidden = true;
  ui.error.textContent = "";
}

export function render() {
  const now = performance.now();
  const running = current && current.active;
  const pending = () => (running ? `${seconds(now - player.clickedAt)}…` : "–");
  ui.ttfa.textContent = player.ttfaMs != null ? seconds(player.ttfaMs) : pending();
  ui.total.textContent = player.totalMs != null ? seconds(player.totalMs) : player.streaming ? pending() : "–";
  ui.received.textContent = player.bytes ? `${formatBytes(player.bytes)} in ${player.chunks} chunks` : "–";
  ui.audioLength.textContent = player.audioSeconds ? `${player.audioSeconds.toFixed(2)} s` : "–";
  ui.requestId.textContent = player.requestId || "–";
  ui.path.textContent = player.path ? PATH_LABEL[player.path] : "–";
  ui.path.dataset.path = player.path || "";
  if (running) sample(current);
  for (const hook of renderHooks) hook();
}

/** The run's playback into its timeline: each path tells its seconds per byte and what was heard. */
function sample(run) {
  if (!run.engine) return;
  sampleTimeline(player, run.engine.secondsPerByte(), run.engine.playedSeconds());
}

/** The whole response arrived: the last byte's time, the total, the timeline's mark. */
export function responseDone() {
  player.responseDoneAt = performance.now();
  player.totalMs = player.responseDoneAt - player.clickedAt;
  player.streaming = false;
  recordResponseDone(player);
}

export function markPlaying(run) {
  if (run !== current || player.firstPlaybackAt != null) return;
  player.firstPlaybackAt = performance.now();
  player.ttfaMs = player.firstPlaybackAt - player.clickedAt;
  recordFirstAudio(player);
  setState("playing");
  render();
}

export function finishRun(run, state) {
  if (run !== current || !run.active) return;
  sample(run); // the last of what was heard
  run.active = false;
  player.endedAt = performance.now();
  clearInterval(run.timer);
  setState(state);
  render();
}

export function failRun(run, message, detail) {
  if (run !== current || !run.active) return;
  run.controller.abort();
  if (run.engine) run.engine.stop();
  showError(message, detail);
  player.streaming = false;
  finishRun(run, "error");
}
