/* Path 1, Media Source Extensions: MediaSource accepts the format's media type; each chunk is
 * appended to a SourceBuffer as it arrives (queued while `updating`, played ranges evicted on
 * quota errors, endOfStream() after the last append). */

import { elementPlayed, resetElement, setElementSource, startElement } from "./element.js";
import { catalog, concatBytes, current, failRun, player, ui } from "./state.js";

const MAX_QUEUED_BYTES = 8 * 1024 * 1024; // stop reading the network past this backlog

export function mediaSourceClass() {
  return window.MediaSource || window.ManagedMediaSource || null;
}

export class MsePlayer {
  constructor(run) {
    this.run = run;
    this.mime = catalog.formats.get(run.format).media_type;
    this.queue = [];
    this.queuedBytes = 0;
    this.ended = false;
    this.waitingForPlayhead = false;
    this.drained = null;
    this.sb = null;
    this.appendedBytes = 0;
    this.heardAtStop = null;
    this.decoded = null; // { bytes, seconds }: appended bytes and the seconds they buffered
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
      this.appendedBytes += data.byteLength;
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
    if (!buffered.length) return;
    player.audioSeconds = buffered.end(buffered.length - 1);
    this.decoded = { bytes: this.appendedBytes, seconds: player.audioSeconds };
  }

  /** Measured on what the browser decoded so far (null before the first append ended). */
  secondsPerByte() {
    return this.decoded && this.decoded.bytes ? this.decoded.seconds / this.decoded.bytes : null;
  }

  playedSeconds() {
    return this.heardAtStop != null ? this.heardAtStop : elementPlayed();
  }

  stop() {
    this.heardAtStop = elementPlayed(); // what was heard, before the element is emptied
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
