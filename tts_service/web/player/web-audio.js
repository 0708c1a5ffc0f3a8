/* Path 2, Web Audio: raw pcm (16-bit little-endian, mono) is converted chunk by chunk to
 * Float32 and scheduled as AudioBufferSourceNodes back to back on one AudioContext clock, so
 * speech starts after the first sentence. */

import { resetElement, setElementSource } from "./element.js";
import {
  audioBlob, catalog, clearError, current, finishRun, markPlaying, player, showError, ui,
} from "./state.js";

const WEB_AUDIO_LEAD = 0.025; // seconds between scheduling a chunk and the earliest it may start

// One AudioContext for the page: opening the audio device for a request costs time (up to
// seconds in Firefox on a busy CPU). It is suspended after a minute without speech and resumed
// at the next key press or click, so usually before Play is pressed.
let audioContext = null;
let suspendTimer = null;
const SUSPEND_AFTER_MS = 60000;

export function sharedAudioContext() {
  if (audioContext && audioContext.state !== "closed") return audioContext;
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  try {
    audioContext = new AudioContextClass({ sampleRate: catalog.sampleRate, latencyHint: "interactive" });
  } catch (_) {
    audioContext = new AudioContextClass(); // 24 kHz buffers are resampled to the device rate
  }
  return audioContext;
}

export function suspendWhenIdle(ctx) {
  clearTimeout(suspendTimer);
  suspendTimer = setTimeout(() => {
    if (!(current && current.active) && ctx.state === "running") ctx.suspend().catch(() => {});
  }, SUSPEND_AFTER_MS);
}

/** Bytes of 16-bit little-endian mono pcm, as they arrive, to AudioBuffers: a lone byte at the
 * end of one piece (odd byte count) is kept for the next. */
export class PcmDecoder {
  constructor(ctx) {
    this.ctx = ctx;
    this.carry = null;
  }

  /** The AudioBuffer of `chunk`'s whole samples, or null when it holds none. */
  push(chunk) {
    let bytes = chunk;
    if (this.carry !== null) {
      bytes = new Uint8Array(chunk.byteLength + 1);
      bytes[0] = this.carry;
      bytes.set(chunk, 1);
      this.carry = null;
    }
    if (bytes.byteLength % 2) {
      this.carry = bytes[bytes.byteLength - 1];
      bytes = bytes.subarray(0, bytes.byteLength - 1);
    }
    const frames = bytes.byteLength / 2;
    if (!frames) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const buffer = this.ctx.createBuffer(1, frames, catalog.sampleRate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < frames; i++) channel[i] = view.getInt16(2 * i, true) / 32768;
    return buffer;
  }
}

/** Stop every source of `sources` now (started or not) and forget them. */
export function silenceSources(sources) {
  for (const source of sources) {
    source.onended = null;
    try {
      source.stop();
    } catch (_) {
      /* never started */
    }
  }
  sources.clear();
}

export class WebAudioPlayer {
  constructor(run) {
    this.run = run;
    this.ctx = sharedAudioContext();
    clearTimeout(suspendTimer);
    const resumed = this.ctx.resume(); // inside the click: allowed to start
    if (resumed && resumed.catch) resumed.catch(() => {});
    this.gain = this.ctx.createGain(); // this run's output: disconnected on Stop
    this.gain.connect(this.ctx.destination);
    this.decoder = new PcmDecoder(this.ctx);
    this.base = 0; // AudioContext time of frame 0 of the current uninterrupted run of audio
    this.frames = 0; // frames scheduled since `base`
    this.totalFrames = 0;
    this.sources = new Set();
    this.spans = []; // [start, seconds] of every source on the AudioContext clock
    this.ended = false;
    this.stoppedAt = null; // the AudioContext time Stop silenced the sources
    this.firstStart = null;
    resetElement();
    ui.audio.hidden = true;
  }

  push(chunk) {
    const buffer = this.decoder.push(chunk);
    if (buffer) this.schedule(buffer);
    return null;
  }

  schedule(buffer) {
    const ctx = this.ctx;
    const now = ctx.currentTime;
    let startAt = this.base + this.frames / catalog.sampleRate;
    if (startAt < now + 0.01) {
      // First chunk, or the network fell behind playback: start a new run just ahead of now.
      if (this.firstStart !== null) {
        player.underruns += 1;
        player.gapSeconds += now + WEB_AUDIO_LEAD - startAt; // silence heard while waiting
      }
      this.base = now + WEB_AUDIO_LEAD;
      this.frames = 0;
      startAt = this.base;
    }
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.gain);
    source.onended = () => {
      this.sources.delete(source);
      if (this.ended && !this.sources.size) this.done();
    };
    source.start(startAt);
    this.sources.add(source);
    this.spans.push([startAt, buffer.duration]);
    this.frames += buffer.length;
    this.totalFrames += buffer.length;
    player.scheduledSources += 1;
    player.audioSeconds = this.totalFrames / catalog.sampleRate;
    if (this.firstStart === null) {
      this.firstStart = startAt;
      this.watchStart();
    }
  }

  /** Audio is playing once the context clock has passed the first source's start time. */
  watchStart() {
    const since = performance.now();
    let warned = false;
    const check = () => {
      if (this.run !== current || !this.run.active) return;
      if (this.ctx.state === "running" && this.ctx.currentTime >= this.firstStart) {
        if (warned) clearError();
        markPlaying(this.run);
        return;
      }
      if (!warned && performance.now() - since > 3000) {
        warned = true; // no audio device, or the browser still blocks sound for this page
        showError(`Audio output has not started (AudioContext is ${this.ctx.state}). Check the sound device, or press Play again.`);
      }
      setTimeout(check, 5);
    };
    check();
  }

  /** Bare 16-bit samples: two bytes a frame. */
  secondsPerByte() {
    return 1 / (2 * catalog.sampleRate);
  }

  /** Seconds of the scheduled sources the AudioContext clock has passed. */
  playedSeconds() {
    const now = this.stoppedAt != null ? this.stoppedAt : this.ctx.currentTime;
    let played = 0;
    for (const [start, seconds] of this.spans) {
      if (now <= start) break;
      played += Math.min(seconds, now - start);
    }
    return played;
  }

  /** More audio follows after all (live mode: a new turn before the last one's audio ran out).
   * False once everything was heard and the run is over. */
  reopen() {
    if (this.run !== current || !this.run.active) return false;
    this.ended = false;
    return true;
  }

  finish() {
    this.ended = true;
    this.decoder.carry = null; // a lone byte at the very end is not a sample
    if (!this.sources.size) this.done();
  }

  /** Everything was heard: hand the recording to the audio element to replay and seek. */
  done() {
    if (this.run !== current || !this.run.active) return;
    finishRun(this.run, "done");
    this.gain.disconnect();
    suspendWhenIdle(this.ctx);
    setElementSource(URL.createObjectURL(audioBlob(this.run)));
    ui.audio.hidden = false;
  }

  stop() {
    this.stoppedAt = this.ctx.currentTime;
    silenceSources(this.sources);
    this.gain.disconnect();
    suspendWhenIdle(this.ctx);
  }
}
