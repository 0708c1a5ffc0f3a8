/* The reader's download panel: render the article (progress bar, Cancel) into one MP3 with
 * chapters and offer it with the article's captions; the captions of the part playing. */

import { catalog } from "../player/state.js";
import { fetchCaptions, renderMp3 } from "./export.js";

const CAPTION_TYPES = { vtt: "text/vtt", srt: "application/x-subrip" };

export class DownloadPanel {
  /** page: article() (null when there is none), options() ({ limit, voice, speed, apiKey }),
   * currentPart(), report(render) (the record tests read), status, showError, clock. */
  constructor(ui, page) {
    Object.assign(this, { ui, page, controller: null, urls: [] });
    ui.render.addEventListener("click", () => this.render());
    ui.cancelRender.addEventListener("click", () => this.controller && this.controller.abort());
    ui.partCaptions.addEventListener("click", () => this.partCaptions());
  }

  link(element, blob) {
    const url = URL.createObjectURL(blob);
    this.urls.push(url);
    element.href = url;
    element.hidden = false;
  }

  async render() {
    const { ui, page } = this;
    const article = page.article();
    if (!article) return;
    for (const url of this.urls.splice(0)) URL.revokeObjectURL(url);
    for (const element of [ui.mp3, ui.vtt, ui.srt]) element.hidden = true;
    this.controller = new AbortController();
    ui.render.disabled = true;
    ui.cancelRender.hidden = false;
    ui.renderProgress.hidden = false;
    ui.renderProgress.value = 0;
    ui.renderStatus.textContent = "Rendering…";
    page.report({ state: "rendering" });
    const options = page.options();
    try {
      const result = await renderMp3({
        article, ...options, signal: this.controller.signal, sampleRate: catalog.sampleRate,
        onProgress: (done, total) => {
          ui.renderProgress.value = done / total;
          ui.renderStatus.textContent = `Rendered ${done} of ${total} parts.`;
        },
      });
      this.link(ui.mp3, result.blob);
      const record = { state: "done", chapters: result.chapters, duration: result.duration, words: result.words.length };
      let message = `Done: ${page.clock(result.duration)} in ${result.chapters.length} chapters.`;
      for (const [format, element] of [["vtt", ui.vtt], ["srt", ui.srt]]) {
        const text = result.words.length ? await fetchCaptions(result.words, format, options.apiKey) : null;
        if (text === null) {
          message += result.words.length ? " This server has no captions endpoint." : " No word timings: no captions.";
          record.captions = "unavailable";
          break;
        }
        this.link(element, new Blob([text], { type: CAPTION_TYPES[format] }));
        record.captions = "done";
      }
      page.report(record);
      ui.renderStatus.textContent = message;
    } catch (error) {
      const cancelled = this.controller.signal.aborted;
      page.report({ state: cancelled ? "cancelled" : "error" });
      ui.renderStatus.textContent = cancelled ? "Cancelled." : `Failed: ${error.message}`;
    } finally {
      ui.render.disabled = false;
      ui.cancelRender.hidden = true;
      ui.renderProgress.hidden = true;
    }
  }

  async partCaptions() {
    const part = this.page.currentPart();
    if (!part || !part.words.length) return;
    try {
      const words = part.words.map(({ word, start, end }) => ({ word, start, end }));
      const text = await fetchCaptions(words, "vtt", this.page.options().apiKey);
      if (text === null) {
        this.page.status("This server has no captions endpoint.");
        return;
      }
      const anchor = document.createElement("a");
      anchor.href = URL.createObjectURL(new Blob([text], { type: CAPTION_TYPES.vtt }));
      anchor.download = "part.vtt";
      anchor.click();
      setTimeout(() => URL.revokeObjectURL(anchor.href), 10000);
    } catch (error) {
      this.page.showError(error);
    }
  }
}
