/* Kokoro speech player: streams /v1/audio/speech and plays it while it downloads.
 *
 * Three playback paths, chosen per request:
 *   MSE       - MediaSource accepts audio/mpeg: request mp3, append each chunk to a SourceBuffer
 *               as it arrives (queued while `updating`, played ranges evicted on quota errors,
 *               endOfStream() after the last append).
 *   Web Audio - otherwise (Firefox, ...): request raw pcm (16-bit little-endian, 24 kHz, mono),
 *               convert each arriving chunk to Float32 and schedule AudioBufferSourceNodes back to
 *               back on one AudioContext clock, so speech starts after the first sentence.
 *   Blob      - neither available: download everything, then play it through audio.src.
 *
 * Observable state for people and tests: window.ttsPlayer (path, state, timestamps from
 * performance.now(), byte counts, request id) and the readout on the page.
 */
(() => {
  "use strict";

  const SAMPLE_RATE = 24000; // the service's pcm: 16-bit little-endian, mono, no header
  const MIME = {
    mp3: "audio/mpeg",
    aac: "audio/aac",
    opus: "audio/ogg",
    flac: "audio/flac",
    wav: "audio/wav",
    pcm: "audio/wav", // kept as WAV (a header is added) for playback and download
  };
  const EXTENSION = { mp3: "mp3", aac: "aac", opus: "ogg", flac: "flac", wav: "wav", pcm: "wav" };
  const PATH_LABEL = { mse: "MSE", webaudio: "Web Audio", blob: "Blob" };
  const MAX_QUEUED_BYTES = 8 * 1024 * 1024; // MSE: stop reading the network past this backlog
  const WEB_AUDIO_LEAD = 0.025; // seconds between scheduling a chunk and the earliest it may start
  const STORAGE_KEY = "tts-player-settings";

  const $ = (id) => document.getElementById(id);
  const ui = {
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
  };

  /** Everything a test or a curious person may want to read. Times are performance.now() ms. */
  const player = {
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
    capabilities: capabilities,
    choosePath: choosePath,
    /** The Web Audio clock (seconds) of the current run, or null. */
    audioContextTime: () => (current && current.engine && current.engine.ctx ? current.engine.ctx.currentTime : null),
    audioContextState: () => (current && current.engine && current.engine.ctx ? current.engine.ctx.state : null),
    /** The MediaSource's readyState ("open", "ended") on the MSE path, or null. */
    mediaSourceState: () => (current && current.engine && current.engine.ms ? current.engine.ms.readyState : null),
    play: () => play(),
    stop: () => stop(),
  };
  window.ttsPlayer = player;
  window.addEventListener("error", (event) => player.pageErrors.push(String(event.message)));
  window.addEventListener("unhandledrejection", (event) => player.pageErrors.push(String(event.reason)));

  let current = null; // the run in progress (one request and its playback)
  let downloadUrl = null;

  // ---------------------------------------------------------------- capabilities and paths

  function mediaSourceClass() {
    return window.MediaSource || window.ManagedMediaSource || null;
  }

  function capabilities() {
    const MS = mediaSourceClass();
    const mse = (mime) => {
      try {
        return Boolean(MS && typeof MS.isTypeSupported === "function" && MS.isTypeSupported(mime));
      } catch (_) {
        return false;
      }
    };
    return {
      mseMp3: mse("audio/mpeg"),
      mseAac: mse("audio/aac"),
      webAudio: Boolean(window.AudioContext || window.webkitAudioContext),
    };
  }

  /** Which path plays `choice` ("auto" or a response_format) here, and which format to ask for. */
  function choosePath(choice) {
    const caps = capabilities();
    if (choice === "auto") {
      if (caps.mseMp3) return { path: "mse", format: "mp3" };
      if (caps.webAudio) return { path: "webaudio", format: "pcm" };
      return { path: "blob", format: "mp3" };
    }
    if (choice === "mp3" && caps.mseMp3) return { path: "mse", format: "mp3" };
    if (choice === "aac" && caps.mseAac) return { path: "mse", format: "aac" };
    if (choice === "pcm" && caps.webAudio) return { path: "webaudio", format: "pcm" };
    return { path: "blob", format: choice };
  }

  // ---------------------------------------------------------------- helpers

  function concatBytes(parts) {
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
  function wavBlob(parts) {
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
    header.setUint32(24, SAMPLE_RATE, true);
    header.setUint32(28, SAMPLE_RATE * 2, true);
    header.setUint16(32, 2, true);
    header.setUint16(34, 16, true);
    text(36, "data");
    header.setUint32(40, length, true);
    const data = concatBytes(parts).subarray(0, length);
    return new Blob([header, data], { type: "audio/wav" });
  }

  function audioBlob(run) {
    return run.format === "pcm" ? wavBlob(run.received) : new Blob(run.received, { type: MIME[run.format] });
  }

  function seconds(ms) {
    return ms == null ? "–" : `${(ms / 1000).toFixed(2)} s`;
  }

  function formatBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / 1024 / 1024).toFixed(2)} MB`;
  }

  async function errorFromResponse(res) {
    let message = `The server answered ${res.status} ${res.statusText}.`;
    let code = null;
    try {
      const body = await res.json();
      if (body && body.error && body.error.message) {
        message = body.error.message;
        code = body.error.code || body.error.type || null;
      }
    } catch (_) {
      /* not JSON: keep the status line */
    }
    const error = new Error(message);
    error.detail = `HTTP ${res.status}${code ? ` · ${code}` : ""}`;
    return error;
  }

  // ---------------------------------------------------------------- page state

  function setState(state) {
    player.state = state;
    ui.state.textContent = state;
    ui.state.dataset.state = state;
    document.body.dataset.state = state;
    const busy = state === "requesting" || state === "buffering" || state === "playing";
    ui.stop.disabled = !busy;
  }

  function showError(message, detail) {
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

  function clearError() {
    player.error = null;
    ui.error.hidden = true;
    ui.error.textContent = "";
  }

  function setDownload(blob) {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
    if (!blob || !blob.size) {
      ui.download.removeAttribute("href");
      ui.download.setAttribute("aria-disabled", "true");
      ui.download.textContent = "⬇ Download";
      return;
    }
    downloadUrl = URL.createObjectURL(blob);
    const run = current;
    const voice = (run.voice || "speech").replace(/[^a-z0-9_]+/gi, "-").replace(/^-|-$/g, "");
    ui.download.href = downloadUrl;
    ui.download.download = `speech-${voice || "blend"}.${EXTENSION[run.format]}`;
    ui.download.setAttribute("aria-disabled", "false");
    ui.download.textContent = `⬇ Download ${EXTENSION[run.format]} (${formatBytes(blob.size)})`;
  }

  function render() {
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
  }

  function markPlaying(run) {
    if (run !== current || player.firstPlaybackAt != null) return;
    player.firstPlaybackAt = performance.now();
    player.ttfaMs = player.firstPlaybackAt - player.clickedAt;
    setState("playing");
    render();
  }

  function finishRun(run, state) {
    if (run !== current || !run.active) return;
    run.active = false;
    player.endedAt = performance.now();
    clearInterval(run.timer);
    setState(state);
    render();
  }

  // ---------------------------------------------------------------- path 1: MSE

  class MsePlayer {
    constructor(run) {
      this.run = run;
      this.mime = MIME[run.format];
      this.queue = [];
      this.queuedBytes = 0;
      this.ended = false;
      this.waitingForPlayhead = false;
      this.drained = null;
      this.sb = null;
      const MS = mediaSourceClass();
      this.ms = new MS();
      ui.audio.disableRemotePlayback = true; // required by ManagedMediaSource (Safari)
      this.ms.addEventListener("sourceopen", () => this.open(), { once: true });
      setElementSource(URL.createObjectURL(this.ms));
      startElement(run); // inside the click: counts as a user gesture for autoplay
    }

    open() {
      if (this.run !== current) return;
      try {
        this.sb = this.ms.addSourceBuffer(this.mime);
      } catch (error) {
        failRun(this.run, `This browser cannot play ${this.mime} through MSE: ${error.message}`);
        return;
      }
      this.sb.addEventListener("updateend", () => this.pump());
      this.sb.addEventListener("error", () => failRun(this.run, "The browser could not decode the streamed audio."));
      this.pump();
    }

    push(bytes) {
      this.queue.push(bytes);
      this.queuedBytes += bytes.byteLength;
      this.pump();
      if (this.queuedBytes > MAX_QUEUED_BYTES) {
        return new Promise((resolve) => { this.drained = resolve; });
      }
      return null;
    }

    finish() {
      this.ended = true;
      this.pump();
    }

    pump() {
      const sb = this.sb;
      if (!sb || this.run !== current || !this.run.active || sb.updating || this.ms.readyState !== "open") return;
      if (this.queue.length) {
        const data = concatBytes(this.queue);
        try {
          sb.appendBuffer(data);
        } catch (error) {
          if (error.name === "QuotaExceededError") {
            this.makeRoom();
            return;
          }
          failRun(this.run, `Appending audio failed: ${error.message}`);
          return;
        }
        this.queue = [];
        this.queuedBytes = 0;
        player.appends += 1;
        if (this.drained) {
          this.drained();
          this.drained = null;
        }
        return; // updateend calls pump again
      }
      this.updateLength();
      if (this.ended) this.ms.endOfStream();
    }

    /** The SourceBuffer is full: drop what has been played, or wait until the playhead moves. */
    makeRoom() {
      player.quotaEvictions += 1;
      const buffered = this.sb.buffered;
      const keepFrom = ui.audio.currentTime - 2;
      if (buffered.length && keepFrom > buffered.start(0) + 0.5) {
        this.sb.remove(buffered.start(0), keepFrom); // updateend retries the append
      } else if (!this.waitingForPlayhead) {
        this.waitingForPlayhead = true; // nothing played yet to drop: retry once playback moved on
        setTimeout(() => {
          this.waitingForPlayhead = false;
          this.pump();
        }, 250);
      }
    }

    updateLength() {
      const buffered = this.sb.buffered;
      if (buffered.length) player.audioSeconds = buffered.end(buffered.length - 1);
    }

    stop() {
      this.queue = [];
      if (this.drained) this.drained();
      try {
        if (this.sb && this.sb.updating && this.ms.readyState === "open") this.sb.abort();
      } catch (_) {
        /* already detached */
      }
      resetElement();
    }
  }

  // ---------------------------------------------------------------- path 2: Web Audio (pcm)

  // One AudioContext for the page: opening the audio device for a request costs time (up to
  // seconds in Firefox on a busy CPU). It is suspended after a minute without speech and resumed
  // at the next key press or click, so usually before Play is pressed.
  let audioContext = null;
  let suspendTimer = null;
  const SUSPEND_AFTER_MS = 60000;

  function sharedAudioContext() {
    if (audioContext && audioContext.state !== "closed") return audioContext;
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    try {
      audioContext = new AudioContextClass({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
    } catch (_) {
      audioContext = new AudioContextClass(); // 24 kHz buffers are resampled to the device rate
    }
    return audioContext;
  }

  function suspendWhenIdle(ctx) {
    clearTimeout(suspendTimer);
    suspendTimer = setTimeout(() => {
      if (!(current && current.active) && ctx.state === "running") ctx.suspend().catch(() => {});
    }, SUSPEND_AFTER_MS);
  }

  class WebAudioPlayer {
    constructor(run) {
      this.run = run;
      this.ctx = sharedAudioContext();
      clearTimeout(suspendTimer);
      const resumed = this.ctx.resume(); // inside the click: allowed to start
      if (resumed && resumed.catch) resumed.catch(() => {});
      this.gain = this.ctx.createGain(); // this run's output: disconnected on Stop
      this.gain.connect(this.ctx.destination);
      this.carry = null; // a lone byte left over from the previous chunk (odd byte count)
      this.base = 0; // AudioContext time of frame 0 of the current uninterrupted run of audio
      this.frames = 0; // frames scheduled since `base`
      this.totalFrames = 0;
      this.sources = new Set();
      this.ended = false;
      this.firstStart = null;
      resetElement();
      ui.audio.hidden = true;
    }

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
      const buffer = this.ctx.createBuffer(1, frames, SAMPLE_RATE);
      const channel = buffer.getChannelData(0);
      for (let i = 0; i < frames; i++) channel[i] = view.getInt16(2 * i, true) / 32768;
      this.schedule(buffer);
      return null;
    }

    schedule(buffer) {
      const ctx = this.ctx;
      const now = ctx.currentTime;
      let startAt = this.base + this.frames / SAMPLE_RATE;
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
      this.frames += buffer.length;
      this.totalFrames += buffer.length;
      player.scheduledSources += 1;
      player.audioSeconds = this.totalFrames / SAMPLE_RATE;
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

    finish() {
      this.ended = true;
      this.carry = null; // a lone byte at the very end is not a sample
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
      for (const source of this.sources) {
        source.onended = null;
        try {
          source.stop();
        } catch (_) {
          /* never started */
        }
      }
      this.sources.clear();
      this.gain.disconnect();
      suspendWhenIdle(this.ctx);
    }
  }

  // ---------------------------------------------------------------- path 3: Blob (buffered)

  class BlobPlayer {
    constructor(run) {
      this.run = run;
      resetElement();
    }

    push() {
      setState("buffering"); // nothing plays until the whole response is here
      return null;
    }

    finish() {
      setElementSource(URL.createObjectURL(audioBlob(this.run)));
      startElement(this.run);
    }

    stop() {
      resetElement();
    }
  }

  // ---------------------------------------------------------------- the audio element

  function startElement(run) {
    const started = ui.audio.play();
    if (started && started.catch) {
      started.catch((error) => {
        if (run !== current || !run.active || error.name === "AbortError") return;
        if (error.name === "NotAllowedError") {
        // Autoplay was refused: the audio element's own controls can still start it.
          showError("The browser blocked autoplay: press play on the audio controls.");
        } else {
          failRun(run, `Playback failed: ${error.message}`);
        }
      });
    }
  }

  let elementUrl = null; // the object URL the audio element plays, revoked when replaced

  function setElementSource(url) {
    if (elementUrl) URL.revokeObjectURL(elementUrl);
    elementUrl = url;
    ui.audio.src = url;
  }

  function resetElement() {
    ui.audio.pause();
    if (elementUrl) URL.revokeObjectURL(elementUrl);
    elementUrl = null;
    if (ui.audio.hasAttribute("src")) {
      ui.audio.removeAttribute("src");
      ui.audio.load();
    }
  }

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

  function failRun(run, message, detail) {
    if (run !== current || !run.active) return;
    run.controller.abort();
    if (run.engine) run.engine.stop();
    showError(message, detail);
    player.streaming = false;
    finishRun(run, "error");
  }

  function stop() {
    const run = current;
    if (!run || !run.active) return;
    run.controller.abort(); // the server sees the disconnect and stops synthesizing
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
    const voice = ui.blend.value.trim() || ui.voice.value;
    const speed = Number(ui.speed.value);
    const { path, format } = choosePath(ui.format.value);
    saveSettings();

    const run = {
      active: true,
      controller: new AbortController(),
      format,
      voice,
      received: [],
      engine: null,
      timer: null,
    };
    current = run;
    Object.assign(player, {
      path, format, voice, requestId: null, streaming: true,
      clickedAt: performance.now(), firstByteAt: null, firstPlaybackAt: null, responseDoneAt: null,
      endedAt: null, ttfaMs: null, totalMs: null, bytes: 0, chunks: 0, audioSeconds: 0,
      scheduledSources: 0, underruns: 0, gapSeconds: 0, stalls: 0, appends: 0, quotaEvictions: 0,
      error: null,
    });
    player.runs += 1;
    ui.audio.hidden = false;
    setDownload(null);
    setState("requesting");
    run.timer = setInterval(render, 100);
    render();

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
        if (player.firstByteAt == null) player.firstByteAt = performance.now();
        run.received.push(bytes);
        player.bytes += bytes.byteLength;
        player.chunks += 1;
        const backlog = run.engine.push(bytes);
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
      player.responseDoneAt = performance.now();
      player.totalMs = player.responseDoneAt - player.clickedAt;
      player.streaming = false;
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

  async function loadVoices(wanted) {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch("/v1/audio/voices");
        if (res.status === 503 && attempt < 60) {
          ui.voiceHint.textContent = "The model is loading…";
          await new Promise((resolve) => setTimeout(resolve, 2000));
          continue;
        }
        if (!res.ok) throw await errorFromResponse(res);
        const { voices } = await res.json();
        const groups = new Map();
        for (const voice of voices) {
          if (!groups.has(voice.language)) groups.set(voice.language, []);
          groups.get(voice.language).push(voice);
        }
        ui.voice.textContent = "";
        for (const [language, members] of groups) {
          const group = document.createElement("optgroup");
          group.label = language;
          for (const voice of members) {
            const option = document.createElement("option");
            option.value = voice.id;
            option.textContent = `${voice.name} (${voice.gender}) · ${voice.id}`;
            group.append(option);
          }
          ui.voice.append(group);
        }
        const ids = voices.map((voice) => voice.id);
        ui.voice.value = ids.includes(wanted) ? wanted : ids.includes("af_heart") ? "af_heart" : ids[0];
        ui.voiceHint.textContent = `${voices.length} voices in ${groups.size} languages.`;
        return;
      } catch (error) {
        ui.voiceHint.textContent = `Could not load the voice list (${error.message}); af_heart is used.`;
        return;
      }
    }
  }

  function describePath() {
    const { path, format } = choosePath(ui.format.value);
    ui.formatHint.textContent = {
      mse: `Streams ${format} into the audio element (MSE).`,
      webaudio: "Streams raw pcm through Web Audio.",
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
    if (current && current.active) return;
    if (choosePath(ui.format.value).path !== "webaudio") return;
    const ctx = sharedAudioContext();
    if (ctx.state !== "running") {
      const resumed = ctx.resume();
      if (resumed && resumed.catch) resumed.catch(() => {});
    }
    suspendWhenIdle(ctx);
  }

  function init() {
    const saved = loadSettings();
    if (saved.blend) ui.blend.value = saved.blend;
    if (saved.format && [...ui.format.options].some((o) => o.value === saved.format)) ui.format.value = saved.format;
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
    document.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        play();
      } else if (event.key === "Escape" && current && current.active) {
        event.preventDefault();
        stop();
      }
    });
    for (const type of ["pointerdown", "keydown"]) {
      document.addEventListener(type, warmUpAudio, { capture: true, passive: true });
    }
    updateSpeed();
    updateCount();
    describePath();
    setState("idle");
    render();
    loadVoices(saved.voice);
  }

  init();
})();
