/* Which playback path plays which format in this browser. */

import { mediaSourceClass } from "./mse.js";
import { RAW_PCM, catalog } from "./state.js";

/** What this browser offers: MediaSource for each streaming format's media type, and Web Audio. */
export function capabilities() {
  const MS = mediaSourceClass();
  const mse = (mime) => {
    try {
      return Boolean(MS && typeof MS.isTypeSupported === "function" && MS.isTypeSupported(mime));
    } catch (_) {
      return false;
    }
  };
  const mseTypes = {};
  for (const info of catalog.formats.values()) {
    if (info.streams && info.media_type !== RAW_PCM) mseTypes[info.media_type] = mse(info.media_type);
  }
  return { mse: mseTypes, webAudio: Boolean(window.AudioContext || window.webkitAudioContext) };
}

/** Which path plays `choice` ("auto" or a response_format) here, and which format to ask for.
 * A format that streams plays while it downloads: bare samples through Web Audio, any other
 * through MSE when MediaSource takes its media type. "auto" is the server's default format when
 * it can stream here, else bare samples through Web Audio; the Blob path is the last resort. */
export function choosePath(choice) {
  const caps = capabilities();
  const format = choice === "auto" ? catalog.defaultFormat : choice;
  const info = catalog.formats.get(format);
  if (info && info.streams) {
    if (info.media_type === RAW_PCM ? caps.webAudio : caps.mse[info.media_type]) {
      return { path: info.media_type === RAW_PCM ? "webaudio" : "mse", format };
    }
  }
  if (choice === "auto" && caps.webAudio) {
    const raw = [...catalog.formats.values()].find((f) => f.streams && f.media_type === RAW_PCM);
    if (raw) return { path: "webaudio", format: raw.id };
  }
  return { path: "blob", format };
}
