/* The audio element, played by the MSE and Blob paths and given the Web Audio path's recording
 * once it has been heard. */

import { current, failRun, showError, ui } from "./state.js";

export function startElement(run) {
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

export function setElementSource(url) {
  if (elementUrl) URL.revokeObjectURL(elementUrl);
  elementUrl = url;
  ui.audio.src = url;
}

export function resetElement() {
  ui.audio.pause();
  if (elementUrl) URL.revokeObjectURL(elementUrl);
  elementUrl = null;
  if (ui.audio.hasAttribute("src")) {
    ui.audio.removeAttribute("src");
    ui.audio.load();
  }
}

/** Seconds of audio the element has played, or null when it has nothing to play. */
export function elementPlayed() {
  return ui.audio.getAttribute("src") ? ui.audio.currentTime : null;
}
