/* Reading aloud: parts are requested ahead of the voice (one request in flight, the next while
 * less than AHEAD_SECONDS or AHEAD_PARTS are waiting), their pcm is scheduled back to back
 * on the page's one AudioContext clock, and the clock says which word is being spoken. Audio of
 * parts already heard is dropped. */

import { catalog } from "../player/state.js";
import { PcmDecoder, sharedAudioContext, silenceSources } from "../player/web-audio.js";
import { aligner } from "./align.js";
import { partFrom } from "./article.js";
import { TimestampsRefused, speak } from "./speech.js";

const LEAD = 0.05; // seconds between scheduling the first audio and its start
const AHEAD_SECONDS = 30;
const AHEAD_PARTS = 2;
// One request at a time: the next part is asked as soon as the previous one has arrived, which
// on a server faster than real time is long before it has been heard. A second concurrent
// stream is what the server's admission refuses first (429) when it is busy, and it would slow
// the part that plays next. MAX_IN_FLIGHT may be raised to 2 for a server with spare workers.
const MAX_IN_FLIGHT = 1;
const TICK_MS = 30;
const LOG_PARTS = 60; // parts kept in the record for tests and the curious

export class Reading {
  /** options: article, limit, voice, speed, apiKey, timestamps (try them), and callbacks
   * onWord(index), onState(state), onError(error), onNoTimestamps(message). */
  constructor(options) {
    Object.assign(this, options);
    this.ctx = sharedAudioContext();
    this.gain = this.ctx.createGain();
    this.gain.connect(this.ctx.destination);
    this.queue = []; // parts not yet heard to the end, in order
    this.schedIndex = 0; // the first part in `queue` not wholly scheduled
    this.cursor = null; // AudioContext time where the next part's audio goes
    this.sources = new Set();
    this.inFlight = 0;
    this.nextWord = 0; // the first word no part has asked for yet
    this.position = 0; // the word being spoken (or to be spoken first)
    this.state = "idle";
    this.timer = null;
    this.record = { parts: [], boundaries: [], highlights: [], underruns: 0, busy: 0, maxInFlight: 0, startedAt: null, firstAudioAt: null };
  }

  start(word) {
    this.position = word;
    this.nextWord = word;
    this.record.startedAt = performance.now();
    const resumed = this.ctx.resume(); // inside the click: allowed to start
    if (resumed && resumed.catch) resumed.catch(() => {});
    this.setState("requesting");
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.fill();
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  pause() {
    if (this.state !== "playing") return;
    this.ctx.suspend().catch(() => {});
    this.setState("paused");
  }

  resume() {
    if (this.state !== "paused") return;
    this.ctx.resume().catch(() => {});
    this.setState("playing");
  }

  stop() {
    clearInterval(this.timer);
    for (const part of this.queue) part.controller.abort();
    this.silence();
    this.gain.disconnect();
    for (const part of this.queue) part.buffers = [];
    this.queue = [];
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    if (this.state !== "done" && this.state !== "error") this.setState("stopped");
  }

  silence() {
    silenceSources(this.sources);
  }

  /** Play from `word` using audio already received when its part has it; false when a new
   * request is needed (the caller starts a new Reading). */
  seekBuffered(word) {
    const index = this.queue.findIndex((part) => part.first <= word && word < part.end);
    if (index < 0) return false;
    const part = this.queue[index];
    let offset = 0;
    if (word !== part.first) {
      const timed = part.words.find((w) => w.index >= word);
      if (!timed || timed.index !== word || timed.start >= part.frames / catalog.sampleRate) return false;
      offset = timed.start;
    }
    this.silence();
    for (const heard of this.queue.slice(0, index)) heard.buffers = [];
    this.queue = this.queue.slice(index);
    for (const entry of this.queue) Object.assign(entry, { startAt: null, endAt: null, scheduled: 0, offset: 0 });
    part.offset = offset;
    this.schedIndex = 0;
    this.cursor = null;
    this.position = word;
    this.shown = null;
    if (this.state === "paused") this.resume();
    this.pump();
    return true;
  }

  // ------------------------------------------------------------ requests

  wantMore() {
    if (this.nextWord >= this.article.words.length || this.inFlight >= MAX_IN_FLIGHT) return false;
    if (this.record.firstAudioAt === null) return this.queue.length === 0; // the first part alone
    const now = this.ctx.currentTime;
    const waiting = this.queue.filter((part) => part.startAt === null || part.startAt + part.offset > now).length;
    const ahead = this.cursor === null ? 0 : Math.max(0, this.cursor - now);
    return waiting < AHEAD_PARTS || ahead < AHEAD_SECONDS;
  }

  fill() {
    while (this.wantMore()) this.request(partFrom(this.article, this.nextWord, this.limit));
  }

  request(span) {
    const part = {
      ...span, speed: this.speed, controller: new AbortController(), buffers: [], starts: [],
      frames: 0, decoder: new PcmDecoder(this.ctx), done: false, words: [], startAt: null, endAt: null, scheduled: 0,
      offset: 0, requestedAt: performance.now(),
    };
    this.queue.push(part);
    this.nextWord = span.end;
    this.inFlight += 1;
    this.record.maxInFlight = Math.max(this.record.maxInFlight, this.inFlight);
    this.record.parts.push(part);
    if (this.record.parts.length > LOG_PARTS) this.record.parts.shift();
    const attempt = () => {
      const align = aligner(this.article, part.first, part.end);
      return speak({
        text: part.text, voice: this.voice, speed: part.speed, format: "pcm",
        timestamps: this.timestamps, apiKey: this.apiKey, signal: part.controller.signal,
        onAudio: (bytes) => this.receive(part, bytes),
        onBusy: () => { this.record.busy += 1; },
        onWords: (words) => {
          for (const w of words) part.words.push({ word: w.word, start: w.start, end: w.end, index: align.place(w.word) });
        },
      }).catch((error) => {
        if (!(error instanceof TimestampsRefused)) throw error;
        this.timestamps = false;
        this.onNoTimestamps(error.message);
        Object.assign(part, { buffers: [], starts: [], frames: 0, words: [], decoder: new PcmDecoder(this.ctx) });
        return attempt();
      });
    };
    attempt()
      .then(() => {
        part.done = true;
      })
      .catch((error) => {
        if (part.controller.signal.aborted) return;
        this.stop();
        this.setState("error");
        this.onError(error);
      })
      .finally(() => {
        this.inFlight -= 1;
        if (!part.controller.signal.aborted) {
          this.pump();
          this.fill();
        }
      });
  }

  /** 16-bit little-endian pcm → an AudioBuffer at the part's running time. */
  receive(part, chunk) {
    const buffer = part.decoder.push(chunk);
    if (!buffer) return;
    part.buffers.push(buffer);
    part.starts.push(part.frames / catalog.sampleRate);
    part.frames += buffer.length;
    this.pump();
  }

  // ------------------------------------------------------------ scheduling

  pump() {
    const ctx = this.ctx;
    while (this.schedIndex < this.queue.length) {
      const part = this.queue[this.schedIndex];
      if (part.startAt === null) {
        if (!part.buffers.length) return;
        const now = ctx.currentTime;
        let at = this.cursor;
        if (at === null || at < now + 0.01) {
          if (at !== null) this.record.underruns += 1; // the next part came too late: a gap
          at = now + LEAD;
        }
        if (this.cursor !== null) this.record.boundaries.push({ previousEnd: this.cursor, start: at, word: part.first });
        part.startAt = at - part.offset;
        part.firstSampleAt = at;
      }
      while (part.scheduled < part.buffers.length) {
        const buffer = part.buffers[part.scheduled];
        const begin = part.starts[part.scheduled];
        part.scheduled += 1;
        if (begin + buffer.duration <= part.offset) continue;
        let when = part.startAt + Math.max(begin, part.offset);
        const now = ctx.currentTime;
        if (when < now + 0.01) {
          // The network fell behind inside a part: its later audio starts a little later.
          this.record.underruns += 1;
          part.startAt += now + LEAD - when;
          when = now + LEAD;
        }
        const source = ctx.createBufferSource();
        source.buffer = buffer;
        source.connect(this.gain);
        source.onended = () => this.sources.delete(source);
        source.start(when, Math.max(0, part.offset - begin));
        this.sources.add(source);
      }
      if (!part.done) return;
      part.endAt = part.startAt + part.frames / catalog.sampleRate;
      this.cursor = part.endAt;
      this.schedIndex += 1;
    }
  }

  // ------------------------------------------------------------ the clock

  /** The part and word being heard at AudioContext time `time`. */
  wordAt(time) {
    const part = this.queue.find((p) => p.startAt !== null && p.startAt + p.offset <= time && (p.endAt === null || time < p.endAt));
    if (!part) return null;
    const t = time - part.startAt;
    let index = null;
    for (const w of part.words) {
      if (w.start > t) break;
      if (w.index >= 0) index = w.index;
    }
    return { part, index: index === null ? part.first : index };
  }

  tick() {
    const now = this.ctx.currentTime;
    while (this.schedIndex > 0 && this.queue[0].endAt !== null && this.queue[0].endAt < now) {
      this.queue.shift().buffers = []; // heard: its audio is dropped
      this.schedIndex -= 1;
    }
    const first = this.queue[0];
    if (this.record.firstAudioAt === null && first && first.firstSampleAt !== undefined && now >= first.firstSampleAt && this.ctx.state === "running") {
      this.record.firstAudioAt = performance.now();
      this.setState("playing");
    }
    const heard = this.wordAt(now);
    if (heard && heard.index !== this.shown && this.state === "playing") {
      this.shown = heard.index;
      this.position = heard.index;
      this.record.highlights.push({ index: heard.index, time: now });
      if (this.record.highlights.length > 500) this.record.highlights.shift();
      this.onWord(heard.index, heard.part);
    }
    if (this.nextWord >= this.article.words.length && !this.inFlight && this.schedIndex === this.queue.length && (this.cursor === null || now >= this.cursor)) {
      clearInterval(this.timer);
      this.gain.disconnect();
      this.setState("done");
      return;
    }
    this.fill();
  }

  /** The part being heard now (its words relative to its own audio), for its captions. */
  currentPart() {
    const heard = this.wordAt(this.ctx.currentTime);
    return heard ? heard.part : this.queue[0] || null;
  }
}
