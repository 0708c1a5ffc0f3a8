/* What the page reads from the server besides speech: the formats and the voices, and the
 * message of an error response. */

import { catalog, ui } from "./state.js";

export async function errorFromResponse(res) {
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

/** The server's formats fill the format menu (after "Auto") and `catalog`; `wanted` is the
 * format chosen at the last visit. */
export async function loadFormats(wanted) {
  try {
    const res = await fetch("/v1/audio/formats");
    if (!res.ok) throw await errorFromResponse(res);
    const listing = await res.json();
    catalog.defaultFormat = listing.default;
    catalog.sampleRate = listing.sample_rate;
    for (const info of listing.formats) {
      catalog.formats.set(info.id, info);
      const option = document.createElement("option");
      option.value = info.id;
      option.textContent = info.id;
      option.title = info.description;
      ui.format.append(option);
    }
    if (wanted && catalog.formats.has(wanted)) ui.format.value = wanted;
  } catch (error) {
    ui.formatHint.textContent = `Could not load the formats (${error.message}); reload the page.`;
  }
}

export async function loadVoices(wanted) {
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
