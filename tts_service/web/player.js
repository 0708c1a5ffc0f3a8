/* Kokoro speech player: streams /v1/audio/speech and plays it while it downloads.
 *
 * This module is the page: it wires the form, chooses a playback path per request and runs the
 * request. Each path is a module of its own, loaded by the browser as ES modules (no build step):
 *   player/mse.js       - MSE: MediaSource takes the format's media type (the server's default,
 *                         mp3, in Chromium): append each chunk as it arrives.
 *   player/web-audio.js - Web Audio: otherwise (Firefox, ...): request bare samples (pcm) and
 *                         schedule them gaplessly on one AudioContext clock.
 *   player/blob.js      - Blob: neither available: download everything, then play it.
 * player/paths.js chooses among them; player/state.js holds what they share; player/element.js
 * the audio element; player/server.js reads the formats (GET /v1/audio/formats: the page keeps
 * no list of its own) and the voices.
 *
 * Live mode (player/live.js, with live-socket.js and live-text.js) streams text as it is typed
 * or replayed over the WebSocket /v1/audio/speech/stream and plays the pcm that comes back
 * through the Web Audio path; Stop (and Esc) stop it as they stop a request.
 *
 * The live view (player/live-view.js, over player/timeline.js) draws each run's audio received
 * and played as it happens; player/shortcuts.js holds the keyboard shortcuts and their list.
 *
 * Observable state for people and tests: window.ttsPlayer (path, state, timestamps from
 * performance.now(), byte counts, request id) and the readout on the page.
 */

import { BlobPlayer } from "./player/blob.js";
import { LiveSession } from "./player/live.js";
import { initLiveView } from "./player/live-view.js";
import { MsePlayer } from "./player/mse.js";
import { capabilities, choosePath } from "./player/paths.js";
import { errorFromResponse, loadFormats, loadVoices } from "./player/server.js";
import { listShortcuts, shortcutFor } from "./player/shortcuts.js";
import {
  PATH_LABEL, RECORDING, audioBlob, beginRun, catalog, clearError, current, failRun, finishRun,
  formatBytes, isRawPcm, markPlaying, player, receiveAudio, render, responseDone, setState, showError,
  ui,
} from "./player/state.js";
import { WebAudioPlayer, sharedAudioContext, suspendWhenIdle } from "./player/web-audio.js";

const STORAGE_KEY = "tts-player-settings";

let downloadUrl = null;
let formatsLoaded = null; // loadFormats() at start-up
let live = null; // the live session (streamed text), made at start-up

Object.assign(player, {
  capabilities: capabilities,
  choosePath: choosePath,
  /** The Web Audio clock (seconds) of the current run, or null. */
  audioContextTime: () => (current && current.engine && current.engine.ctx ? current.engine.ctx.currentTime : null),
  audioContextState: () => (current && current.engine && current.engine.ctx ? current.engine.ctx.state : null),
  /** The MediaSource's readyState ("open", "ended") on the MSE path, or null. */
  mediaSourceState: () => (current && current.engine && current.engine.ms ? current.engine.ms.readyState : null),
  play: () => play(),
  stop: () => stop(),
});
window.ttsPlayer = player;
window.addEventListener("error", (event) => player.pageErrors.push(String(event.message)));
window.addEventListener("unhandledrejection", (event) => player.pageErrors.push(String(event.reason)));

function setDownload(blob) {
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = null;
  if (!blob || !blob.size) {
    ui.download.removeAttribute("href");
    ui.download.setAttribute("aria-disabled", "true");
    labelDownload("Download");
    return;
  }
  downloadUrl = URL.createObjectURL(blob);
  const run = current;
  const voice = (run.voice || "speech").replace(/[^a-z0-9_]+/gi, "-").replace(/^-|-$/g, "");
  const extension = isRawPcm(run.format) ? RECORDING.extension : catalog.formats.get(run.format).extension;
  ui.download.href = downloadUrl;
  ui.download.download = `speech-${voice || "blend"}.${extension}`;
  ui.download.setAttribute("aria-disabled", "false");
  labelDownload(`Download ${extension} (${formatBytes(blob.size)})`);
}

function labelDownload(text) {
  const icon = document.createElement("span");
  icon.setAttribute("aria-hidden", "true"); // a picture, not words
  icon.textContent = "⬇";
  ui.download.replaceChildren(icon, ` ${text}`);
}

// ---------------------------------------------------------------- the audio element

ui.audio.addEventListener("playing", () => {
  if (current && current.engine instanceof WebAudioPlayer) return;
  if (current && current.active) markPlaying(current);
});
ui.audio.addEventListener("waiting", () => {
  if (current && current.active && player.firstPlaybackAt != null) player.stalls += 1;
});
ui.audio.addEventListener("ended", () => {
  if (!current || !current.active || current.engine instanceof WebAudioPlayer) return;
  if (!player.audioSeconds) player.audioSeconds = ui.audio.currentTime; // e.g. streamed flac
  finishRun(current, "done");
});
ui.audio.addEventListener("loadedmetadata", () => {
  if (current && current.engine instanceof BlobPlayer && Number.isFinite(ui.audio.duration)) {
    player.audioSeconds = ui.audio.duration;
    render();
  }
});
ui.audio.addEventListener("error", () => {
  if (!current || !current.active || current.engine instanceof WebAudioPlayer) return;
  if (!ui.audio.getAttribute("src")) return; // emptied on purpose by Stop
  const detail = ui.audio.error ? ui.audio.error.message || `code ${ui.audio.error.code}` : "unknown";
  failRun(current, `The browser could not play the audio (${detail}).`);
});

// ---------------------------------------------------------------- play / stop

function stop() {
  const run = current;
  if (!run || !run.active) return;
  run.controller.abort(); // the server sees the disconnect (live: turn.clear) and stops
  if (run.engine) run.engine.stop();
  player.streaming = false;
  if (run.received.length) setDownload(audioBlob(run)); // what arrived so far
  finishRun(run, "stopped");
}

async function play() {
  stop();
  clearError();
  const text = ui.text.value;
  if (!text.trim()) {
    showError("Type some text to speak.");
    ui.text.focus();
    return;
  }
  if (!catalog.defaultFormat) await formatsLoaded; // pressed before the formats arrived
  if (!catalog.defaultFormat) {
    showError("The server's formats could not be loaded: reload the page.");
    return;
  }
  const voice = ui.blend.value.trim() || ui.voice.value;
  const speed = Number(ui.speed.value);
  const { path, format } = choosePath(ui.format.value);
  saveSettings();

  const run = beginRun(path, format, voice);
  ui.audio.hidden = false;
  setDownload(null);

  // Set up playback now, inside the click, so autoplay rules let it start later.
  try {
    run.engine = path === "mse" ? new MsePlayer(run) : path === "webaudio" ? new WebAudioPlayer(run) : new BlobPlayer(run);
  } catch (error) {
    failRun(run, `Could not start ${PATH_LABEL[path]} playback: ${error.message}`);
    return;
  }

  try {
    const headers = { "Content-Type": "application/json" };
    const apiKey = ui.apiKey.value.trim();
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    const res = await fetch("/v1/audio/speech", {
      method: "POST",
      headers,
      body: JSON.stringify({ model: "kokoro", input: text, voice, response_format: format, speed, stream: true }),
      signal: run.controller.signal,
    });
    player.requestId = res.headers.get("X-Request-Id");
    if (!res.ok) throw await errorFromResponse(res);
    const onChunk = async (bytes) => {
      const backlog = receiveAudio(run, bytes);
      if (backlog) await backlog;
    };
    if (res.body && res.body.getReader) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || run !== current || !run.active) break;
        if (value && value.byteLength) await onChunk(value);
      }
    } else {
      await onChunk(new Uint8Array(await res.arrayBuffer())); // no streaming fetch
    }
    if (run !== current || !run.active) return;
    responseDone();
    if (!player.bytes) throw new Error("The server sent no audio.");
    setDownload(audioBlob(run));
    run.engine.finish();
    render();
  } catch (error) {
    if (run !== current || !run.active || error.name === "AbortError") return;
    const message = error instanceof TypeError ? `Network error: ${error.message}` : error.message;
    failRun(run, message, error.detail);
  }
}

// ---------------------------------------------------------------- voices and settings

function saveSettings() {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({
      voice: ui.voice.value, blend: ui.blend.value, format: ui.format.value, speed: ui.speed.value,
    }));
  } catch (_) {
    /* storage disabled */
  }
}

function loadSettings() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}") || {};
  } catch (_) {
    return {};
  }
}

function describePath() {
  if (!catalog.defaultFormat) return; // the formats are not loaded (yet)
  const { path, format } = choosePath(ui.format.value);
  ui.formatHint.textContent = {
    mse: `Streams ${format} into the audio element (MSE).`,
    webaudio: `Streams raw ${format} through Web Audio.`,
    blob: `Plays ${format} once it has fully downloaded (Blob).`,
  }[path];
  if (!current || !current.active) {
    ui.path.textContent = PATH_LABEL[path];
    ui.path.dataset.path = path;
  }
}

/** Open the audio output when the user interacts (typing the text, say), so that Play does
 * not wait for the device. Web Audio path only. */
function warmUpAudio() {
  if ((current && current.active) || !catalog.defaultFormat) return;
  if (choosePath(ui.format.value).path !== "webaudio") return;
  const ctx = sharedAudioContext();
  if (ctx.state !== "running") {
    const resumed = ctx.resume();
    if (resumed && resumed.catch) resumed.catch(() => {});
  }
  suspendWhenIdle(ctx);
}

/** The replay's tokens per second, kept within the field's bounds. */
function replayRate() {
  const [low, high] = [Number(ui.liveRate.min), Number(ui.liveRate.max)];
  const rate = Number(ui.liveRate.value);
  const bounded = Number.isFinite(rate) && ui.liveRate.value !== "" ? Math.min(high, Math.max(low, rate)) : Number(ui.liveRate.defaultValue);
  ui.liveRate.value = String(bounded);
  return bounded;
}

function initLive() {
  live = new LiveSession({ stop, download: setDownload });
  ui.liveInput.addEventListener("input", () => {
    clearError();
    live.type(ui.liveInput.value);
  });
  ui.liveInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault(); // Enter ends the turn; Shift+Enter is a new line
    live.endTurn();
  });
  ui.liveEnd.addEventListener("click", () => {
    live.endTurn();
    ui.liveInput.focus();
  });
  ui.liveStop.addEventListener("click", () => stop());
  ui.liveReplay.addEventListener("click", () => {
    clearError();
    live.replayReply(ui.liveReply.value, replayRate());
  });
  ui.liveRate.addEventListener("change", replayRate);
  ui.liveRate.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault(); // not the form's Play
  });
}

function init() {
  const saved = loadSettings();
  if (saved.blend) ui.blend.value = saved.blend;
  if (saved.speed) ui.speed.value = saved.speed;

  const updateSpeed = () => { ui.speedValue.textContent = `${Number(ui.speed.value).toFixed(2)}×`; };
  const updateCount = () => { ui.charCount.textContent = String(ui.text.value.length); };
  ui.speed.addEventListener("input", updateSpeed);
  ui.text.addEventListener("input", updateCount);
  ui.format.addEventListener("change", () => { describePath(); saveSettings(); });
  ui.voice.addEventListener("change", saveSettings);
  ui.addToBlend.addEventListener("click", () => {
    const blend = ui.blend.value.trim();
    ui.blend.value = blend ? `${blend}+${ui.voice.value}` : ui.voice.value;
    ui.blend.focus();
  });
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    play();
  });
  ui.stop.addEventListener("click", () => {
    stop();
    ui.play.focus();
  });
  ui.download.addEventListener("click", (event) => {
    if (ui.download.getAttribute("aria-disabled") === "true") event.preventDefault();
  });
  initLive();
  listShortcuts(document.getElementById("shortcuts"));
  const shortcuts = {
    play: () => play(),
    stop: () => {
      if (!current || !current.active) return false; // Esc keeps its usual meaning
      stop();
    },
    focusText: () => ui.text.focus(),
    showShortcuts: () => document.getElementById("shortcuts-title").focus(),
  };
  document.addEventListener("keydown", (event) => {
    const action = shortcutFor(event);
    if (action && shortcuts[action]() !== false) event.preventDefault();
  });
  initLiveView();
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, warmUpAudio, { capture: true, passive: true });
  }
  updateSpeed();
  updateCount();
  setState("idle");
  render();
  // The formats first: once the voices are listed, the page is ready to play.
  formatsLoaded = loadFormats(saved.format);
  formatsLoaded.then(() => {
    describePath();
    loadVoices(saved.voice);
  });
}

init();
