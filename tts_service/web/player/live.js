/* Live mode: text streamed in as it is written, speech streamed back (docs/text-streaming.md).
 *
 * One WebSocket to /v1/audio/speech/stream carries turns (one reply each): `turn.start` with the
 * form's voice and speed, `text.delta` for each piece of text (a keystroke, or a replayed token),
 * `turn.end` to speak the rest, `turn.clear` to stop. The audio comes back as bare pcm frames and
 * plays through the Web Audio path, one run from the first turn until the last turn's audio has
 * been heard; `text.spoken` moves the highlight over the turn's text in the transcript. */

import { LiveSocket, STREAM_PATH } from "./live-socket.js";
import { appendedText, codePointLength, replayTokens, splitAt, tokensDue } from "./live-text.js";
import {
  RAW_PCM, audioBlob, beginRun, catalog, current, failRun, player, receiveAudio, render,
  responseDone, showError, ui,
} from "./state.js";
import { recordChunk } from "./timeline.js";
import { WebAudioPlayer } from "./web-audio.js";


let turnCount = 0;

function freshRecord() {
  return {
    connected: false,
    turnsStarted: 0, // turn.start sent ...
    turnsDone: 0, // ... turn.done received
    deltas: 0,
    sentChars: 0, // code points sent in the current run
    spokenEvents: 0, // text.spoken received in the current run
    firstSpokenAt: null,
    spokenUntil: 0, // of the last turn, in code points
    status: null, // of the last turn.done: completed | cleared | failed
    doneSpokenUntil: null, // spoken_until of the last turn.done
    replayStartedAt: null,
    replaySentAt: null, // the replay's last token was sent (then turn.end)
    clearedAt: null,
  };
}

export class LiveSession {
  /** `hooks.stop()` stops the page's run in progress; `hooks.download(blob)` offers a recording. */
  constructor(hooks) {
    this.hooks = hooks;
    this.socket = new LiveSocket({
      open: () => { player.live.connected = true; },
      message: (data) => this.receive(data),
      close: (event, wasOpen) => this.closed(event, wasOpen),
    });
    this.turns = []; // started and not done, oldest first: audio frames belong to the first
    this.open = null; // the turn taking text (not yet ended)
    this.replay = null; // { timer } while a canned reply is being sent
    player.live = freshRecord();
  }

  // ------------------------------------------------------------ what the page calls

  /** The live text box changed to `value`: its new tail goes out as `text.delta`. */
  type(value) {
    if (this.replay) {
      ui.liveInput.value = "";
      ui.liveHint.textContent = "A reply is being replayed: Stop it to type.";
      return;
    }
    if (!this.open && !value.trim()) return;
    const turn = this.open || this.startTurn();
    if (!turn) return;
    const added = appendedText(turn.text, value);
    if (added === null) {
      ui.liveInput.value = turn.text; // sent text cannot be taken back
      ui.liveHint.textContent = "Text already sent cannot be changed: Stop to start over.";
      return;
    }
    if (added) this.sendText(turn, added);
  }

  /** No more text for the open turn: the server speaks what it holds, then `turn.done`. */
  endTurn() {
    const turn = this.open;
    if (!turn) return;
    this.open = null;
    turn.status = "ended";
    this.send({ type: "turn.end", turn_id: turn.id });
    if (ui.liveInput.value === turn.text) ui.liveInput.value = "";
  }

  /** Send `text` as a turn of its own, a token (about 4 characters) at a time, `rate` tokens a
   * second, as a language model would write it. */
  replayReply(text, rate) {
    this.hooks.stop();
    ui.liveInput.value = "";
    const tokens = replayTokens(text);
    if (!tokens.length) return;
    const turn = this.startTurn();
    if (!turn) return;
    const startedAt = performance.now();
    Object.assign(player.live, { replayStartedAt: startedAt, replaySentAt: null });
    let next = 0;
    const replay = { timer: null };
    const tick = () => {
      if (this.replay !== replay) return;
      const due = tokensDue(performance.now() - startedAt, rate, tokens.length);
      while (next < due) this.sendText(turn, tokens[next++]);
      if (next < tokens.length) {
        replay.timer = setTimeout(tick, Math.max(0, startedAt + (next * 1000) / rate - performance.now()));
        return;
      }
      this.replay = null;
      player.live.replaySentAt = performance.now();
      this.endTurn();
    };
    this.replay = replay;
    tick();
  }

  // ------------------------------------------------------------ turns

  startTurn() {
    const run = this.ensureRun();
    if (!run) return null;
    turnCount += 1;
    const turn = {
      id: `live-${turnCount}`, run, text: "", spokenUntil: 0, status: "open", started: false,
      element: null,
    };
    turn.element = document.createElement("p");
    turn.element.className = "turn";
    turn.element.dataset.turnId = turn.id;
    turn.element.append(document.createElement("mark"), document.createElement("span"));
    ui.transcript.append(turn.element);
    ui.transcript.hidden = false;
    this.turns.push(turn);
    this.open = turn;
    player.live.turnsStarted += 1;
    player.live.spokenUntil = 0;
    this.connect();
    const speed = Number(ui.speed.value);
    this.send({
      type: "turn.start", turn_id: turn.id, model: "kokoro", voice: run.voice,
      response_format: run.format, speed,
    });
    return turn;
  }

  /** The run this turn's audio plays in: the one in progress if it is live, else a new one. */
  ensureRun() {
    if (current && current.active && current.live && current.engine.reopen()) return current;
    this.hooks.stop();
    const format = [...catalog.formats.values()].find((f) => f.streams && f.media_type === RAW_PCM);
    if (!format || !(window.AudioContext || window.webkitAudioContext)) {
      showError(format ? "Live mode needs Web Audio, which this browser lacks." : "The server's formats are not loaded (yet).");
      return null;
    }
    const run = beginRun("webaudio", format.id, ui.blend.value.trim() || ui.voice.value);
    run.live = true;
    this.hooks.download(null);
    ui.transcript.textContent = "";
    player.live = { ...freshRecord(), connected: player.live.connected };
    try {
      run.engine = new WebAudioPlayer(run); // inside the keystroke or click: may start sound
    } catch (error) {
      failRun(run, `Could not start Web Audio playback: ${error.message}`);
      return null;
    }
    run.controller.signal.addEventListener("abort", () => this.clear(run));
    return run;
  }

  sendText(turn, text) {
    turn.text += text;
    player.live.deltas += 1;
    player.live.sentChars += codePointLength(text);
    this.send({ type: "text.delta", turn_id: turn.id, text });
    this.renderTurn(turn);
  }

  /** Stop (the run was aborted): the server drops the speaking turn and those queued behind. */
  clear(run) {
    this.stopReplay();
    if (this.open && ui.liveInput.value.startsWith(this.open.text)) ui.liveInput.value = ""; // start over
    this.open = null;
    player.live.clearedAt = performance.now();
    const pending = this.turns.filter((turn) => turn.run === run);
    if (!pending.length) return;
    if (this.socket.isOpen) {
      for (const turn of pending) turn.status = "clearing"; // their audio still in flight is dropped
      this.send({ type: "turn.clear" });
    } else {
      this.socket.dropWaiting(); // the server never saw them
      this.turns = this.turns.filter((turn) => turn.run !== run);
    }
  }

  stopReplay() {
    if (this.replay) clearTimeout(this.replay.timer);
    this.replay = null;
  }

  renderTurn(turn) {
    const [spoken, rest] = splitAt(turn.text, turn.spokenUntil);
    turn.element.firstChild.textContent = spoken;
    turn.element.lastChild.textContent = rest;
    turn.element.dataset.status = turn.status;
  }

  // ------------------------------------------------------------ the socket

  connect() {
    // Turns other than the one starting are in flight on the socket: keep it.
    this.socket.connect(ui.apiKey.value.trim(), this.turns.length > 1);
  }

  send(message) {
    this.socket.send(message);
  }

  closed(event, wasOpen) {
    player.live.connected = false;
    const pending = this.turns.filter((turn) => turn.status !== "clearing");
    this.turns = [];
    this.open = null;
    this.stopReplay();
    if (!pending.length) return; // closed when idle (the server's idle timeout): reopened on demand
    const message = wasOpen
      ? `The connection closed before the speech was complete${event.reason ? ` (${event.reason})` : ""}.`
      : `The server refused the WebSocket ${STREAM_PATH} (a missing or wrong API key?).`;
    failRun(pending[0].run, message, `WebSocket · close ${event.code}`);
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      this.audio(new Uint8Array(data));
      return;
    }
    let event;
    try {
      event = JSON.parse(data);
    } catch (_) {
      return;
    }
    const turn = this.turns.find((t) => t.id === event.turn_id) || null;
    if (event.type === "turn.started" && turn) {
      turn.started = true;
    } else if (event.type === "text.spoken" && turn) {
      turn.spokenUntil = Math.max(turn.spokenUntil, event.end);
      if (player.live.firstSpokenAt == null) player.live.firstSpokenAt = performance.now();
      if (turn.run === current && turn.run.active) recordChunk(player); // a chunk was spoken
      player.live.spokenEvents += 1;
      player.live.spokenUntil = turn.spokenUntil;
      this.renderTurn(turn);
    } else if (event.type === "turn.done") {
      this.turnDone(turn, event);
    } else if (event.type === "error") {
      this.refused(turn, event);
    }
  }

  audio(bytes) {
    const turn = this.turns[0];
    if (!turn || turn.status === "clearing" || turn.run !== current || !turn.run.active) return;
    receiveAudio(turn.run, bytes);
  }

  turnDone(turn, event) {
    if (!turn) return;
    // Turns end in order: any before this one are over too.
    this.turns = this.turns.slice(this.turns.indexOf(turn) + 1);
    if (event.status === "cleared") this.turns = this.turns.filter((t) => t.status !== "clearing");
    if (this.open === turn) this.open = null;
    turn.status = event.status;
    if (typeof event.spoken_until === "number") turn.spokenUntil = event.spoken_until;
    Object.assign(player.live, {
      status: event.status, doneSpokenUntil: event.spoken_until, spokenUntil: turn.spokenUntil,
    });
    player.live.turnsDone += 1;
    this.renderTurn(turn);
    const run = turn.run;
    if (run !== current || !run.active) return;
    if (event.status === "failed") {
      const error = event.error || {};
      failRun(run, error.message || "The server could not speak this turn.", detail(error));
    } else if (!this.open && !this.turns.some((t) => t.run === run)) {
      // Everything asked for has arrived: the run ends once it has been heard.
      responseDone();
      this.hooks.download(audioBlob(run));
      run.engine.finish();
      render();
    }
  }

  /** An `error` event: a message was refused. A refused `turn.start` or a refused piece of text
   * ends the run (what follows would not make sense without it); the error is shown. */
  refused(turn, event) {
    const error = event.error || {};
    let message = error.message || "The server refused a message.";
    if (event.retry_after) message += ` Try again in ${event.retry_after} s.`;
    if (turn && !turn.started) this.turns.splice(this.turns.indexOf(turn), 1); // never opened
    const run = turn ? turn.run : current;
    // Once the run is over (stopped, say), a late refusal (a turn.clear that crossed the last
    // turn.done: no_turn) says nothing the user needs to know.
    if (run && run === current && run.active && run.live) failRun(run, message, detail(error));
  }
}

function detail(error) {
  const code = error.code || error.type;
  return `WebSocket${code ? ` · ${code}` : ""}`;
}
