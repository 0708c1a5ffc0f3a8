/* Path 3, Blob: the last resort; download everything, then play it through audio.src. */

import { elementPlayed, resetElement, setElementSource, startElement } from "./element.js";
import { audioBlob, player, setState } from "./state.js";

export class BlobPlayer {
  constructor(run) {
    this.run = run;
    this.heardAtStop = null;
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

  /** Known once the whole file is here and the browser has read its duration. */
  secondsPerByte() {
    return !player.streaming && player.audioSeconds && player.bytes ? player.audioSeconds / player.bytes : null;
  }

  playedSeconds() {
    return this.heardAtStop != null ? this.heardAtStop : elementPlayed();
  }

  stop() {
    this.heardAtStop = elementPlayed(); // what was heard, before the element is emptied
    resetElement();
  }
}
