/* The whole article as one MP3 file with ID3v2 chapters (CHAP + CTOC), and its captions.
 *
 * Each part is asked as mp3 (bare MPEG frames: no ID3 tag, no Xing frame, so parts join by
 * concatenation) and its frames are counted, so each chapter starts exactly where its first
 * part's frames start in the joined file, and each word is offset by the audio before its part.
 * Captions come from the server's POST /v1/audio/captions. */

import { errorFromResponse } from "../player/server.js";
import { concatBytes } from "../player/state.js";
import { ID3Writer } from "../vendor/browser-id3-writer/browser-id3-writer.mjs";
import { allParts } from "./article.js";
import { TimestampsRefused, speak } from "./speech.js";

const BITRATES = {
  1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320], // MPEG-1 Layer III
  2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], // MPEG-2 and 2.5 Layer III
};
const RATES = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/** Samples in a run of bare MPEG Layer III frames: 1152 a frame for MPEG-1, 576 for MPEG-2
 * and 2.5 (24 kHz is MPEG-2), read from each frame's header. */
export function mp3Samples(bytes) {
  let samples = 0;
  let i = 0;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff || (bytes[i + 1] & 0xe0) !== 0xe0) {
      i += 1; // not a frame header (never expected: the server sends frames only)
      continue;
    }
    const version = (bytes[i + 1] >> 3) & 3;
    const bitrate = BITRATES[version === 3 ? 1 : 2][bytes[i + 2] >> 4];
    const rate = (RATES[version] || [])[(bytes[i + 2] >> 2) & 3];
    if (!bitrate || !rate || ((bytes[i + 1] >> 1) & 3) !== 1) {
      i += 1;
      continue;
    }
    const padding = (bytes[i + 2] >> 1) & 1;
    const perFrame = version === 3 ? 1152 : 576;
    i += Math.floor(((perFrame / 8) * bitrate * 1000) / rate) + padding;
    samples += perFrame;
  }
  return samples;
}

/** Renders every part in order; onProgress(done, total). → { blob, chapters, words, duration } */
export async function renderMp3({ article, limit, voice, speed, apiKey, signal, sampleRate, onProgress }) {
  const parts = allParts(article, limit);
  const audio = [];
  const words = [];
  const chapterStarts = new Map();
  let timestamps = true;
  let offset = 0; // seconds of audio before the current part in the joined file
  for (const [n, part] of parts.entries()) {
    const chapter = article.paragraphs[part.paragraph].chapter;
    if (!chapterStarts.has(chapter)) chapterStarts.set(chapter, offset);
    const attempt = async () => {
      const bytes = [];
      const timed = [];
      try {
        await speak({
          text: part.text, voice, speed, format: "mp3", timestamps, apiKey, signal,
          onAudio: (chunk) => bytes.push(chunk), onWords: (list) => timed.push(...list),
        });
      } catch (error) {
        if (!(error instanceof TimestampsRefused)) throw error;
        timestamps = false;
        return attempt();
      }
      return { bytes: concatBytes(bytes), timed };
    };
    const { bytes, timed } = await attempt();
    audio.push(bytes);
    for (const w of timed) words.push({ word: w.word, start: w.start + offset, end: w.end + offset });
    offset += mp3Samples(bytes) / sampleRate;
    onProgress(n + 1, parts.length);
  }
  const ms = (seconds) => Math.round(seconds * 1000);
  const chapters = [...chapterStarts.entries()].map(([index, start], n, all) => ({
    title: article.chapters[index].title || "Untitled",
    start,
    end: n + 1 < all.length ? all[n + 1][1] : offset,
  }));
  const joined = concatBytes(audio);
  const writer = new ID3Writer(joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength));
  writer.setFrame("TIT2", chapters[0] ? chapters[0].title : "Article");
  writer.setFrame("TLEN", ms(offset));
  chapters.slice(0, 255).forEach((chapter, n) => {
    writer.setFrame("CHAP", {
      id: `chp${n}`, startTime: ms(chapter.start), endTime: ms(chapter.end),
      subFrames: { TIT2: chapter.title },
    });
  });
  writer.setFrame("CTOC", {
    id: "toc", ordered: true, topLevel: true,
    childElementIds: chapters.slice(0, 255).map((_, n) => `chp${n}`),
    subFrames: { TIT2: "Chapters" },
  });
  writer.addTag();
  return { blob: writer.getBlob(), chapters, words, duration: offset, timestamps };
}

/** POST /v1/audio/captions → the captions text; null when the server has no such endpoint. */
export async function fetchCaptions(words, format, apiKey) {
  const headers = { "Content-Type": "application/json" };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  const res = await fetch("/v1/audio/captions", {
    method: "POST", headers, body: JSON.stringify({ words, format }),
  });
  if (res.status === 404) return null;
  if (!res.ok) throw await errorFromResponse(res);
  return res.text();
}
