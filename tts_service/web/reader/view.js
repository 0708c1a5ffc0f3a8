/* The reading view: the article as chapters of paragraphs of word elements, the word being
 * spoken highlighted and kept in view until the reader scrolls away ("Back to the voice" then
 * brings it back), and the chapter list with the current chapter marked. */

export class ReadingView {
  constructor({ container, chapterList, backToVoice, onWordClick, onChapterClick }) {
    Object.assign(this, { container, chapterList, backToVoice });
    this.elements = [];
    this.current = null;
    this.following = true;
    this.autoScrollAt = 0;
    container.addEventListener("click", (event) => {
      const word = event.target.closest("[data-w]");
      if (word) onWordClick(Number(word.dataset.w));
    });
    container.addEventListener("keydown", (event) => {
      const word = event.target.closest("[data-w]");
      if (word && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        event.stopPropagation();
        onWordClick(Number(word.dataset.w));
      }
    });
    const leave = () => {
      if (performance.now() - this.autoScrollAt > 400 && this.current !== null) this.setFollowing(false);
    };
    window.addEventListener("wheel", leave, { passive: true });
    window.addEventListener("touchmove", leave, { passive: true });
    window.addEventListener("scroll", leave, { passive: true });
    backToVoice.addEventListener("click", () => {
      this.setFollowing(true);
      this.reveal(true);
    });
    this.onChapterClick = onChapterClick;
  }

  show(article) {
    this.container.textContent = "";
    this.elements = new Array(article.words.length);
    this.current = null;
    for (const [c, chapter] of article.chapters.entries()) {
      const section = document.createElement("section");
      section.className = "chapter";
      section.dataset.chapter = String(c);
      for (const index of chapter.paragraphs) {
        const paragraph = article.paragraphs[index];
        const block = document.createElement(paragraph.heading ? "h2" : "p");
        block.dataset.paragraph = String(index);
        paragraph.words.forEach((token, n) => {
          const span = document.createElement("span");
          span.className = "w";
          span.dataset.w = String(paragraph.firstWord + n);
          span.textContent = token.shown;
          this.elements[paragraph.firstWord + n] = span;
          if (n) block.append(" ");
          block.append(span);
        });
        section.append(block);
      }
      this.container.append(section);
    }
    this.chapterList.textContent = "";
    for (const [c, chapter] of article.chapters.entries()) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.dataset.chapter = String(c);
      button.textContent = chapter.title || "(untitled)";
      button.addEventListener("click", () => this.onChapterClick(c));
      item.append(button);
      this.chapterList.append(item);
    }
  }

  highlight(index, chapter) {
    if (this.current !== null && this.elements[this.current]) {
      this.elements[this.current].classList.remove("spoken");
      this.elements[this.current].removeAttribute("aria-current");
    }
    this.current = index;
    const element = this.elements[index];
    if (!element) return;
    element.classList.add("spoken");
    element.setAttribute("aria-current", "true");
    for (const button of this.chapterList.querySelectorAll("button")) {
      if (Number(button.dataset.chapter) === chapter) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    if (this.following) this.reveal(false);
  }

  /** Scroll the spoken word to the middle when it has left the middle half of the window. */
  reveal(always) {
    const element = this.elements[this.current];
    if (!element) return;
    const box = element.getBoundingClientRect();
    const height = window.innerHeight;
    if (always || box.top < height * 0.25 || box.bottom > height * 0.75) {
      this.autoScrollAt = performance.now();
      element.scrollIntoView({ block: "center", behavior: "instant" });
    }
  }

  setFollowing(following) {
    this.following = following;
    this.backToVoice.hidden = following;
  }
}
