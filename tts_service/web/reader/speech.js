/* One part's speech: POST /v1/audio/speech with stream_format "sse", read event by event. Each
 * speech.audio.delta carries base64 audio and, with timestamps, the words spoken so far (start
 * and end in seconds of this request's audio). */

import { errorFromResponse } from "../player/server.js";

export class TimestampsRefused extends Error {}

const MAX_RETRIES = 30; // answers 429 (Retry-After) before a part gives up

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Streams one request; calls onAudio(bytes) and onWords(words) as events arrive and resolves
 * when the server says done. A 429 is asked again after its Retry-After (onBusy() each time);
 * a 400 to `timestamps` rejects with TimestampsRefused. */
export async function speak({
  text, voice, speed, format, timestamps, apiKey, signal, onAudio, onWords, onBusy = () => {},
}) {
  const headers = { "Content-Type": "application/json" };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  const body = {
    model: "kokoro", input: text, voice, speed, response_format: format, stream_format: "sse",
  };
  if (timestamps) body.timestamps = true;
  let res;
  for (let attempt = 0; ; attempt++) {
    res = await fetch("/v1/audio/speech", { method: "POST", headers, body: JSON.stringify(body), signal });
    if (res.status !== 429 || attempt >= MAX_RETRIES) break;
    // The server is busy (a part asked ahead while another is synthesized): it says when to
    // come back, and the part waits that long.
    onBusy();
    await sleep(1000 * (Number(res.headers.get("Retry-After")) || 1), signal);
  }
  if (!res.ok) {
    const error = await errorFromResponse(res);
    if (res.status === 400 && timestamps && /timestamp|duration/i.test(error.message)) {
      throw new TimestampsRefused(error.message);
    }
    throw error;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let pending = ""; // a "\r" that may be the first half of "\r\n"
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    let text = pending + value;
    pending = text.endsWith("\r") ? "\r" : "";
    if (pending) text = text.slice(0, -1);
    buffer += text.replace(/\r\n?/g, "\n"); // sse-starlette ends lines with \r\n
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n");
      if (!data) continue;
      const event = JSON.parse(data);
      if (event.type === "speech.audio.delta") {
        if (event.words && event.words.length) onWords(event.words);
        if (event.audio) onAudio(base64Bytes(event.audio));
      } else if (event.type === "speech.audio.done") {
        return;
      } else if (event.type === "error") {
        const error = new Error(event.error.message);
        error.detail = `stream · ${event.error.code || event.error.type}`;
        throw error;
      }
    }
  }
  throw new Error("The speech stream ended early.");
}
