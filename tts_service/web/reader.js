/* The article reader page: the text in, the reading view, the transport, resume, download.
 * Playback is reader/playback.js; the article's structure reader/article.js. */

import { errorFromResponse, loadVoices } from "./player/server.js";
import { catalog } from "./player/state.js";
import { chapterOfWord, chapterStart, paragraphStart, parseArticle } from "./reader/article.js";
import { DownloadPanel } from "./reader/download.js";
import { Reading } from "./reader/playback.js";
import { loadSaved, save, savedWord } from "./reader/saved.js";
import { ReadingView } from "./reader/view.js";

const $ = (id) => document.getElementById(id);
const ui = {
  text: $("article-text"), count: $("article-count"), file: $("article-file"), load: $("load"),
  resume: $("resume"), voice: $("voice"), speed: $("speed"), speedValue: $("speed-value"),
  apiKey: $("api-key"), play: $("play"), stop: $("stop"), prevChapter: $("prev-chapter"),
  prevParagraph: $("prev-paragraph"), nextParagraph: $("next-paragraph"),
  nextChapter: $("next-chapter"), backToVoice: $("back-to-voice"), progress: $("progress"),
  position: $("position"), status: $("status"), notice: $("notice"), error: $("error"),
  reading: $("reading"), chapterList: $("chapter-list"), render: $("render"),
  cancelRender: $("cancel-render"), renderProgress: $("render-progress"),
  renderStatus: $("render-status"), mp3: $("download-mp3"), vtt: $("download-vtt"),
  srt: $("download-srt"), partCaptions: $("part-captions"),
};

/** What tests and the curious read: window.ttsReader. */
const reader = {
  article: null, reading: null, limit: 4096, position: 0, state: "idle", timestamps: true,
  secondsPerWord: 0.4, render: null, pageErrors: [],
};
window.ttsReader = reader;
window.addEventListener("error", (event) => reader.pageErrors.push(String(event.message)));

let article = null;
let reading = null;
let view = null;
let savedAt = 0;

function status(message) {
  ui.status.textContent = message;
}

function showError(error) {
  ui.error.textContent = `Error: ${error.message}${error.detail ? ` (${error.detail})` : ""}`;
  ui.error.hidden = false;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function speed() {
  return Number(ui.speed.value);
}

// ------------------------------------------------------------ the text

function showText(text) {
  stop();
  article = parseArticle(text);
  reader.article = article;
  reader.position = 0;
  view.show(article);
  updateProgress();
  status(article.words.length
    ? `${article.chapters.length} chapters, ${article.paragraphs.length} paragraphs, ${article.words.length} words. Press Play.`
    : "The text is empty.");
  return article;
}

function ensureArticle() {
  if (!article || ui.text.value !== reader.loadedText) {
    reader.loadedText = ui.text.value;
    showText(ui.text.value);
  }
  return article.words.length > 0;
}

// ------------------------------------------------------------ playback

function stop() {
  if (reading) reading.stop();
  reading = null;
  reader.reading = null;
}

function play(from) {
  if (!ensureArticle()) return;
  stop();
  ui.error.hidden = true;
  reader.position = from;
  reading = new Reading({
    article, limit: reader.limit, voice: ui.voice.value, speed: speed(), apiKey: ui.apiKey.value.trim(),
    timestamps: reader.timestamps,
    onWord: (index) => {
      reader.position = index;
      view.highlight(index, chapterOfWord(article, index));
      updateProgress();
      persist(false);
    },
    onState: (state) => {
      reader.state = state;
      ui.play.textContent = state === "playing" || state === "requesting" ? "Pause" : "Play";
      ui.stop.disabled = !["playing", "requesting", "paused"].includes(state);
      ui.partCaptions.disabled = state !== "playing" && state !== "paused";
      status({ requesting: "Requesting the first part…", playing: "Playing.", paused: "Paused.", done: "Finished.", stopped: "Stopped.", error: "Stopped by an error." }[state] || state);
      if (state !== "playing") persist(true);
    },
    onError: showError,
    onNoTimestamps: (message) => {
      reader.timestamps = false;
      ui.notice.textContent = `This server cannot time words (${message}): playing without highlighting.`;
      ui.notice.hidden = false;
    },
  });
  reader.reading = reading;
  view.setFollowing(true);
  view.highlight(from, chapterOfWord(article, from));
  reading.start(from);
}

function togglePlay() {
  if (reading && reading.state === "playing") reading.pause();
  else if (reading && reading.state === "paused") reading.resume();
  else if (!reading || ["done", "stopped", "error"].includes(reading.state)) play(reading && reading.state !== "done" ? reader.position : startWord());
}

function startWord() {
  return article && reader.position < article.words.length ? reader.position : 0;
}

/** Play from `word`: within the audio already received, or with a new request. */
function seek(word) {
  if (!ensureArticle()) return;
  reader.position = word;
  if (reading && ["playing", "paused", "requesting"].includes(reading.state) && reading.seekBuffered(word)) {
    view.setFollowing(true);
    view.highlight(word, chapterOfWord(article, word));
    return;
  }
  play(word);
}

function skipParagraph(step) {
  if (ensureArticle()) seek(paragraphStart(article, reader.position, step));
}

function skipChapter(step) {
  if (ensureArticle()) seek(chapterStart(article, reader.position, step));
}

function changeSpeed() {
  ui.speedValue.textContent = `${speed().toFixed(2)}×`;
  persist(true);
  // The new speed applies from the word being spoken: the rest is requested again.
  if (reading && ["playing", "paused", "requesting"].includes(reading.state)) play(reader.position);
}

function updateProgress() {
  if (!article || !article.words.length) return;
  const part = reading && reading.queue.find((p) => p.words.length > 1);
  if (part) {
    const timed = part.words.filter((w) => w.index >= 0);
    if (timed.length > 1) {
      const span = timed[timed.length - 1].index - timed[0].index;
      if (span > 0) reader.secondsPerWord = ((timed[timed.length - 1].start - timed[0].start) / span) * part.speed;
    }
  }
  const perWord = reader.secondsPerWord / speed();
  const chapter = chapterOfWord(article, reader.position);
  ui.progress.value = reader.position / article.words.length;
  ui.position.textContent = `Chapter ${chapter + 1} of ${article.chapters.length} · ${clock(reader.position * perWord)} of about ${clock(article.words.length * perWord)}`;
}

function persist(now) {
  if (!article) return;
  if (!now && performance.now() - savedAt < 1000) return;
  savedAt = performance.now();
  const word = article.words[reader.position];
  if (!word) return;
  save({
    text: reader.loadedText, paragraph: word.paragraph,
    word: reader.position - article.paragraphs[word.paragraph].firstWord,
    voice: ui.voice.value, speed: speed(),
  });
}

// ------------------------------------------------------------ keyboard

function onKey(event) {
  if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = {
    k: togglePlay, n: () => skipParagraph(1), p: () => skipParagraph(-1),
    N: () => skipChapter(1), P: () => skipChapter(-1), "+": () => stepSpeed(0.25),
    "=": () => stepSpeed(0.25), "-": () => stepSpeed(-0.25), v: () => ui.backToVoice.click(),
    V: () => ui.backToVoice.click(), Escape: stop,
  };
  const action = actions[event.key];
  if (!action) return;
  event.preventDefault();
  action();
}

function stepSpeed(step) {
  ui.speed.value = String(Math.min(4, Math.max(0.25, speed() + step)));
  changeSpeed();
}

// ------------------------------------------------------------ start-up

async function loadLimits() {
  const res = await fetch("/v1/audio/formats");
  if (!res.ok) throw await errorFromResponse(res);
  const listing = await res.json();
  catalog.sampleRate = listing.sample_rate;
  reader.limit = listing.max_input_chars;
}

async function start() {
  view = new ReadingView({
    container: ui.reading, chapterList: ui.chapterList, backToVoice: ui.backToVoice,
    onWordClick: seek, onChapterClick: (c) => ensureArticle() && seek(article.paragraphs[article.chapters[c].paragraphs[0]].firstWord),
  });
  ui.text.addEventListener("input", () => { ui.count.textContent = String(ui.text.value.length); });
  ui.file.addEventListener("change", async () => {
    const file = ui.file.files[0];
    if (!file) return;
    ui.text.value = await file.text();
    ui.count.textContent = String(ui.text.value.length);
    ensureArticle();
  });
  ui.load.addEventListener("click", () => { reader.loadedText = ui.text.value; showText(ui.text.value); });
  ui.play.addEventListener("click", togglePlay);
  ui.stop.addEventListener("click", stop);
  ui.prevParagraph.addEventListener("click", () => skipParagraph(-1));
  ui.nextParagraph.addEventListener("click", () => skipParagraph(1));
  ui.prevChapter.addEventListener("click", () => skipChapter(-1));
  ui.nextChapter.addEventListener("click", () => skipChapter(1));
  ui.speed.addEventListener("input", () => { ui.speedValue.textContent = `${speed().toFixed(2)}×`; });
  ui.speed.addEventListener("change", changeSpeed);
  new DownloadPanel(ui, {
    article: () => (ensureArticle() ? article : null),
    options: () => ({ limit: reader.limit, voice: ui.voice.value, speed: speed(), apiKey: ui.apiKey.value.trim() }),
    currentPart: () => reading && reading.currentPart(),
    report: (render) => { reader.render = render; },
    status, showError, clock,
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("pagehide", () => persist(true));

  const saved = loadSaved();
  try {
    await loadLimits();
  } catch (error) {
    showError(error);
  }
  await loadVoices(saved ? saved.voice : null);
  if (saved) {
    ui.resume.hidden = false;
    ui.resume.addEventListener("click", () => {
      ui.text.value = saved.text;
      ui.count.textContent = String(saved.text.length);
      ui.speed.value = String(saved.speed || 1);
      ui.speedValue.textContent = `${speed().toFixed(2)}×`;
      ensureArticle();
      ui.resume.hidden = true;
      play(savedWord(article, saved));
    });
    status("A text read before can be resumed where it stopped.");
  }
  reader.ready = true;
}

start();
