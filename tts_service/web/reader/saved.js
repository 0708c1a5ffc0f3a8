/* Resume after a reload: the text, the position (paragraph and word within it), the voice and
 * the speed, kept in localStorage. */

const KEY = "tts-service.reader";

export function loadSaved() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    return saved && typeof saved.text === "string" ? saved : null;
  } catch (_) {
    return null;
  }
}

export function save(state) {
  try {
    localStorage.setItem(KEY, JSON.stringify(state));
  } catch (_) {
    /* storage full or refused: resuming is a convenience */
  }
}

/** The saved position as a global word index of `article` (0 when it no longer exists). */
export function savedWord(article, saved) {
  const paragraph = article.paragraphs[saved.paragraph];
  if (!paragraph) return 0;
  return paragraph.firstWord + Math.min(Math.max(saved.word || 0, 0), paragraph.words.length - 1);
}
