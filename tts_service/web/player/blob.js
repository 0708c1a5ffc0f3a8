/* Path 3, Blob: the last resort; download everything, then play it through audio.src. */

import { resetElement, setElementSource, startElement } from "./element.js";
import { audioBlob, setState } from "./state.js";

export class BlobPlayer {
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
